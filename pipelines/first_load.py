"""The first backfill appended, not merged, and made safe against a kill: the repair.

Every order table is merged (delete-insert on its key), so that loading a changed order again
replaces its rows. On a first backfill there is nothing to replace, and the merge costs the
most: every row goes through a staging table, then a window over the whole staging table
de-duplicates on the key before the insert (of a 1,000,000-order backfill, the merge took
more than half the load and most of its memory). So when the order tables are empty at
extract time, the source appends (`append_first_load`, see `sources/lune/__init__.py`).

Why that is as exact as the merge:
- The tables are empty when the package is extracted, and no other package is pending (the
  runner loads a killed run's packages before it extracts, and the source checks), so only
  this package's jobs write into them until it is loaded.
- Within the package every key is written once: the sync emits each order once per run
  (it drops a second listing), each line once per order, each first status once per order;
  tombstone rows (delete markers of the merge) are not written.
- So a row can only be doubled by a job run twice. dlt runs a job again only when it finds it
  started but without a record of its outcome: the process was killed between the job's
  commit in the warehouse and dlt writing its "completed" marker (dlt 1.31 writes that
  marker right after the commit; a job that failed did not commit: DuckDB's load job is one
  INSERT statement). `repair_resumed_jobs` runs before such a package is loaded again and
  deletes, from each appended table, the rows whose keys are in a started job's own file:
  whether or not that job committed, it then runs once more into a table without its rows.

DuckDB only: it reads the job's parquet file in the DELETE. Other warehouses merge as before.
"""

from __future__ import annotations

import logging
import os

import dlt
from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.destinations.exceptions import DatabaseUndefinedRelation

log = logging.getLogger("lune.pipeline")

# the key of each table the source may append to on a first backfill
APPENDED_TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("account_id", "id"),
    "orders__bundles": ("account_id", "order_id", "line_idx"),
    "orders__projects": ("account_id", "order_id", "line_idx"),
    "order_status_history": ("account_id", "order_id", "status"),
}


def repair_resumed_jobs(pipeline: dlt.Pipeline) -> int:
    """Deletes the rows an interrupted append job of a pending package may have committed,
    so that dlt's rerun of the job writes them once. Returns the rows deleted."""
    if pipeline.destination is None or pipeline.destination.destination_name != "duckdb":
        return 0
    packages = pipeline._get_load_storage().normalized_packages
    deleted = 0
    for load_id in pipeline.list_normalized_load_packages():
        tables = packages.load_schema(load_id).tables
        for job_path in packages.list_started_jobs(load_id):
            name = os.path.basename(job_path)
            job = ParsedLoadJobFileName.parse(name)
            keys = APPENDED_TABLE_KEYS.get(job.table_name)
            table = tables.get(job.table_name) or {}
            if keys is None or table.get("write_disposition") != "append":
                continue
            if packages.load_pending_transition(load_id, name) is not None:
                continue  # dlt knows the job's outcome and will not run it again
            if job.file_format != "parquet":
                raise RuntimeError(f"cannot repair the {job.file_format} load job {name}")
            deleted += _delete_keys_of(
                pipeline, job.table_name, keys, packages.storage.make_full_path(job_path)
            )
    return deleted


def _delete_keys_of(
    pipeline: dlt.Pipeline, table_name: str, keys: tuple[str, ...], file_path: str
) -> int:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(table_name)
        match = " AND ".join(f"d.{k} = s.{k}" for k in keys)
        source = "read_parquet(" + _literal(file_path) + ")"
        try:
            rows = client.execute_sql(
                f"DELETE FROM {table} AS d WHERE EXISTS "
                f"(SELECT 1 FROM {source} AS s WHERE {match}) RETURNING 1"
            )
        except DatabaseUndefinedRelation:
            return 0  # the table was never created: the job cannot have written to it
    count = len(rows or [])
    if count:
        log.warning(
            "removed %d row(s) of %s that an interrupted load job had written; it runs again",
            count,
            table_name,
        )
    return count


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
