"""`records.order_tables` and `records.contract_violation(s)` against the implementations they
replaced (kept here verbatim as references): the same tables, the same verdicts and messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.lune import records
from sources.lune.records import (
    _BUNDLE_TEXT_FIELDS,
    _KNOWN_BUNDLE_FIELDS,
    _KNOWN_ORDER_FIELDS,
    _KNOWN_PROJECT_FIELDS,
    _ORDER_TEXT_FIELDS,
    _PROJECT_TEXT_FIELDS,
    BUNDLES_SCHEMA,
    ORDERS_SCHEMA,
    PROJECTS_SCHEMA,
    contract_violation,
    contract_violations,
    order_tables,
    parse_timestamp,
)
from sources.lune.settings import (
    BUNDLE_LINE_DECIMAL_FIELDS,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    ORDER_DECIMAL_FIELDS,
    PROJECT_LINE_DECIMAL_FIELDS,
)

# --- the references: the code before the Arrow-first rewrite, unchanged ---------------------

_DECIMAL_RE = re.compile(
    rf"[0-9]{{1,{DECIMAL_PRECISION - DECIMAL_SCALE}}}(\.[0-9]{{1,{DECIMAL_SCALE}}})?"
)


def _reference_contract_violation(order: Any) -> str | None:
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
    problem = _reference_check_fields(order, ORDER_DECIMAL_FIELDS, _ORDER_TEXT_FIELDS, "")
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
            problem = _reference_check_fields(line, decimals, texts, f"{array}[{i}].")
            if problem:
                return problem
        if array == "bundles":
            for i, line in enumerate(lines):
                flag = line.get("insufficient_available_quantity")
                if flag is not None and not isinstance(flag, bool):
                    return f"`bundles[{i}].insufficient_available_quantity` is not a boolean"
    return None


def _reference_check_fields(
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


def _reference_with_new_fields(
    table: pa.Table, records: Sequence[dict[str, Any] | None], known: frozenset[str]
) -> pa.Table:
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
            continue
        table = table.append_column(name, array)
    return table


def _reference_order_tables(
    account_id: str, orders: Sequence[dict[str, Any]], synced_at: datetime
) -> tuple[pa.Table, pa.Table, pa.Table]:
    columns: dict[str, list[Any]] = {name: [] for name in ORDERS_SCHEMA.names}
    bundles: dict[str, list[Any]] = {name: [] for name in BUNDLES_SCHEMA.names}
    projects: dict[str, list[Any]] = {name: [] for name in PROJECTS_SCHEMA.names}
    bundle_lines: list[dict[str, Any] | None] = []
    project_lines: list[dict[str, Any] | None] = []
    for order in orders:
        order_id = order["id"]
        for field in columns:
            if field in ("account_id", "metadata", "synced_at", "vanished_at"):
                continue
            columns[field].append(order.get(field))
        columns["vanished_at"].append(None)  # set only on a stored row, never from the API
        columns["account_id"].append(account_id)
        metadata = order.get("metadata")
        columns["metadata"].append(None if metadata is None else orjson.dumps(metadata).decode())
        columns["synced_at"].append(synced_at)
        _reference_add_lines(bundles, order.get("bundles"), account_id, order_id, synced_at)
        _reference_add_lines(projects, order.get("projects"), account_id, order_id, synced_at)
        bundle_lines.extend(order.get("bundles") or [None])
        project_lines.extend(order.get("projects") or [None])
    return (
        _reference_with_new_fields(
            _reference_table(columns, ORDERS_SCHEMA), orders, _KNOWN_ORDER_FIELDS
        ),
        _reference_with_new_fields(
            _reference_table(bundles, BUNDLES_SCHEMA), bundle_lines, _KNOWN_BUNDLE_FIELDS
        ),
        _reference_with_new_fields(
            _reference_table(projects, PROJECTS_SCHEMA), project_lines, _KNOWN_PROJECT_FIELDS
        ),
    )


def _reference_add_lines(
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


def _reference_table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_decimal(field.type) or (
            pa.types.is_timestamp(field.type) and values and isinstance(values[0], str)
        ):
            arrays.append(pa.array(values, pa.string()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# --- strategies ------------------------------------------------------------------------------

EDGE_DECIMALS = [
    "0",
    "00",
    "1",
    "0.5",
    "1.000000001",
    "0.000000001",
    "999999999.999999999",
    "9" * 29,
    "1" + "0" * 28 + ".123456789",
    "9" * 29 + "." + "9" * 9,
]
valid_decimals = st.sampled_from(EDGE_DECIMALS) | st.from_regex(
    r"[0-9]{1,29}(\.[0-9]{1,9})?", fullmatch=True
)
INVALID_DECIMALS = [
    "",
    ".5",
    "5.",
    ".",
    "1e5",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1\n",
    "1.0000000001",
    "1" * 30,
    "1" * 30 + ".5",
    "1,2",
    "1.2.3",
    "1..2",
    "0x1",
    "²",
    "1²",
    "٣",
    "1.٣",
    "１",
    "NaN",
    "1_000",
]
decimal_like = (
    valid_decimals
    | st.sampled_from(INVALID_DECIMALS)
    | st.text(alphabet="0123456789.,-+e ²٣", max_size=40)
)
non_strings = st.sampled_from([0, 1, -1, 1.5, 0.0, True, False, [], [1], {}, {"a": 1}, b"1"])
texts = st.none() | st.text(max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
# unknown fields; some names are known columns the connector sets itself (never read)
extra_names = st.sampled_from(
    ["new_scalar", "new_nested", "zz_field", "account_id", "synced_at", "order_id", "line_idx"]
)
extras = st.dictionaries(extra_names, json_scalars | json_values, max_size=3)


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
        )
    )
    offset = draw(st.sampled_from([0, 60, 330, -480]))
    moment = moment.astimezone(timezone(timedelta(minutes=offset)))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds"])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


def _line(
    decimals: Sequence[str], text_fields: Sequence[str], extra: dict[str, st.SearchStrategy]
) -> st.SearchStrategy:
    optional = {name: _maybe(valid_decimals) for name in decimals}
    optional.update({name: texts for name in text_fields})
    optional.update(extra)
    return st.builds(
        lambda line, more: {**more, **line},
        st.fixed_dictionaries({}, optional=optional),
        extras,
    )


bundle_lines = _line(
    BUNDLE_LINE_DECIMAL_FIELDS,
    _BUNDLE_TEXT_FIELDS,
    {
        "insufficient_available_quantity": st.none() | st.booleans(),
        "primary_image": st.none() | st.text(max_size=5),
    },
)
project_lines = _line(
    PROJECT_LINE_DECIMAL_FIELDS, _PROJECT_TEXT_FIELDS, {"project_logo": st.none() | texts}
)
STATUSES = ["received", "placed", "paid", "retiring", "complete", "cancelled", "failed"]


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    order: dict[str, Any] = draw(extras)
    order["id"] = draw(st.text(min_size=1, max_size=8))
    order["created_at"] = draw(timestamps())
    order["status"] = draw(st.sampled_from(STATUSES) | st.text(max_size=6))
    optional = {name: _maybe(valid_decimals) for name in ORDER_DECIMAL_FIELDS}
    optional.update({name: texts for name in _ORDER_TEXT_FIELDS if name != "status"})
    optional["metadata"] = _maybe(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    optional["bundles"] = _maybe(st.lists(bundle_lines, max_size=4))
    optional["projects"] = _maybe(st.lists(project_lines, max_size=5))
    order.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return order


# --- order_tables ----------------------------------------------------------------------------

SYNCED_AT = datetime(2026, 11, 28, 7, 5, tzinfo=UTC)


def _assert_same_tables(orders: list[dict[str, Any]]) -> None:
    for order in orders:
        assert _reference_contract_violation(order) is None, order
    got = order_tables("acc-1", orders, SYNCED_AT)
    want = _reference_order_tables("acc-1", orders, SYNCED_AT)
    for name, g, w in zip(("orders", "bundles", "projects"), got, want, strict=True):
        assert g.schema.equals(w.schema, check_metadata=True), (name, g.schema, w.schema)
        assert g.equals(w), (name, g.to_pylist(), w.to_pylist())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders(), min_size=1, max_size=8))
def test_order_tables_match_the_reference(orders: list[dict[str, Any]]) -> None:
    _assert_same_tables(orders)


def test_order_tables_edge_cases() -> None:
    base = {"id": "o1", "created_at": "2026-01-02T03:04:05.678Z", "status": "placed"}
    line = {"quantity": "9" * 29 + "." + "9" * 9, "unit_price": "0", "offset_cost": None}
    _assert_same_tables(
        [
            {**base, "bundles": None, "projects": []},  # tombstones for both
            {**base, "id": "o2"},  # no list keys at all
            {**base, "id": "o3", "bundles": [line, {}], "projects": [{"status": "x"}] * 3},
            {**base, "id": "o4", "metadata": {"k": [1, {"n": None}]}, "new": {"a": 1}},
            {**base, "id": "o5", "metadata": {}, "offset_cost": "1.000000001", "new": 3},
            {**base, "id": "o6", "bundles": [{**line, "primary_image": {"url": "u"}}]},
        ]
    )
    got = order_tables("acc", [], SYNCED_AT)
    want = _reference_order_tables("acc", [], SYNCED_AT)
    assert all(g.equals(w) and g.schema == w.schema for g, w in zip(got, want, strict=True))


def test_unknown_keys_do_not_break_the_struct_conversion() -> None:
    order = {
        "id": "o1",
        "created_at": "2026-01-02T03:04:05Z",
        "status": "paid",
        "surprise": {"deep": [1, 2, {"x": None}]},
        "bundles": [{"bundle_id": "b", "novel": [1, "two"], "order_id": "spoofed"}],
        "projects": [{"project_id": "p", "line_idx": 99, "_lune_tombstone": False}],
    }
    orders_t, bundles_t, projects_t = order_tables("acc", [order], SYNCED_AT)
    assert orders_t.column("surprise").to_pylist() == ['{"deep":[1,2,{"x":null}]}']
    assert bundles_t.column("order_id").to_pylist() == ["o1"]
    assert bundles_t.column("novel").to_pylist() == ['[1,"two"]']
    assert projects_t.column("line_idx").to_pylist() == [0]
    assert projects_t.column("_lune_tombstone").to_pylist() == [None]
    _assert_same_tables([order])


def test_order_tables_on_sandbox_orders(sandbox_world) -> None:
    orders = [o for a in sandbox_world.account_ids() for o in sandbox_world.orders(a)]
    assert orders
    _assert_same_tables(orders)


# --- contract_violation ----------------------------------------------------------------------


class _Str(str):
    pass


class _Dict(dict):
    pass


weird = st.one_of(
    decimal_like,
    non_strings,
    st.none(),
    st.builds(_Str, valid_decimals),
    st.builds(_Dict),
    st.sampled_from(["2026-01-01", "2026-01-01T00:00:00", "not a time", "", "x" * 3]),
)
ALL_FIELDS = [
    "id",
    "created_at",
    "status",
    "metadata",
    "bundles",
    "projects",
    *ORDER_DECIMAL_FIELDS,
    *_ORDER_TEXT_FIELDS,
]
LINE_FIELDS = [
    *BUNDLE_LINE_DECIMAL_FIELDS,
    *PROJECT_LINE_DECIMAL_FIELDS,
    *_BUNDLE_TEXT_FIELDS,
    *_PROJECT_TEXT_FIELDS,
    "insufficient_available_quantity",
]


@st.composite
def broken_orders(draw: st.DrawFn) -> Any:
    """Valid orders with a few fields (of the order or of a line) replaced or removed."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "order", 5, _Dict(id="x")]))
    order = draw(valid_orders())
    for _ in range(draw(st.integers(0, 3))):
        target = order
        arrays = [a for a in ("bundles", "projects") if isinstance(order.get(a), list)]
        arrays = [a for a in arrays if order[a]]
        if arrays and draw(st.booleans()):
            lines = order[draw(st.sampled_from(arrays))]
            index = draw(st.integers(0, len(lines) - 1))
            if draw(st.integers(0, 8)) == 0 or not isinstance(lines[index], dict):
                lines[index] = draw(weird)
                continue
            target = lines[index]
            field = draw(st.sampled_from(LINE_FIELDS))
        else:
            field = draw(st.sampled_from(ALL_FIELDS))
        if draw(st.integers(0, 5)) == 0:
            target.pop(field, None)
        else:
            target[field] = draw(weird)
    return order


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_orders())
def test_contract_violation_matches_the_reference(order: Any) -> None:
    assert contract_violation(order) == _reference_contract_violation(order)


