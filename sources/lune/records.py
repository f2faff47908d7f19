"""Checks Lune order records against the API contract and turns pages into Arrow tables.

Building Arrow tables here (rather than yielding dicts) skips dlt's Python normalizer, which
dominated load time, and fixes every column's type up front: decimal strings become
DECIMAL(38, 9) exactly, `created_at` a UTC timestamp, `metadata` one JSON column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from .settings import (
    BUNDLE_LINE_DECIMAL_FIELDS,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    ORDER_DECIMAL_FIELDS,
    PROJECT_LINE_DECIMAL_FIELDS,
)

DECIMAL = pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
TIMESTAMP = pa.timestamp("us", tz="UTC")
# Lune's pattern, bounded so the value fits DECIMAL(38, 9) without losing a digit.
_DECIMAL_RE = re.compile(
    rf"[0-9]{{1,{DECIMAL_PRECISION - DECIMAL_SCALE}}}(\.[0-9]{{1,{DECIMAL_SCALE}}})?"
)

ORDERS_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        ("idempotency_key", pa.string()),
        ("type", pa.string()),
        ("status", pa.string()),
        ("currency", pa.string()),
        ("offset_cost", DECIMAL),
        ("commission", DECIMAL),
        ("total_cost", DECIMAL),
        ("quantity", DECIMAL),
        ("requested_quantity", DECIMAL),
        ("requested_value", DECIMAL),
        ("estimate_id", pa.string()),
        ("payment_method", pa.string()),
        pa.field("created_at", TIMESTAMP, nullable=False),
        ("certificate", pa.string()),
        ("public_certificate_url", pa.string()),
        ("metadata", pa.string()),
        ("offset_link_id", pa.string()),
        ("email", pa.string()),
        ("synced_at", TIMESTAMP),
    ]
)
BUNDLES_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_idx", pa.int64(), nullable=False),
        ("bundle_id", pa.string()),
        ("bundle_name", pa.string()),
        ("quantity", DECIMAL),
        ("unit_price", DECIMAL),
        ("gross_unit_price", DECIMAL),
        ("offset_cost", DECIMAL),
        ("insufficient_available_quantity", pa.bool_()),
        ("synced_at", TIMESTAMP),
        ("_lune_tombstone", pa.bool_()),
    ]
)
PROJECTS_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_idx", pa.int64(), nullable=False),
        ("project_id", pa.string()),
        ("project_name", pa.string()),
        ("project_type", pa.string()),
        ("project_slug", pa.string()),
        ("quantity", DECIMAL),
        ("unit_price", DECIMAL),
        ("offset_cost", DECIMAL),
        ("status", pa.string()),
        ("synced_at", TIMESTAMP),
        ("_lune_tombstone", pa.bool_()),
    ]
)
HISTORY_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        ("previous_status", pa.string()),
        ("observed_at", TIMESTAMP),
        ("order_created_at", TIMESTAMP),
        ("load_id", pa.string()),
    ]
)

_ORDER_TEXT_FIELDS = (
    "idempotency_key",
    "type",
    "status",
    "currency",
    "estimate_id",
    "payment_method",
    "certificate",
    "public_certificate_url",
    "offset_link_id",
    "email",
)
_BUNDLE_TEXT_FIELDS = ("bundle_id", "bundle_name")
_PROJECT_TEXT_FIELDS = ("project_id", "project_name", "project_type", "project_slug", "status")


def parse_timestamp(value: Any) -> datetime | None:
    """Parses an RFC 3339 timestamp into an aware datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def contract_violation(order: Any) -> str | None:
    """Returns one sentence naming what breaks the order contract, or None when it holds.

    Only breaks that would corrupt the warehouse count: a missing key, an unparseable
    timestamp, a decimal that is not one, a wrong type. New fields and new status values are
    data, not violations.
    """
    if not isinstance(order, dict):
        return f"the record is a {type(order).__name__}, not an object"
    order_id = order.get("id")
    if not isinstance(order_id, str) or not order_id:
        return "the order has no `id`"
    if "created_at" not in order or order["created_at"] is None:
        return "the order has no `created_at`"
    if parse_timestamp(order["created_at"]) is None:
        return f"`created_at` {order['created_at']!r} is not an RFC 3339 timestamp with a zone"
    if not isinstance(order.get("status"), str):
        return "the order has no `status` string"
    problem = _check_fields(order, ORDER_DECIMAL_FIELDS, _ORDER_TEXT_FIELDS, "")
    if problem:
        return problem
    metadata = order.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return f"`metadata` is a {type(metadata).__name__}, not an object"
    for array, decimals, texts in (
        ("bundles", BUNDLE_LINE_DECIMAL_FIELDS, _BUNDLE_TEXT_FIELDS),
        ("projects", PROJECT_LINE_DECIMAL_FIELDS, _PROJECT_TEXT_FIELDS),
    ):
        lines = order.get(array)
        if lines is None:
            continue
        if not isinstance(lines, list):
            return f"`{array}` is a {type(lines).__name__}, not an array"
        for i, line in enumerate(lines):
            if not isinstance(line, dict):
                return f"`{array}[{i}]` is a {type(line).__name__}, not an object"
            problem = _check_fields(line, decimals, texts, f"{array}[{i}].")
            if problem:
                return problem
        if array == "bundles":
            for i, line in enumerate(lines):
                flag = line.get("insufficient_available_quantity")
                if flag is not None and not isinstance(flag, bool):
                    return f"`bundles[{i}].insufficient_available_quantity` is not a boolean"
    return None


