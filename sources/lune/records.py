"""Checks Lune order records against the API contract and turns pages into Arrow tables.

Building Arrow tables here (rather than yielding dicts) skips dlt's Python normalizer, which
dominated load time, and fixes every column's type up front: decimal strings become
DECIMAL(38, 9) exactly, `created_at` a UTC timestamp, `metadata` one JSON column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

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
        # set when Lune stopped returning the order while it was open (404); null otherwise
        ("vanished_at", TIMESTAMP),
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


def read_page(records: Sequence[Any]) -> pa.StructArray | None:
    """A page of orders read into Arrow when every record surely keeps the contract
    (`contract_violation(r)` is None for each), else None: then `contract_violations` names
    the records that break it, and `read_orders` reads the others.

    For records parsed from JSON (no bytes, no tuples, which Arrow would take for text and
    objects). The containers' exact types are checked here (records, `metadata`, the line
    arrays and their lines: Arrow would read "" or [] as an empty array or object); Arrow's
    conversion rejects any other wrong type (a number for text, an object for an array),
    and the decimal and timestamp text is checked by C++ regex runs, so a page costs a few
    passes outside the interpreter instead of `_all_hold`'s pass per field. Like
    `_all_hold`, it never gives a verdict of its own.
    """
    if set(map(type, records)) != _DICT:
        return None
    if not set(map(type, _column(records, "metadata"))) <= _DICT_OR_NONE:
        return None
    for array, _, _ in _LINE_ARRAYS:  # Arrow takes any empty sequence for a list or an object
        arrays = list(_column(records, array))
        if not set(map(type, arrays)) <= _LIST_OR_NONE:
            return None
        if not set(map(type, _flatten(filter(None, arrays)))) <= _DICT:
            return None
    try:
        raw = read_orders(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    fields = dict(zip(_RAW_ORDER_TYPE.names, raw.flatten(), strict=True))
    order_ids, created, status = fields["id"], fields["created_at"], fields["status"]
    if order_ids.null_count or status.null_count or created.null_count:
        return None
    if pc.any(pc.equal(order_ids, "")).as_py() or not _all_match(created, _TIMESTAMP_TEXT):
        return None
    try:
        created.cast(TIMESTAMP)  # the text's shape is right: the date must exist too
    except (pa.ArrowInvalid, OverflowError):
        return None
    columns = [fields[name] for name in ORDER_DECIMAL_FIELDS]
    for array, decimal_fields, _ in _LINE_ARRAYS:
        line_values = fields[array].flatten()
        lines = dict(zip(line_values.type.names, line_values.flatten(), strict=True))
        columns += [lines[name] for name in decimal_fields]
    # one regex run (and one compiled pattern) for the page's every decimal
    if not _all_match(pa.concat_arrays(columns), _DECIMAL_TEXT):
        return None
    return raw


def read_orders(records: Sequence[dict[str, Any]]) -> pa.StructArray:
    """Valid orders read into Arrow as `order_tables` takes them: decimals and timestamps as
    the API's text, fields this connector does not know left out."""
    raw = pa.array(records, type=_RAW_ORDER_TYPE)
    return raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw


def replace_field(raw: pa.StructArray, name: str, values: Sequence[Any]) -> pa.StructArray:
    """`raw` with the field `name` holding `values` (e.g. an email put in its stored form)."""
    struct = raw.type
    arrays = [
        pa.array(values, struct.field(i).type) if struct.field(i).name == name else child
        for i, child in enumerate(raw.flatten())
    ]
    return pa.StructArray.from_arrays(arrays, fields=list(struct))


def _all_match(text: pa.Array, pattern: str) -> bool:
    """True when every non-null value of `text` matches `pattern` (anchored)."""
    if text.null_count == len(text):
        return True
    return pc.all(pc.match_substring_regex(text, pattern), min_count=0).as_py() is True


def contract_violations(records: Sequence[Any]) -> list[str | None]:
    """`[contract_violation(r) for r in records]`, checking a whole page at once.

    A page where every record holds (the common case) costs a few C-level passes over each
    field; otherwise each record is checked on its own.
    """
    if _all_hold(records):
        return [None] * len(records)
    return [contract_violation(record) for record in records]


