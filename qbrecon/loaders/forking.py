"""Worker processes for the loaders' large inputs (Procore page folders, large qbXML response files): how many,
and the pool they run in -- one rule for both readers."""

from __future__ import annotations

import gc
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def worker_count() -> int:
    """One worker process per core this process may run on, none on a single core (the writer reads alone)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return n if n > 1 else 0


class ForkPool(ProcessPoolExecutor):
    """Worker processes forked from this one: they start at once with everything imported (they touch no database
    connection). The garbage collector is frozen from the pool's start to its shutdown, so the workers' collector
    never walks the objects they inherited -- collecting those copies crashed a worker now and then (segmentation
    faults in tests/test_ingest_parts.py) -- and the inherited pages stay shared."""

    def __init__(self, workers: int) -> None:
        gc.freeze()
        self._frozen = True
        super().__init__(workers, mp_context=multiprocessing.get_context("fork"))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        if self._frozen:
            self._frozen = False
            gc.unfreeze()