@settings(max_examples=300, deadline=None)
@given(decimal_like | non_strings, st.sampled_from(["order", "bundles", "projects"]))
def test_decimal_verdicts_match_the_reference(value: Any, where: str) -> None:
    order: dict[str, Any] = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid"}
    if where == "order":
        order["requested_value"] = value
    else:
        order[where] = [{"quantity": "1"}, {"quantity": "2", "unit_price": value}]
    assert contract_violation(order) == _reference_contract_violation(order)
    assert contract_violations([order]) == [_reference_contract_violation(order)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders() | broken_orders(), max_size=6))
def test_contract_violations_of_a_page_match_the_reference(page: list[Any]) -> None:
    assert contract_violations(page) == [_reference_contract_violation(r) for r in page]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders(), max_size=6))
def test_a_valid_page_takes_the_fast_path(page: list[Any]) -> None:
    # exact types and every line key present: the fast paths must not give up
    for order in page:
        for array, fields in (
            ("bundles", [*BUNDLE_LINE_DECIMAL_FIELDS, *_BUNDLE_TEXT_FIELDS]),
            ("projects", [*PROJECT_LINE_DECIMAL_FIELDS, *_PROJECT_TEXT_FIELDS]),
        ):
            for line in order.get(array) or ():
                for field in fields:
                    line.setdefault(field, None)
                if array == "bundles":
                    line.setdefault("insufficient_available_quantity", None)
    assert records._all_hold(page)


