"""Handing the extract's freed memory back to the system before the load.

The extract builds and drops Arrow tables and Python objects batch after batch; what it frees
stays in Arrow's memory pool and in glibc's free lists, still resident. The load then adds
DuckDB's buffer pool on top, so the run's peak was the extract's high-water mark plus the
load's. Measured at 100,000 orders (benchmarks/RESULTS.md): peak RSS 405 MB without this,
366–369 MB with it, the load no slower.

No `gc.collect()`: the batches are freed by reference counting as they go, and a full
collection walks every object of the process (dlt's and the imports' too): 0.08–0.10 s per
run for 0–6 MB less peak at 100,000 orders.
"""

from __future__ import annotations

import ctypes

import pyarrow


def return_freed_memory() -> None:
    """Releases Arrow's unused pool memory and glibc's free pages."""
    pyarrow.default_memory_pool().release_unused()
    # the process's own symbols: glibc has malloc_trim, musl and macOS do not
    malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)
