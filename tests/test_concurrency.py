"""Two processes deciding on the same workspace file at once lose no decision and corrupt nothing.

DuckDB lets one process hold a file at a time, so each worker opens the workspace per decision, retrying on
``WorkspaceLocked`` (the store itself already waits ``busy_timeout`` seconds for the holder to finish).
"""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from test_erp_queue import build_world, put

from qbrecon import Workspace
from qbrecon.errors import BatchRejected, WorkspaceLocked

OWN = 8  # items each worker decides alone
SHARED = 6  # items both workers race for (one accepts, the other rejects)


def _open(path: str) -> Workspace:
    deadline = time.monotonic() + 60
    while True:
        try:
            return Workspace(path, busy_timeout=5)
        except WorkspaceLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _worker(path: str, action: str, ids: list[int], results) -> None:
    won, lost = [], []
    for pid in ids:
        ws = _open(path)
        try:
            if action == "accept":
                ws.accept([pid], item_type="company", by="ann")
            else:
                ws.reject([pid], item_type="company", by="adam", reason=f"worker reject {pid}")
            won.append(pid)
        except BatchRejected:
            lost.append(pid)
        finally:
            ws.close()
    results.put((action, won, lost))


@pytest.mark.slow
def test_two_processes_deciding_at_once(tmp_path):
    path = str(tmp_path / "shared.duckdb")
    ws = Workspace(path)
    build_world(ws)
    total = 2 * OWN + SHARED
    put(ws, "companies", [dict(id=1000 + i, name=f"Vendor {i}", is_active=True) for i in range(total)])
    ws.refresh_queue()
    ws.send([1000 + i for i in range(total)], item_type="company", by="pat")
    audit_before = len(ws.audit())
    ws.close()

    a_ids = [1000 + i for i in range(OWN)] + [1000 + 2 * OWN + i for i in range(SHARED)]
    b_ids = [1000 + OWN + i for i in range(OWN)] + [1000 + 2 * OWN + i for i in reversed(range(SHARED))]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(path, "accept", a_ids, results)),
        ctx.Process(target=_worker, args=(path, "reject", b_ids, results)),
    ]
    for p in procs:
        p.start()
    outcome = {}
    for _ in procs:
        action, won, lost = results.get(timeout=240)
        outcome[action] = (won, lost)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    accepted, rejected = set(outcome["accept"][0]), set(outcome["reject"][0])
    assert not accepted & rejected
    assert accepted | rejected == {1000 + i for i in range(total)}  # every item decided exactly once
    assert set(outcome["accept"][1]) | set(outcome["reject"][1]) == {
        1000 + 2 * OWN + i for i in range(SHARED)
    }

    ws = Workspace(path)
    try:
        q = ws.queue(item_type="company").set_index("procore_id")
        assert {i for i in accepted if q.loc[i, "status"] == "exporting"} == accepted
        assert {i for i in rejected if q.loc[i, "status"] == "rejected"} == rejected
        log = ws.audit("company")
        decisions = log[log["action"].isin(["accept", "reject"])]
        assert len(decisions) == total and decisions["procore_id"].is_unique
        assert len(ws.audit()) == audit_before + total  # refused attempts wrote nothing
        assert len(ws.outbox()) == len(rejected)  # one notice per rejection, none for the losing attempts
        # the audit sequence stayed consistent across processes: ids are unique and increasing
        assert ws.audit()["audit_id"].is_unique and ws.audit()["audit_id"].is_monotonic_increasing
    finally:
        ws.close()


def test_locked_workspace_reports_the_holder(tmp_path):
    path = str(tmp_path / "held.duckdb")
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(WorkspaceLocked, match="busy"):
            Workspace(path, busy_timeout=0.2)
    finally:
        release.set()
        holder.join(timeout=60)


def _hold(path, ready, release) -> None:
    ws = Workspace(path)
    ready.set()
    release.wait(60)
    ws.close()
