"""The loaded tables the views read: docs/warehouse-tables.md as data.

Only the columns the views may read are listed (bookkeeping `_dlt_*` / `_lune_*` columns are
left out). `transforms` uses this to stand in for a table or column a load has not created yet
(an empty account, a column that never had a value), so the views are valid on any dataset.
Types are portable names; `sql_type` spells them for one dialect.
"""

from __future__ import annotations

DECIMAL = "decimal"
TEXT = "text"
TIMESTAMP = "timestamp"
BIGINT = "bigint"
BOOLEAN = "boolean"
JSON = "json"

CONTRACT: dict[str, dict[str, str]] = {
    "orders": {
        "account_id": TEXT,
        "id": TEXT,
        "idempotency_key": TEXT,
        "type": TEXT,
        "status": TEXT,
        "currency": TEXT,
        "offset_cost": DECIMAL,
        "commission": DECIMAL,
        "total_cost": DECIMAL,
        "quantity": DECIMAL,
        "requested_quantity": DECIMAL,
        "requested_value": DECIMAL,
        "estimate_id": TEXT,
        "payment_method": TEXT,
        "created_at": TIMESTAMP,
        "certificate": TEXT,
        "public_certificate_url": TEXT,
        "metadata": JSON,
        "offset_link_id": TEXT,
        "email": TEXT,
        "synced_at": TIMESTAMP,
    },
    "orders__bundles": {
        "account_id": TEXT,
        "order_id": TEXT,
        "line_idx": BIGINT,
        "bundle_id": TEXT,
        "bundle_name": TEXT,
        "quantity": DECIMAL,
        "unit_price": DECIMAL,
        "gross_unit_price": DECIMAL,
        "offset_cost": DECIMAL,
        "insufficient_available_quantity": BOOLEAN,
        "synced_at": TIMESTAMP,
    },
    "orders__projects": {
        "account_id": TEXT,
        "order_id": TEXT,
        "line_idx": BIGINT,
        "project_id": TEXT,
        "project_name": TEXT,
        "project_type": TEXT,
        "project_slug": TEXT,
        "quantity": DECIMAL,
        "unit_price": DECIMAL,
        "offset_cost": DECIMAL,
        "status": TEXT,
        "synced_at": TIMESTAMP,
    },
    "order_status_history": {
        "account_id": TEXT,
        "order_id": TEXT,
        "status": TEXT,
        "previous_status": TEXT,
        "observed_at": TIMESTAMP,
        "order_created_at": TIMESTAMP,
        "load_id": TEXT,
    },
    "client_accounts": {
        "id": TEXT,
        "name": TEXT,
        "currency": TEXT,
        "type": TEXT,
        "scope": TEXT,
        "handle": TEXT,
        "beneficiary": TEXT,
        "organisation_id": TEXT,
        "synced_at": TIMESTAMP,
    },
    "bundles": {
        "id": TEXT,
        "name": TEXT,
        "offset_type": TEXT,
        "carbon_permanence": TEXT,
        "approach": TEXT,
        "unit_price": DECIMAL,
        "gross_unit_price": DECIMAL,
        "currency": TEXT,
        "available_quantity": DECIMAL,
        "disabled": BOOLEAN,
        "project_ids": JSON,
        "synced_at": TIMESTAMP,
    },
    "projects": {
        "id": TEXT,
        "name": TEXT,
        "slug": TEXT,
        "project_type": TEXT,
        "registry_name": TEXT,
        "registry_link": TEXT,
        "country_code": TEXT,
        "country_name": TEXT,
        "region": TEXT,
        "methodology": TEXT,
        "durability": TEXT,
        "verifying_body": TEXT,
        "crediting_start_date": TEXT,
        "crediting_end_date": TEXT,
        "registration_date": TEXT,
        "disabled": BOOLEAN,
        "un_sdg": JSON,
        "protocol": JSON,
        "additional_standards_met": JSON,
        "synced_at": TIMESTAMP,
    },
    "quarantined_records": {
        "account_id": TEXT,
        "endpoint": TEXT,
        "record_id": TEXT,
        "reason": TEXT,
        "payload": TEXT,
        "observed_at": TIMESTAMP,
        "load_id": TEXT,
    },
}

# DuckDB and PostgreSQL run the SQL as written; other warehouses get it transpiled from the
# PostgreSQL spelling by sqlglot, so "postgres" types are the fallback.
_TYPES: dict[str, dict[str, str]] = {
    "postgres": {
        DECIMAL: "numeric(38,9)",
        TEXT: "text",
        TIMESTAMP: "timestamptz",
        BIGINT: "bigint",
        BOOLEAN: "boolean",
        JSON: "jsonb",
    },
    "duckdb": {
        DECIMAL: "decimal(38,9)",
        TEXT: "text",
        TIMESTAMP: "timestamptz",
        BIGINT: "bigint",
        BOOLEAN: "boolean",
        JSON: "json",
    },
}


def sql_type(portable: str, dialect: str) -> str:
    """The column type `portable` spelled for `dialect` (PostgreSQL spelling by default)."""
    return _TYPES.get(dialect, _TYPES["postgres"])[portable]


def create_table_sql(table: str, qualified_name: str, dialect: str) -> str:
    """`create table` with the contract's columns (tests build fixtures with it)."""
    columns = ",\n    ".join(f"{c} {sql_type(t, dialect)}" for c, t in CONTRACT[table].items())
    return f"create table {qualified_name} (\n    {columns}\n)"