# `_all_hold` answers "every record surely holds" or "ask `contract_violation`", never a
# verdict of its own, so a page it is unsure of (a dict or str subclass) only costs the
# detailed check. It tests exact types and checks every decimal string of the page with one
# regex run over them all, joined by commas. The pattern is `_DECIMAL_RE`'s, possessive: a
# piece is digits then a delimiter, so giving back a character can never make it match.
_NONE = type(None)
_STR_OR_NONE = frozenset({str, _NONE})
_BOOL_OR_NONE = frozenset({bool, _NONE})
_DICT_OR_NONE = frozenset({dict, _NONE})
_LIST_OR_NONE = frozenset({list, _NONE})
_DICT = frozenset({dict})
_STR = frozenset({str})
_FAST_DECIMAL = (
    rf"[0-9]{{1,{DECIMAL_PRECISION - DECIMAL_SCALE}}}+(?:\.[0-9]{{1,{DECIMAL_SCALE}}}+)?+"
)
_DECIMALS_RE = re.compile(rf"{_FAST_DECIMAL}(?:,{_FAST_DECIMAL})*+")
# `read_page`'s patterns, for Arrow (RE2): `_DECIMAL_RE`, and the one form of RFC 3339 text
# that both `datetime.fromisoformat` and Arrow's cast read alike once the date exists (from
# year 1000: Arrow casts year 0, which Python refuses)
_DECIMAL_TEXT = rf"^{_DECIMAL_RE.pattern}$"
_TIMESTAMP_TEXT = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_LINE_ARRAYS = (
    ("bundles", BUNDLE_LINE_DECIMAL_FIELDS, _BUNDLE_TEXT_FIELDS),
    ("projects", PROJECT_LINE_DECIMAL_FIELDS, _PROJECT_TEXT_FIELDS),
)
_flatten = chain.from_iterable
_tzinfo = attrgetter("tzinfo")


def _decimals_hold(decimals: list[Any]) -> bool:
    """Every value is None or a decimal string `_DECIMAL_RE` accepts; all are str or None."""
    count = len(decimals) - decimals.count(None)
    if not count:
        return True
    if "" in decimals:  # `filter` would drop it unseen
        return False
    joined = ",".join(filter(None, decimals))
    # a value holding a comma splits into more pieces than values: the comma count sees it
    return joined.count(",") == count - 1 and _DECIMALS_RE.fullmatch(joined) is not None


def _column(records: Sequence[dict[str, Any]], field: str) -> Iterator[Any]:
    return map(dict.get, records, repeat(field, len(records)))


def _all_hold(records: Sequence[Any]) -> bool:
    """True only when `contract_violation(r)` is None for every record: one pass per field."""
    if not records:
        return True
    if set(map(type, records)) != _DICT:
        return False
    order_ids = list(_column(records, "id"))
    created = list(_column(records, "created_at"))
    if (
        set(map(type, order_ids)) != _STR
        or "" in order_ids
        or set(map(type, _column(records, "status"))) != _STR
        or set(map(type, created)) != _STR
        or not set(map(type, _column(records, "metadata"))) <= _DICT_OR_NONE
    ):
        return False
    try:
        if None in map(_tzinfo, map(datetime.fromisoformat, created)):
            return False
    except ValueError:
        return False
    decimals: list[Any] = []
    strings: list[Any] = []
    for field in ORDER_DECIMAL_FIELDS:
        decimals += _column(records, field)
    for field in _ORDER_TEXT_FIELDS:
        strings += _column(records, field)
    for array, decimal_fields, text_fields in _LINE_ARRAYS:
        arrays = list(_column(records, array))
        if not set(map(type, arrays)) <= _LIST_OR_NONE:
            return False
        lines = list(_flatten(filter(None, arrays)))
        if not lines:
            continue
        if set(map(type, lines)) != _DICT:
            return False
        for field in decimal_fields:
            decimals += _column(lines, field)
        for field in text_fields:
            strings += _column(lines, field)
        if array == "bundles" and not (
            set(map(type, _column(lines, "insufficient_available_quantity"))) <= _BOOL_OR_NONE
        ):
            return False
    strings += decimals
    return set(map(type, strings)) <= _STR_OR_NONE and _decimals_hold(decimals)


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
    new_fields = _new_fields(records, known)
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


def _raw_type(schema: pa.Schema, skip: frozenset[str]) -> pa.StructType:
    """The struct a record is read into: decimals and timestamps as the API's strings."""
    return pa.struct(
        [
            pa.field(f.name, pa.string() if _from_string(f.type) else f.type)
            for f in schema
            if f.name not in skip
        ]
    )


def _from_string(arrow_type: pa.DataType) -> bool:
    return pa.types.is_decimal(arrow_type) or pa.types.is_timestamp(arrow_type)