@pytest.mark.parametrize("value", INVALID_DECIMALS)
def test_each_invalid_decimal_is_named(value: str) -> None:
    order = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid", "quantity": value}
    message = contract_violation(order)
    assert message == _reference_contract_violation(order)
    assert message is not None and "is not a decimal string" in message


_VALID = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid"}
_LINE = {"quantity": "1", "unit_price": "2.5"}


@pytest.mark.parametrize(
    "changes",
    [
        {"id": ""},
        {"id": None},
        {"id": 5},
        {"id": _Str("o")},
        {"created_at": "2026-01-01T00:00:00"},  # no zone
        {"created_at": "2026-01-01"},
        {"created_at": "soon"},
        {"created_at": None},
        {"created_at": 5},
        {"created_at": _Str("2026-01-01T00:00:00Z")},
        {"status": None},
        {"status": 5},
        {"metadata": []},
        {"metadata": "{}"},
        {"metadata": _Dict(a=1)},
        {"quantity": "", "offset_cost": "1,2"},  # two wrongs that together split evenly
        {"quantity": "1,2"},
        {"quantity": "", "bundles": [{"quantity": "1,2"}]},
        {"bundles": [{**_LINE, "quantity": ""}, {**_LINE, "unit_price": "1,2"}]},
        {"projects": [{"quantity": "1,2,3", "unit_price": "", "offset_cost": None}]},
        {"quantity": _Str("1.5")},
        {"bundles": {}},
        {"bundles": "x"},
        {"bundles": [None]},
        {"bundles": [[]]},
        {"bundles": [_Dict(quantity="1")]},
        {"projects": [_LINE, 5]},
        {"bundles": [{**_LINE, "insufficient_available_quantity": 1}]},
        {"bundles": [{**_LINE, "insufficient_available_quantity": 0}]},
        {"bundles": [{**_LINE, "insufficient_available_quantity": "true"}]},
        {"type": 5},
        {"bundles": [{**_LINE, "bundle_name": 5}]},
        {"projects": [{**_LINE, "status": False}]},
        {"bundles": [_LINE], "projects": [_LINE]},  # valid, line keys missing
        {"bundles": [], "projects": None, "quantity": None},  # valid
    ],
)
def test_tricky_records_match_the_reference(changes: dict[str, Any]) -> None:
    record = {**_VALID, **changes}
    want = _reference_contract_violation(record)
    assert contract_violation(record) == want
    assert contract_violations([_VALID, record]) == [None, want]
    assert contract_violations([record]) == [want]
