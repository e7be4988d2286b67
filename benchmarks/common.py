"""Measurement helpers shared by the benchmark modules: wall time and peak resident memory of a callable."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


class PeakRSS:
    """Samples this process's resident set size in a background thread; ``peak_mb`` after the block."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process(os.getpid())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

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
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.start_rss) / 2**20, 1)


def measure(fn: Callable[[], Any], repeat: int = 1) -> dict:
    """Best-of-``repeat`` wall time (seconds) and the peak RSS seen while running, plus fn's last result."""
    best = float("inf")
    result = None
    # The benchmark's own inputs (millions of objects) must not make the contender's garbage collections
    # slower: freeze what exists now, so the collector only scans what the contender makes.
    gc.collect()
    gc.freeze()
    try:
        with PeakRSS() as mem:
            for _ in range(repeat):
                t0 = time.perf_counter()
                result = fn()
                best = min(best, time.perf_counter() - t0)
    finally:
        gc.unfreeze()
    return {
        "seconds": round(best, 4),
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
            best["peak_rss_mb"] = max(best["peak_rss_mb"], m["peak_rss_mb"])
            best["rss_growth_mb"] = max(best["rss_growth_mb"], m["rss_growth_mb"])
    return out
