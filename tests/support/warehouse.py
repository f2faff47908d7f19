"""Compares what the loader wrote with the sandbox's own records, row by row."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

ORDER_COLUMNS = (
    "idempotency_key",
    "type",
    "status",
    "currency",
    "offset_cost",
    "commission",
    "total_cost",
    "quantity",
    "requested_quantity",
    "requested_value",
    "estimate_id",
    "payment_method",
    "created_at",
    "certificate",
    "public_certificate_url",
    "metadata",
    "offset_link_id",
    "email",
)
DECIMALS = {
    "offset_cost",
    "commission",
    "total_cost",
    "quantity",
    "requested_quantity",
    "requested_value",
    "unit_price",
    "gross_unit_price",
}
BUNDLE_COLUMNS = (
    "bundle_id",
    "bundle_name",
    "quantity",
    "unit_price",
    "gross_unit_price",
    "offset_cost",
    "insufficient_available_quantity",
)
PROJECT_COLUMNS = (
    "project_id",
    "project_name",
    "project_type",
    "project_slug",
    "quantity",
    "unit_price",
    "offset_cost",
    "status",
)


def _value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in DECIMALS:
        return Decimal(str(value)).normalize()
    if column == "created_at":
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed.timestamp()
    if column == "metadata":
        return json.loads(value) if isinstance(value, str) else value
    return value


def expected_rows(world: Any, account_ids: Iterable[str] | None = None) -> dict[str, dict]:
    """The three order tables as the sandbox says they should be, keyed by natural keys."""
    orders: dict[tuple, tuple] = {}
    bundles: dict[tuple, tuple] = {}
    projects: dict[tuple, tuple] = {}
    for account_id in account_ids or world.account_ids():
        for order in world.orders(account_id):
            if not isinstance(order.get("id"), str) or "created_at" not in order:
                continue
            key = (account_id, order["id"])
            orders[key] = tuple(_value(c, order.get(c)) for c in ORDER_COLUMNS)
            for idx, line in enumerate(order.get("bundles") or []):
                bundles[(*key, idx)] = tuple(_value(c, line.get(c)) for c in BUNDLE_COLUMNS)
            for idx, line in enumerate(order.get("projects") or []):
                projects[(*key, idx)] = tuple(_value(c, line.get(c)) for c in PROJECT_COLUMNS)
    return {"orders": orders, "orders__bundles": bundles, "orders__projects": projects}


def actual_rows(cursor: Any, dataset: str) -> dict[str, dict]:
    """The same three tables as loaded, through any DB-API cursor (DuckDB, PostgreSQL)."""

    def fetch(table: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> dict:
        cursor.execute(f"select {', '.join(keys + columns)} from {dataset}.{table}")
        rows: dict[tuple, tuple] = {}
        for row in cursor.fetchall():
            key = tuple(row[: len(keys)])
            if key in rows:
                raise AssertionError(f"duplicate {table} row for {key}")
            rows[key] = tuple(_value(c, v) for c, v in zip(columns, row[len(keys) :], strict=True))
        return rows

    line_keys = ("account_id", "order_id", "line_idx")
    return {
        "orders": fetch("orders", ("account_id", "id"), ORDER_COLUMNS),
        "orders__bundles": fetch("orders__bundles", line_keys, BUNDLE_COLUMNS),
        "orders__projects": fetch("orders__projects", line_keys, PROJECT_COLUMNS),
    }


def differences(expected: dict[str, dict], actual: dict[str, dict], limit: int = 10) -> list[str]:
    """Missing, extra (stale / orphaned) and different rows, described; empty when equal."""
    problems: list[str] = []
    for table, want in expected.items():
        got = actual.get(table, {})
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        problems += [f"{table}: missing {k}" for k in missing[:limit]]
        problems += [f"{table}: extra (stale or orphaned) {k}" for k in extra[:limit]]
        problems += [f"{table}: {k} differs: want {want[k]} got {got[k]}" for k in changed[:limit]]
    return problems
