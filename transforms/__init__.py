"""Builds the reporting views in the loaded dataset: seeds, then staging, intermediate and
reporting views (`sql/`, one model per file).

Everything runs through the pipeline's own dlt SQL client, in the dataset next to the loaded
tables. The rebuild is idempotent: seed tables and views are dropped and created again, inside
one transaction on DuckDB / MotherDuck / PostgreSQL (readers keep the old views until it
commits). Tables or columns a load has not written yet are stood in for by typed empty
relations (see `transforms.models`), so a run on an empty account leaves valid, empty views.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .contract import CONTRACT, create_table_sql, sql_type
from .models import (
    BUILT_TABLES,
    NATIVE_DIALECTS,
    SEED_NAMES,
    SQL_ROOT,
    Model,
    ModelError,
    load_models,
    normalize_dialect,
    render,
)

# Tables earlier versions created and this one no longer does: dropped on rebuild.
LEGACY_TABLES = ("seed_bundle_projects",)
# Lune metadata keys are free text; this keeps the key safe to splice into a JSON path.
_METADATA_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TransformError(Exception):
    """The views could not be built; the message names the model or setting at fault."""


def view_names(root: Path = SQL_ROOT) -> list[str]:
    """The views a build creates, in build order."""
    return [m.name for m in load_models(root)]


def build_views(pipeline: Any, *, customer_metadata_key: str = "customer_id") -> list[str]:
    """Creates or replaces seeds and views in `pipeline`'s dataset; returns the view names.

    `pipeline` is a `dlt.Pipeline` with a SQL destination; `customer_metadata_key` is the
    order metadata key `customer_overview` groups by.
    """
    with pipeline.sql_client() as client:
        return build_views_with_client(
            client,
            pipeline.destination.destination_name,
            pipeline.dataset_name,
            customer_metadata_key=customer_metadata_key,
        )


def build_views_with_client(
    client: Any,
    dialect: str | None = None,
    dataset: str | None = None,
    *,
    customer_metadata_key: str = "customer_id",
) -> list[str]:
    """The same on an open dlt SQL client: `dialect` is a dlt destination name ("duckdb",
    "postgres", "motherduck", "bigquery", "snowflake", …) and `dataset` the schema holding
    the loaded tables; both default to the client's own."""
    if not _METADATA_KEY.fullmatch(customer_metadata_key):
        raise TransformError(
            f"customer_metadata_key {customer_metadata_key!r} must be 1-64 letters, digits, "
            "'_' or '-'."
        )
    dialect = normalize_dialect(dialect or client.capabilities.sqlglot_dialect)
    scope = (
        client.with_alternative_dataset_name(dataset)
        if dataset and dataset != client.dataset_name
        else contextlib.nullcontext(client)
    )
    with scope:
        return _build(client, dialect, {"customer_metadata_key": customer_metadata_key})


def _build(client: Any, dialect: str, variables: dict[str, str]) -> list[str]:
    try:
        models = load_models()
    except ModelError as e:
        raise TransformError(str(e)) from e
    if not client.has_dataset():
        client.create_dataset()
    existing = _existing_columns(client)

    def qualify(name: str) -> str:
        return client.make_qualified_table_name(name)

    rendered: list[tuple[Model, str]] = []
    for model in models:  # render everything before touching the warehouse
        try:
            sql = render(
                model, dialect=dialect, qualify=qualify, existing=existing, variables=variables
            )
        except Exception as e:
            raise TransformError(f"Rendering {model.path.name} for {dialect} failed: {e}") from e
        rendered.append((model, sql))
    bundle_projects = _bundle_projects(client, existing)

    with _transaction(client, dialect):
        for model in reversed(models):  # dependents first
            _execute(client, f"drop view if exists {qualify(model.name)}", model.name)
        for table in (*BUILT_TABLES, *LEGACY_TABLES):
            _execute(client, f"drop table if exists {qualify(table)}", table)
        for seed in SEED_NAMES:
            header, rows = _seed_rows(seed)
            _create_and_fill(client, dialect, f"seed_{seed}", header, rows)
        _create_and_fill(
            client,
            dialect,
            "int_lune__bundle_projects",
            ["bundle_id", "project_id"],
            bundle_projects,
        )
        for model, sql in rendered:
            _execute(client, f"create view {qualify(model.name)} as\n{sql}", model.name)
    return [m.name for m in models]


