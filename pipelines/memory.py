"""The run's memory: what the garbage collector walks, and handing freed memory back.

Python's cyclic garbage collector stops every thread while it walks. A full collection walks
every object it tracks, the hundreds of thousands that imported modules (dlt, pyarrow, DuckDB,
httpx) hold for the life of the process included, and by default comes after every ten
collections of the middle generation, which a backfill's pages (kept alive for a moment in the
read-ahead queues, then promoted) reach about once a second: at 100,000 orders, ten full
collections of 0.1 s and 1.7-2.7 s of collection in all. `collecting_for_a_run` sets the
objects that existed before the run aside (`gc.freeze`) and makes full collections ten times
rarer for the run's length: 0.6-1.4 s in all, measured in the same minutes, peak RSS
unchanged (benchmarks/RESULTS.md, sixth pass).
Both are undone afterwards. Almost nothing the extract makes is cyclic (JSON values, Arrow
buffers), so rarer full collections free the same memory, a little later.

Handing the extract's freed memory back to the system before the load:

The extract builds and drops Arrow tables and Python objects batch after batch; what it frees
stays in Arrow's memory pool and in glibc's free lists, still resident. The load then adds
DuckDB's buffer pool on top, so the run's peak was the extract's high-water mark plus the
load's. Measured at 100,000 orders (benchmarks/RESULTS.md): peak RSS 405 MB without this,
366–369 MB with it, the load no slower.

A full garbage collection frees the extract's reference cycles, which add up in a large
backfill (1,000,000 orders: 360 MB peak with it, 382 MB without) and hardly in a nightly
increment, so it runs only after a large extract. Within `collecting_for_a_run` it walks
only the run's objects (0.02 s at 100,000 orders; 0.08–0.10 s when it walked the imports'
objects too).
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager

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


# full collections come after this many middle-generation ones during a run (Python: 10)
FULL_COLLECTION_EVERY = 100


@contextmanager
def collecting_for_a_run() -> Iterator[None]:
    """Within the block the garbage collector ignores the objects that existed before it and
    collects the oldest generation `FULL_COLLECTION_EVERY` times less often than the
    middle one; afterwards both are as they were, so garbage among the older objects is
    still collected. A process that froze objects itself (a forking server) keeps its own
    freeze: unfreezing would undo it."""
    thresholds = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], FULL_COLLECTION_EVERY))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freeze:
            gc.unfreeze()
