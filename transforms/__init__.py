"""Builds the reporting views in the loaded dataset: seeds, then staging, then reporting.

The SQL lives in `sql/` (one model per file, `{dataset}` standing for the schema); this module
only orders and applies it, through the pipeline's own dlt SQL client, so the same files run
on DuckDB, PostgreSQL and the other warehouses dlt supports. Rebuilding is idempotent: views
are dropped and created again in one transaction. Tables a run has not created yet (an empty
account never writes `orders__projects`) are created empty with the loader's contract
columns, so the views are always valid.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"

STAGING = (
    "stg_lune__orders",
    "stg_lune__order_bundles",
    "stg_lune__order_projects",
    "stg_lune__order_status_history",
    "stg_lune__bundles",
    "stg_lune__projects",
    "stg_lune__client_accounts",
)
# in dependency order
REPORTING = (
    "credit_lines",
    "order_details",
    "open_commitments",
    "retirements_monthly",
    "esrs_e1_7_summary",
    "portfolio_mix",
    "certificate_register",
    "customer_overview",
    "data_quality_issues",
)
SEEDS = ("project_type_mechanisms", "eu_member_states")

_D = "numeric(38,9)"
_T = "timestamptz"
# The loaded tables the views read (docs/warehouse-tables.md), for creating missing ones empty.
CONTRACT: dict[str, dict[str, str]] = {
    "orders": {
        "account_id": "text",
        "id": "text",
        "idempotency_key": "text",
        "type": "text",
        "status": "text",
        "currency": "text",
        "offset_cost": _D,
        "commission": _D,
        "total_cost": _D,
        "quantity": _D,
        "requested_quantity": _D,
        "requested_value": _D,
        "estimate_id": "text",
        "payment_method": "text",
        "created_at": _T,
        "certificate": "text",
        "public_certificate_url": "text",
        "metadata": "json",
        "offset_link_id": "text",
        "email": "text",
        "synced_at": _T,
    },
    "orders__bundles": {
        "account_id": "text",
        "order_id": "text",
        "line_idx": "bigint",
        "bundle_id": "text",
        "bundle_name": "text",
        "quantity": _D,
        "unit_price": _D,
        "gross_unit_price": _D,
        "offset_cost": _D,
        "insufficient_available_quantity": "boolean",
        "synced_at": _T,
    },
    "orders__projects": {
        "account_id": "text",
        "order_id": "text",
        "line_idx": "bigint",
        "project_id": "text",
        "project_name": "text",
        "project_type": "text",
        "project_slug": "text",
        "quantity": _D,
        "unit_price": _D,
        "offset_cost": _D,
        "status": "text",
        "synced_at": _T,
    },
    "order_status_history": {
        "account_id": "text",
        "order_id": "text",
        "status": "text",
        "previous_status": "text",
        "observed_at": _T,
        "order_created_at": _T,
        "load_id": "text",
    },
    "client_accounts": {
        "id": "text",
        "name": "text",
        "currency": "text",
        "type": "text",
        "scope": "text",
        "synced_at": _T,
    },
    "bundles": {
        "id": "text",
        "name": "text",
        "offset_type": "text",
        "carbon_permanence": "text",
        "approach": "text",
        "disabled": "boolean",
        "project_ids": "json",
        "synced_at": _T,
    },
    "projects": {
        "id": "text",
        "name": "text",
        "project_type": "text",
        "registry_name": "text",
        "registry_link": "text",
        "country_code": "text",
        "country_name": "text",
        "region": "text",
        "methodology": "text",
        "durability": "text",
        "disabled": "boolean",
        "synced_at": _T,
    },
    "quarantined_records": {
        "account_id": "text",
        "endpoint": "text",
        "record_id": "text",
        "reason": "text",
        "payload": "text",
        "observed_at": _T,
        "load_id": "text",
    },
}

_METADATA_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class TransformError(Exception):
    """The views could not be built; the message names the model."""


def model_sql(name: str, dataset: str, customer_key: str) -> str:
    layer = "staging" if name.startswith("stg_") else "reporting"
    text = (SQL_ROOT / layer / f"{name}.sql").read_text()
    return text.replace("{dataset}", dataset).replace("{customer_key}", customer_key)


def _seed_rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(SQL_ROOT / "seeds" / f"{name}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def build_views(pipeline: Any, *, customer_metadata_key: str = "customer_id") -> list[str]:
    """Creates or replaces seeds and views in `pipeline`'s dataset; returns the view names."""
    with pipeline.sql_client() as client:
        return build_views_with_client(client, customer_metadata_key=customer_metadata_key)


def build_views_with_client(
    client: Any, *, customer_metadata_key: str = "customer_id"
) -> list[str]:
    """The same on an open dlt SQL client (its dataset is where the tables are)."""
    if not _METADATA_KEY.fullmatch(customer_metadata_key):
        raise TransformError(
            f"customer_metadata_key {customer_metadata_key!r} must be 1-64 letters, digits, "
            "'_', '.' or '-'."
        )
    dataset = client.fully_qualified_dataset_name()
    if not client.has_dataset():
        client.create_dataset()
    existing = {
        row[0]
        for row in client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s",
            client.dataset_name,
        )
    }
    views = [*STAGING, *REPORTING]
    with client.begin_transaction():
        for name in reversed(views):
            client.execute_sql(f"drop view if exists {dataset}.{name}")
        for table, columns in CONTRACT.items():
            if table not in existing:
                spec = ", ".join(f"{c} {t}" for c, t in columns.items())
                client.execute_sql(f"create table {dataset}.{table} ({spec})")
        _load_seeds(client, dataset)
        for name in views:
            try:
                client.execute_sql(
                    f"create view {dataset}.{name} as\n"
                    + model_sql(name, dataset, customer_metadata_key)
                )
            except Exception as e:
                raise TransformError(f"Building view {name} failed: {e}") from e
    return list(views)


def _load_seeds(client: Any, dataset: str) -> None:
    for seed in SEEDS:
        header, rows = _seed_rows(seed)
        table = f"{dataset}.seed_{seed}"
        client.execute_sql(f"drop table if exists {table}")
        client.execute_sql(f"create table {table} ({', '.join(f'{c} text' for c in header)})")
        _insert(client, table, header, rows)
    # which projects each bundle holds, from the catalogue's project_ids (JSON differs per
    # warehouse, so it is unpacked here rather than in SQL)
    table = f"{dataset}.seed_bundle_projects"
    client.execute_sql(f"drop table if exists {table}")
    client.execute_sql(f"create table {table} (bundle_id text, project_id text)")
    pairs = []
    for bundle_id, project_ids in client.execute_sql(
        f"select id, project_ids from {dataset}.bundles"
    ):
        ids = json.loads(project_ids) if isinstance(project_ids, str) else project_ids or []
        pairs.extend([bundle_id, p] for p in ids)
    _insert(client, table, ["bundle_id", "project_id"], pairs)


def _insert(client: Any, table: str, columns: list[str], rows: list[list[str]]) -> None:
    if not rows:
        return
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"insert into {table} ({', '.join(columns)}) values ({placeholders})"
    for row in rows:
        client.execute_sql(sql, *row)


__all__ = ["REPORTING", "STAGING", "TransformError", "build_views", "build_views_with_client"]