@contextlib.contextmanager
def _transaction(client: Any, dialect: str) -> Iterator[None]:
    # BigQuery and Snowflake commit DDL on their own: no transaction to wrap it in.
    if dialect in NATIVE_DIALECTS:
        with client.begin_transaction():
            yield
    else:
        yield


def _execute(client: Any, sql: str, what: str, *params: Any) -> None:
    try:
        client.execute_sql(sql, *params)
    except Exception as e:
        raise TransformError(f"Building {what} failed: {e}") from e


def _existing_columns(client: Any) -> dict[str, set[str]]:
    """{loaded table: its column names}, lower-case, for the contract's tables that exist."""
    components = getattr(client, "_get_information_schema_components", None)
    qualify_info = getattr(client, "_qualify_info_schema_table_name", None)
    if components and qualify_info:
        catalog, schema, _ = components()
        sql = f"select table_name, column_name from {qualify_info('COLUMNS')} where "
        params: list[str] = []
        if catalog is not None:
            sql += "table_catalog = %s and "
            params.append(catalog)
        sql += "table_schema = %s"
        params.append(schema)
    else:
        sql = (
            "select table_name, column_name from information_schema.columns where table_schema = %s"
        )
        params = [client.dataset_name]
    found: dict[str, set[str]] = {}
    for table, column in client.execute_sql(sql, *params) or []:
        found.setdefault(str(table).lower(), set()).add(str(column).lower())
    return {t: c for t, c in found.items() if t in CONTRACT}


def _bundle_projects(client: Any, existing: dict[str, set[str]]) -> list[list[str]]:
    """(bundle_id, project_id) pairs from the catalogue's `project_ids` JSON arrays.

    Unpacked here rather than in SQL because every warehouse spells JSON array unnesting
    differently; the catalogue holds tens of bundles, so this is cheap.
    """
    if not {"id", "project_ids"} <= existing.get("bundles", set()):
        return []
    pairs: set[tuple[str, str]] = set()
    table = client.make_qualified_table_name("bundles")
    for bundle_id, project_ids in client.execute_sql(f"select id, project_ids from {table}"):
        if isinstance(project_ids, str | bytes):
            try:
                project_ids = json.loads(project_ids)
            except ValueError:
                project_ids = None  # not JSON: the bundle's lines fall back to the seed
        if bundle_id is None or not isinstance(project_ids, list):
            continue
        pairs.update((str(bundle_id), p) for p in project_ids if isinstance(p, str))
    return [list(p) for p in sorted(pairs)]


def _seed_rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(SQL_ROOT / "seeds" / f"{name}.csv", newline="") as handle:
        rows = [r for r in csv.reader(handle) if r and not r[0].startswith("#")]
    header, body = rows[0], rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TransformError(
                f"seed {name}.csv row {number}: {len(row)} fields, expected {len(header)}"
            )
    # empty CSV fields are unknown values, not empty strings
    return header, [[v.strip() or None for v in row] for row in body]


def _create_and_fill(
    client: Any, dialect: str, table: str, columns: list[str], rows: list[list[Any]]
) -> None:
    qualified = client.make_qualified_table_name(table)
    spec = ", ".join(f"{c} {sql_type('text', dialect)}" for c in columns)
    _execute(client, f"create table {qualified} ({spec})", table)
    # one multi-row insert per 500 rows: row-by-row DML is slow on the cloud warehouses
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        values = ", ".join("(" + ", ".join(["%s"] * len(columns)) + ")" for _ in chunk)
        params = [v for row in chunk for v in row]
        _execute(
            client,
            f"insert into {qualified} ({', '.join(columns)}) values {values}",
            table,
            *params,
        )


__all__ = [
    "CONTRACT",
    "TransformError",
    "build_views",
    "build_views_with_client",
    "create_table_sql",
    "view_names",
]
