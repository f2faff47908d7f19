"""Read-only access to the pipeline's own warehouse, whichever it is.

A DuckDB file is opened read-only with DuckDB's own driver: the report never writes, never
creates an empty file where the warehouse was expected, and works while nothing else holds
the file for writing. Any other destination (PostgreSQL) is read through the dlt
pipeline's sql_client, with the credentials dlt resolves for the pipeline. Either way the
report says where the figures came from (a file path, or host, port and database) and never
prints a credential.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .errors import ReportError

# a dataset name as dlt normalises it: the report quotes it, but accepts nothing else
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# as the runner caps DuckDB: a report reads a few views and needs far less than 80% of RAM
DUCKDB_CONFIG = {"memory_limit": "1GB"}


class Warehouse(Protocol):
    """What the report needs from a warehouse: rows of a query, and where it is."""

    location: str

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of `sql` (placeholders `%s`) as dicts keyed by column name."""
        ...

    def close(self) -> None: ...


def quoted(identifier: str) -> str:
    """`identifier` double-quoted, after checking it is a plain name (schemas come from
    settings, and a report must not run whatever a setting holds)."""
    if not _IDENTIFIER.match(identifier):
        raise ReportError(f"{identifier!r} is not a dataset name the report can read.")
    return f'"{identifier}"'


class DuckDBWarehouse:
    """A DuckDB file, opened read-only."""

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        if not self.path.is_file():
            raise ReportError(
                f"There is no warehouse at {self.path}: load it first (`lune-pipeline run`, "
                "or `lune-pipeline demo`)."
            )
        try:
            self._con = duckdb.connect(str(self.path), read_only=True, config=DUCKDB_CONFIG)
        except duckdb.Error as e:
            if "lock" in str(e).lower():
                raise ReportError(
                    f"The warehouse {self.path} is held for writing by another process (a run "
                    "in progress?); write the report when it has finished."
                ) from None
            raise ReportError(f"DuckDB could not open {self.path}: {_first_line(e)}") from None
        # DuckDB would draw a progress bar on the terminal for every view that takes seconds
        self._con.execute("set enable_progress_bar = false")
        self.location = f"DuckDB file {self.path.resolve()}"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._con.execute(sql.replace("%s", "?"), list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self._con.close()


class SqlClientWarehouse:
    """Any other dlt destination, through the pipeline's sql_client (PostgreSQL)."""

    def __init__(self, pipeline: Any) -> None:
        self._client = pipeline.sql_client()
        try:
            self._client.open_connection()
        except Exception as e:
            raise ReportError(
                f"Could not connect to the {pipeline.destination.destination_name} warehouse: "
                f"{_first_line(e)}"
            ) from None
        self.location = describe_destination(pipeline)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._client.execute_query(sql, *params) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self._client.close_connection()


def describe_destination(pipeline: Any) -> str:
    """Host, port and database of a server warehouse; never its user or password."""
    name = pipeline.destination.destination_name
    credentials = pipeline.destination_client().config.credentials
    host = getattr(credentials, "host", None)
    port = getattr(credentials, "port", None)
    database = getattr(credentials, "database", None)
    label = {"postgres": "PostgreSQL"}.get(name, name)
    where = f"{host}:{port}" if host and port else (host or "")
    return f"{label} {where}/{database}" if where else f"{label} database {database}"


def open_warehouse(pipeline: Any) -> Warehouse:
    """The warehouse `pipeline` loads into, opened for reading."""
    destination = pipeline.destination
    if destination is None:
        raise ReportError(f"Pipeline {pipeline.pipeline_name!r} has no destination to read.")
    if destination.destination_name == "duckdb":
        database = pipeline.destination_client().config.credentials.database
        if not isinstance(database, str) or not database or database.startswith(":"):
            raise ReportError(f"The report needs a DuckDB file; the pipeline has {database!r}.")
        return DuckDBWarehouse(database)
    return SqlClientWarehouse(pipeline)


def last_successful_load(warehouse: Warehouse, dataset: str) -> datetime | None:
    """When dlt last completed a load into `dataset` (`_dlt_loads`, status 0), in UTC."""
    exists = warehouse.rows(
        "select count(*) as n from information_schema.tables "
        "where table_schema = %s and table_name = '_dlt_loads'",
        [dataset],
    )
    if not exists[0]["n"]:
        return None
    found = warehouse.rows(
        f"select max(inserted_at) as at from {quoted(dataset)}._dlt_loads where status = 0"
    )
    return as_utc(found[0]["at"]) if found else None


def as_utc(value: Any) -> datetime | None:
    """A timestamp from either driver as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
