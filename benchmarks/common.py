"""Measurement helpers shared by the benchmark modules: wall time and peak resident memory of a callable."""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


class PeakRSS:
    """Samples the resident set size of this process and its children (worker processes count) in a background
    thread; ``peak_mb`` after the block."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process(os.getpid())

    def _rss(self) -> int:
        """This process's RSS, plus each child's proportional set size (PSS: pages a forked worker still shares
        with its parent count once, not twice), so the figure is the memory the tree really holds."""
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_full_info().pss
            except (psutil.Error, AttributeError):  # ended between listing and reading; no PSS on this OS
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.peak = max(self.peak, self._rss())
            # Reading a worker's PSS walks its page tables (~2-5 ms each): sampling every 10 ms took ~1.7 of the
            # 7 CPU-seconds of a 4 s load with two workers, in the measured process. At most a quarter of a core.
            self._stop.wait(max(self.interval, 3 * (time.perf_counter() - started)))

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.start_rss = self._proc.memory_info().rss
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.start_rss) / 2**20, 1)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn: Callable[[], Any], repeat: int = 1) -> dict:
    """Best-of-``repeat`` wall time (seconds) and the peak RSS seen while running, plus fn's last result."""
    best = best_cpu = float("inf")
    result = None
    # The benchmark's own inputs (millions of objects) must not make the contender's garbage collections
    # slower: freeze what exists now, so the collector only scans what the contender makes.
    gc.collect()
    gc.freeze()
    try:
        with PeakRSS() as mem:
            for _ in range(repeat):
                c0, t0 = _cpu(), time.perf_counter()
                result = fn()
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, _cpu() - c0)
    finally:
        gc.unfreeze()
    return {
        "seconds": round(best, 4),
        # user + system time of this process, all threads (DuckDB's too): what load on a shared machine
        # disturbs least (wall time there is mostly waiting for a core)
        "cpu_seconds": round(best_cpu, 4),
        "peak_rss_mb": mem.peak_mb,
        "rss_growth_mb": mem.growth_mb,
        "result": result,
    }


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator else None


def compare(
    contenders: dict[str, Callable[[], Any]],
    repeat: int = 1,
    once: tuple[str, ...] = (),
    warmup: bool = False,
) -> dict[str, dict]:
    """``measure`` each contender ``repeat`` times, interleaved (a, b, c, a, b, c ...), so that load from other
    processes on a shared machine falls on all of them alike; best time and largest peak per contender.
    Contenders named in ``once`` (slow baselines) run only in the first round. ``warmup``: one untimed call
    of each first (connections, caches, allocator pools), for the sub-second contenders."""
    if warmup:
        for fn in contenders.values():
            fn()
    out: dict[str, dict] = {}
    for round_ in range(repeat):
        for name, fn in contenders.items():
            if round_ and name in once:
                continue
            m = measure(fn)
            best = out.get(name)
            if best is None:
                out[name] = m
                continue
            best["seconds"] = min(best["seconds"], m["seconds"])
            best["cpu_seconds"] = min(best["cpu_seconds"], m["cpu_seconds"])
            best["peak_rss_mb"] = max(best["peak_rss_mb"], m["peak_rss_mb"])
            best["rss_growth_mb"] = max(best["rss_growth_mb"], m["rss_growth_mb"])
    return out


# -- contenders in processes of their own ---------------------------------------------------------------------------
def in_process(target: str, *args: Any, timeout: float = 3600) -> dict:
    """Run ``module:function(*args)`` once in a fresh Python process (its imports done before the clock starts)
    and return its seconds, peak RSS of its process tree (MB; worker processes included) and JSON result, so that
    one contender's memory never counts against another's."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "benchmarks.common", target, json.dumps(args, default=str)]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=here, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"{target} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_in_processes(contenders: dict[str, tuple], repeat: int = 1, once: tuple[str, ...] = ()) -> dict:
    """``in_process`` for each contender (``name -> (target, *args)``), interleaved over ``repeat`` rounds;
    best time and largest peak per contender."""
    out: dict[str, dict] = {}
    for round_ in range(repeat):
        for name, (target, *args) in contenders.items():
            if round_ and name in once:
                continue
            m = in_process(target, *args)
            best = out.get(name)
            if best is None:
                out[name] = m
            else:
                best["seconds"] = min(best["seconds"], m["seconds"])
                best["peak_rss_mb"] = max(best["peak_rss_mb"], m["peak_rss_mb"])
    return out


def _child_main(target: str, args_json: str) -> None:
    import importlib
    import json
    import resource

    module, func = target.split(":")
    fn = getattr(importlib.import_module(module), func)
    prepare = getattr(importlib.import_module(module), "prepare", None)
    if prepare is not None:
        prepare(func)  # imports and set-up outside the timing
    args = json.loads(args_json)
    gc.collect()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = fn(*args)
        seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "peak_rss_mb": mem.peak_mb,
                "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "children_max_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
                ),
                "result": result,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    import sys

    _child_main(sys.argv[1], sys.argv[2])