def _check_fields(
    record: dict[str, Any], decimals: Sequence[str], texts: Sequence[str], prefix: str
) -> str | None:
    for field in decimals:
        value = record.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"`{prefix}{field}` is a {type(value).__name__}, not a decimal string"
        if not _DECIMAL_RE.fullmatch(value):
            return (
                f"`{prefix}{field}` {value!r} is not a decimal string that fits "
                f"DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})"
            )
    for field in texts:
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            return f"`{prefix}{field}` is a {type(value).__name__}, not a string"
    return None


_KNOWN_ORDER_FIELDS = frozenset(ORDERS_SCHEMA.names) | {"bundles", "projects"}
_KNOWN_BUNDLE_FIELDS = frozenset(BUNDLES_SCHEMA.names) | {"primary_image"}
_KNOWN_PROJECT_FIELDS = frozenset(PROJECTS_SCHEMA.names) | {"project_logo"}


def _with_new_fields(
    table: pa.Table, records: Sequence[dict[str, Any] | None], known: frozenset[str]
) -> pa.Table:
    """Adds a column for each field Lune sends that this connector does not know yet.

    New fields are data: they land (and the warehouse schema grows) instead of being
    dropped. Scalars keep Arrow's inferred type; anything else lands as JSON text.
    """
    new_fields = sorted({k for r in records if r for k in r.keys() - known})
    for name in new_fields:
        values = [r.get(name) if r else None for r in records]
        try:
            array = pa.array(values)
            if pa.types.is_nested(array.type):
                raise pa.ArrowInvalid("nested")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array(
                [None if v is None else orjson.dumps(v).decode() for v in values], pa.string()
            )
        if pa.types.is_null(array.type):
            continue  # all null: nothing to type the column by yet
        table = table.append_column(name, array)
    return table


def order_tables(
    account_id: str, orders: Sequence[dict[str, Any]], synced_at: datetime
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Builds the `orders`, `orders__bundles` and `orders__projects` tables of valid orders.

    Child rows carry `(account_id, order_id)`. An order with no lines of a kind gets one
    tombstone row (`_lune_tombstone = true`, `line_idx = -1`) in that child table: the merge
    deletes the order's old lines by that key and never inserts the tombstone, so lines an
    order lost do not linger as orphans.
    """
    columns: dict[str, list[Any]] = {name: [] for name in ORDERS_SCHEMA.names}
    bundles: dict[str, list[Any]] = {name: [] for name in BUNDLES_SCHEMA.names}
    projects: dict[str, list[Any]] = {name: [] for name in PROJECTS_SCHEMA.names}
    # the raw line behind each child row (None for tombstones), for fields added later
    bundle_lines: list[dict[str, Any] | None] = []
    project_lines: list[dict[str, Any] | None] = []
    for order in orders:
        order_id = order["id"]
        for field in columns:
            if field in ("account_id", "metadata", "synced_at"):
                continue
            columns[field].append(order.get(field))
        columns["account_id"].append(account_id)
        metadata = order.get("metadata")
        columns["metadata"].append(None if metadata is None else orjson.dumps(metadata).decode())
        columns["synced_at"].append(synced_at)
        _add_lines(bundles, order.get("bundles"), account_id, order_id, synced_at)
        _add_lines(projects, order.get("projects"), account_id, order_id, synced_at)
        bundle_lines.extend(order.get("bundles") or [None])
        project_lines.extend(order.get("projects") or [None])
    return (
        _with_new_fields(_table(columns, ORDERS_SCHEMA), orders, _KNOWN_ORDER_FIELDS),
        _with_new_fields(_table(bundles, BUNDLES_SCHEMA), bundle_lines, _KNOWN_BUNDLE_FIELDS),
        _with_new_fields(_table(projects, PROJECTS_SCHEMA), project_lines, _KNOWN_PROJECT_FIELDS),
    )


def _add_lines(
    target: dict[str, list[Any]],
    lines: list[dict[str, Any]] | None,
    account_id: str,
    order_id: str,
    synced_at: datetime,
) -> None:
    fixed = {"account_id": account_id, "order_id": order_id, "synced_at": synced_at}
    if not lines:
        for field, values in target.items():
            values.append(fixed.get(field))
        target["line_idx"][-1] = -1
        target["_lune_tombstone"][-1] = True
        return
    for idx, line in enumerate(lines):
        for field, values in target.items():
            if field in fixed:
                values.append(fixed[field])
            elif field == "line_idx":
                values.append(idx)
            elif field == "_lune_tombstone":
                values.append(None)
            else:
                values.append(line.get(field))


def _table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_decimal(field.type) or (
            pa.types.is_timestamp(field.type) and values and isinstance(values[0], str)
        ):
            # validated strings: Arrow's cast is exact and far faster than Decimal()
            arrays.append(pa.array(values, pa.string()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def history_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=HISTORY_SCHEMA)
