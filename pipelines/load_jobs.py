"""How a run's files are cut and loaded, so that neither grows with the account.

- The extract writes each table's parquet file as its batches come; the file's footer (one
  entry per row group and column) stays in memory until the file is closed: about 5 MB of
  the four order tables' per 1,000,000 orders in one file each. `apply_writer_defaults`
  starts a new file every FILE_MAX_BYTES, so the footers held at once stay small.
- dlt loads a package's jobs 20 at a time. Into DuckDB, jobs at once share one buffer pool
  (128 MB by default, `runner.DUCKDB_GLOBAL_CONFIG`); once the package is larger than that
  they evict each other's pages: a 1,000,000-order backfill loaded in 4.9 s with a peak of
  +205 MB at once, in 4.2 s and +179 MB one job at a time (2,000,000: 9.5 s and +209 MB
  against 7.8 s and +182 MB), while at 100,000 orders (36 MB of files) jobs at once are
  faster (1.00 s against 1.18 s). `load_workers` says one at a time above ONE_AT_A_TIME_BYTES
  (benchmarks/RESULTS.md, issue 14, ninth pass).

A value the user configured (`data_writer.file_max_bytes`, `load.workers`) is left as it is.
"""

from __future__ import annotations

import os
from typing import Any

import dlt

# a new parquet file per table after this many bytes (a 1,000,000-order backfill: 8 files)
FILE_MAX_BYTES = 64 * 1024 * 1024
# a package larger than this is loaded into DuckDB one job at a time (its buffer pool)
ONE_AT_A_TIME_BYTES = 128 * 1024 * 1024
_FILE_MAX_BYTES_KEY = "data_writer.file_max_bytes"
_LOAD_WORKERS_KEY = "load.workers"


def apply_writer_defaults() -> None:
    """Sets FILE_MAX_BYTES unless the user configured `data_writer.file_max_bytes`."""
    if dlt.config.get(_FILE_MAX_BYTES_KEY) is None:
        dlt.config[_FILE_MAX_BYTES_KEY] = FILE_MAX_BYTES


def load(pipeline: dlt.Pipeline) -> Any:
    """`pipeline.load()`, one job at a time where `load_workers` says so."""
    workers = load_workers(pipeline)
    return pipeline.load(workers=workers) if workers else pipeline.load()


def load_workers(pipeline: dlt.Pipeline) -> int | None:
    """1 when the pipeline's destination is DuckDB and the packages waiting to be loaded
    hold more than ONE_AT_A_TIME_BYTES of files; None (dlt's own setting) otherwise, or
    when the user configured `load.workers`."""
    if dlt.config.get(_LOAD_WORKERS_KEY) is not None:
        return None
    if pipeline.destination is None or pipeline.destination.destination_name != "duckdb":
        return None
    return 1 if pending_bytes(pipeline) > ONE_AT_A_TIME_BYTES else None


def pending_bytes(pipeline: dlt.Pipeline) -> int:
    """The size of the files of the jobs the normalized packages have not loaded yet."""
    packages = pipeline._get_load_storage().normalized_packages
    total = 0
    for load_id in pipeline.list_normalized_load_packages():
        for job_path in packages.list_new_jobs(load_id):
            total += os.path.getsize(packages.storage.make_full_path(job_path))
    return total
