"""Handing the extract's freed memory back to the system before the load.

The extract builds and drops Arrow tables and Python objects batch after batch; what it frees
stays in Arrow's memory pool and in glibc's free lists, still resident. The load then adds
DuckDB's buffer pool on top, so the run's peak was the extract's high-water mark plus the
load's. Measured at 100,000 orders (benchmarks/RESULTS.md): peak RSS 405 MB without this,
366–369 MB with it, the load no slower.

A full garbage collection walks every object of the process (dlt's and the imports' too):
0.08–0.10 s whatever the run's size. It frees the extract's reference cycles, which add up
in a large backfill (1,000,000 orders: 360 MB peak with it, 382 MB without) and hardly in a
nightly increment, so it runs only after a large extract.
"""

from __future__ import annotations

import ctypes
import gc

import pyarrow

# orders read by the extract from which a full garbage collection is worth its 0.1 s
COLLECT_FROM_ORDERS = 50_000


def return_freed_memory(orders_read: int) -> None:
    """Releases Arrow's unused pool memory and glibc's free pages; collects garbage first
    when the extract read at least COLLECT_FROM_ORDERS orders."""
    if orders_read >= COLLECT_FROM_ORDERS:
        gc.collect()
    pyarrow.default_memory_pool().release_unused()
    # the process's own symbols: glibc has malloc_trim, musl and macOS do not
    malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)