# Columns not read from the record itself: set by the connector, or by the row's position.
_NOT_FROM_ORDER = frozenset({"account_id", "metadata", "synced_at", "vanished_at"})
_NOT_FROM_LINE = frozenset({"account_id", "order_id", "line_idx", "synced_at", "_lune_tombstone"})
_BUNDLE_TYPE = _raw_type(BUNDLES_SCHEMA, _NOT_FROM_LINE)
_PROJECT_TYPE = _raw_type(PROJECTS_SCHEMA, _NOT_FROM_LINE)
_RAW_ORDER_TYPE = pa.struct(
    [
        *_raw_type(ORDERS_SCHEMA, _NOT_FROM_ORDER),
        pa.field("bundles", pa.list_(_BUNDLE_TYPE)),
        pa.field("projects", pa.list_(_PROJECT_TYPE)),
    ]
)
_NO_LINE: tuple[None] = (None,)


def _new_fields(records: Iterable[dict[str, Any] | None], known: frozenset[str]) -> list[str]:
    """The keys of `records` (None skipped) not in `known`, sorted; one C-level pass."""
    return sorted(set().union(*filter(None, records)) - known)


def order_tables(
    account_id: str,
    orders: Sequence[dict[str, Any]],
    synced_at: datetime,
    *,
    tombstones: bool = True,
    arrays: Sequence[pa.StructArray] = (),
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Builds the `orders`, `orders__bundles` and `orders__projects` tables of valid orders.

    Child rows carry `(account_id, order_id)`. An order with no lines of a kind gets one
    tombstone row (`_lune_tombstone = true`, `line_idx = -1`) in that child table: the merge
    deletes the order's old lines by that key and never inserts the tombstone, so lines an
    order lost do not linger as orphans. Without `tombstones` (rows appended, not merged)
    such an order has no row there.

    Arrow reads the records in one pass (fields it does not know are skipped there and added
    by `_with_new_fields`); decimal and timestamp strings are then cast column by column.
    `arrays`: the orders already read that way (`read_page`, `read_orders`), row for row.
    """
    if arrays:
        raw = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
        if len(raw) != len(orders):
            raise ValueError(f"{len(raw)} orders read into Arrow for {len(orders)} orders")
    else:
        raw = read_orders(orders)
    fields = dict(zip(_RAW_ORDER_TYPE.names, raw.flatten(), strict=True))
    count = len(raw)
    stamp = pa.array([synced_at], TIMESTAMP)[0]
    metadata = [
        None if (m := order.get("metadata")) is None else orjson.dumps(m).decode()
        for order in orders
    ]
    order_columns = {
        **fields,
        "account_id": pa.repeat(pa.scalar(account_id, pa.string()), count),
        "metadata": pa.array(metadata, pa.string()),
        "synced_at": pa.repeat(stamp, count),
        "vanished_at": pa.nulls(count, TIMESTAMP),  # the API returned it: it has not vanished
    }
    orders_table = _with_new_fields(
        _table(order_columns, ORDERS_SCHEMA), orders, _KNOWN_ORDER_FIELDS
    )
    child_tables = []
    for array, schema, known in (
        ("bundles", BUNDLES_SCHEMA, _KNOWN_BUNDLE_FIELDS),
        ("projects", PROJECTS_SCHEMA, _KNOWN_PROJECT_FIELDS),
    ):
        table = _line_table(fields[array], fields["id"], account_id, stamp, schema, tombstones)
        lines_by_order = [order.get(array) for order in orders]
        if _new_fields(_flatten(filter(None, lines_by_order)), known):
            # the record behind each row (None for a tombstone), row for row
            no_line = _NO_LINE if tombstones else ()
            raw_lines = list(_flatten(lines or no_line for lines in lines_by_order))
            table = _with_new_fields(table, raw_lines, known)
        child_tables.append(table)
    return orders_table, child_tables[0], child_tables[1]


def _line_table(
    lines: pa.ListArray,
    order_ids: pa.Array,
    account_id: str,
    stamp: pa.Scalar,
    schema: pa.Schema,
    tombstones: bool,
) -> pa.Table:
    """One row per line, in order, and (with `tombstones`) one tombstone row for an order
    with no lines."""
    lengths = pc.fill_null(pc.list_value_length(lines), 0).cast(pa.int64())
    # without tombstones an order with no lines has no row, so no row reads this as true
    tombstone = pc.equal(lengths, 0)
    rows_per_order = pc.max_element_wise(lengths, 1) if tombstones else lengths
    ends = pc.cumulative_sum(rows_per_order)
    total = ends[-1].as_py() if len(ends) else 0
    # the order behind each row: parent indices of a list array with those row counts
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), ends])
    parent = pc.list_parent_indices(pa.LargeListArray.from_arrays(offsets, pa.nulls(total)))
    row = pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), total)), 1)
    position = pc.subtract(row, pc.take(pc.subtract(ends, rows_per_order), parent))
    is_tombstone = pc.take(tombstone, parent)
    starts = lines.offsets[:-1].cast(pa.int64())
    line_index = pc.if_else(
        is_tombstone, pa.scalar(None, pa.int64()), pc.add(pc.take(starts, parent), position)
    )
    values = pc.take(lines.values, line_index)
    columns = dict(zip(values.type.names, values.flatten(), strict=True))
    columns["account_id"] = pa.repeat(pa.scalar(account_id, pa.string()), total)
    columns["order_id"] = pc.take(order_ids, parent)
    columns["line_idx"] = pc.if_else(is_tombstone, pa.scalar(-1, pa.int64()), position)
    columns["synced_at"] = pa.repeat(stamp, total)
    columns["_lune_tombstone"] = pc.if_else(
        is_tombstone, pa.scalar(True), pa.scalar(None, pa.bool_())
    )
    return _table(columns, schema)


def _table(columns: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        array = columns[field.name]
        if array.type != field.type:
            # validated strings: Arrow's cast is exact and far faster than Decimal()
            array = array.cast(field.type)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def history_table(
    account_id: str,
    raw: pa.StructArray,
    changes: Sequence[tuple[int, str | None]],
    observed_at: datetime,
    load_id: str,
) -> pa.Table:
    """The status history rows of orders whose status a run witnessed changing, from the
    orders read into Arrow (`read_orders`): `changes` holds, for each, its row in `raw` and
    the status it had before (None for an order seen for the first time).

    Built from the columns, not from a dict per row: a backfill writes one row per order.
    `order_created_at` is cast from the API's text as `orders.created_at` is."""
    count = len(changes)
    rows = pa.array([row for row, _ in changes], pa.int64())
    fields = dict(zip(raw.type.names, raw.flatten(), strict=True))
    columns = {
        "account_id": pa.repeat(pa.scalar(account_id, pa.string()), count),
        "order_id": fields["id"].take(rows),
        "status": fields["status"].take(rows),
        "previous_status": pa.array([previous for _, previous in changes], pa.string()),
        "observed_at": pa.repeat(pa.scalar(observed_at, TIMESTAMP), count),
        "order_created_at": fields["created_at"].take(rows).cast(TIMESTAMP),
        "load_id": pa.repeat(pa.scalar(load_id, pa.string()), count),
    }
    return pa.Table.from_arrays(
        [columns[name] for name in HISTORY_SCHEMA.names], schema=HISTORY_SCHEMA
    )


def vanished_orders_table(rows: Sequence[dict[str, Any]], vanished_at: datetime) -> pa.Table:
    """Stored `orders` rows (column name -> value, as a DB-API cursor returns them) again,
    with `vanished_at` set where it is not yet: merged back, they mark orders the API no
    longer returns and keep every other column as stored.

    `_dlt_*` columns are left for dlt to fill; columns for fields Lune added later keep their
    values (JSON values as JSON text, like `_with_new_fields`).
    """
    columns: dict[str, pa.Array] = {}
    for schema_field in ORDERS_SCHEMA:
        values = [row.get(schema_field.name) for row in rows]
        if schema_field.name == "vanished_at":
            values = [value or vanished_at for value in values]
        elif schema_field.name == "metadata":
            values = [_json_text(value) for value in values]
        columns[schema_field.name] = pa.array(values, schema_field.type)
    table = pa.Table.from_arrays(list(columns.values()), schema=ORDERS_SCHEMA)
    extra = [
        name
        for name in (rows[0] if rows else {})
        if name not in columns and not name.startswith("_dlt_")
    ]
    for name in extra:
        values = [row.get(name) for row in rows]
        if any(isinstance(v, dict | list) for v in values):
            values = [_json_text(v) for v in values]
        array = pa.array(values)
        if not pa.types.is_null(array.type):
            table = table.append_column(name, array)
    return table


def _json_text(value: Any) -> str | None:
    """A JSON column's value as JSON text (DuckDB returns text, PostgreSQL parsed values)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()
