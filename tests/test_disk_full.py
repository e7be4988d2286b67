"""A full disk during ``qbrecon load`` gives a clear error and exit status 74, not 70 ("a bug")."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root to mount; skipped otherwise)."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
def test_load_onto_a_full_disk_says_so(small_disk, tmp_path):
    data = tmp_path / "procore"
    data.mkdir()
    vendors = [{"id": i, "name": f"Vendor number {i:07d} of a rather long list"} for i in range(1, 60_001)]
    (data / "vendors.json").write_text(json.dumps(vendors))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from qbrecon.cli import main; main()",
            "load",
            "-w",
            str(small_disk / "w.duckdb"),
            "--procore",
            str(data),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 74, (run.returncode, run.stderr[-500:])
    assert "disk is full" in run.stderr and "a bug" not in run.stderr
