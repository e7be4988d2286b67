"""The daily summary is automated (seeds 000/002): ``qbrecon serve`` queues and sends it itself, once per
accounting approver per day while anything is Ready to Export; no cron job, no ``qbrecon mail``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from test_notify import free_port, smtp_port, smtp_server, world  # noqa: F401  (fixtures)

SUBJECT = "ERP Integrations Daily Summary"


def summaries(server) -> list[str]:
    return sorted(r[0] for r, m in server.messages if m["Subject"] == SUBJECT)


def wait_for(predicate, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_qbrecon_serve_sends_the_daily_summary_itself(world, smtp_server):  # noqa: F811
    world.send([("company", 201)], by="pat")  # Ready to Export (with invoice 702 from the Procore data)
    path = str(world.path)
    world.close()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(__import__("qbrecon").__path__[0] + "/.."), os.environ.get("PYTHONPATH", "")]
        ),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from qbrecon.cli import main; main()",
            "serve",
            "-w",
            path,
            "--port",
            str(free_port()),
            "--no-dashboard",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: len(summaries(smtp_server)) >= 2), proc.stdout.peek() if proc.stdout else ""
        time.sleep(1.0)  # later checks the same day add nothing
        assert summaries(smtp_server) == ["adam@example.com", "ann@example.com"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_tick_is_once_per_approver_per_day_and_nothing_when_nothing_waits(world, smtp_server):  # noqa: F811
    from qbrecon.server import start_server

    world.store.execute("UPDATE erp_items SET status = 'synced' WHERE status = 'ready_to_export'")
    with start_server(world, daily_summary_every=0.1):
        time.sleep(1.0)
    assert summaries(smtp_server) == [] and world.outbox().empty  # nothing Ready to Export: no mail
    world.send([("company", 201)], by="pat")
    with start_server(world, daily_summary_every=0.1):
        assert wait_for(lambda: len(summaries(smtp_server)) >= 2)
        time.sleep(1.0)  # many more ticks the same day
    assert summaries(smtp_server) == ["adam@example.com", "ann@example.com"]
