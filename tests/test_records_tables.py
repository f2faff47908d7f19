"""`records.order_tables` against the implementation it replaced (kept here verbatim as a
reference: the same tables), and `records.contract_violation(s)` against expectations written
by hand: each rule of the order contract with a record that keeps it and one that breaks it,
and the exact sentence the quarantine records. The page-at-once check
(`contract_violations`) must agree with the record-by-record one on any page.
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
)
from sources.lune.settings import (
    BUNDLE_LINE_DECIMAL_FIELDS,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    ORDER_DECIMAL_FIELDS,
    PROJECT_LINE_DECIMAL_FIELDS,
)

# --- the reference: `order_tables` before the Arrow-first rewrite, unchanged -----------


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
    """The reference's tables; without tombstones, the reference's minus its tombstone rows."""
    for order in orders:
        assert contract_violation(order) is None, order
    want = _reference_order_tables("acc-1", orders, SYNCED_AT)
    untombed = [
        w.filter(pa.array([t is None for t in w["_lune_tombstone"].to_pylist()], pa.bool_()))
        if "_lune_tombstone" in w.column_names
        else w
        for w in want
    ]
    for tombstones, expected in ((True, want), (False, untombed)):
        got = order_tables("acc-1", orders, SYNCED_AT, tombstones=tombstones)
        for name, g, w in zip(("orders", "bundles", "projects"), got, expected, strict=True):
            assert g.schema.equals(w.schema, check_metadata=True), (name, g.schema, w.schema)
            assert g.equals(w), (tombstones, name, g.to_pylist(), w.to_pylist())


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


# --- contract_violation: each rule by hand ---------------------------------------------------

_VALID = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid"}
_LINE = {"quantity": "1", "unit_price": "2.5"}
# Lune's own example order (OpenAPI `OrderByQuantity`), every field present
_LUNE_EXAMPLE = {
    "id": "VfdoQ0PZjGMzvYO46lNA6kbgN1eOJx9B",
    "metadata": {},
    "idempotency_key": None,
    "type": "quantity",
    "status": "placed",
    "currency": "USD",
    "offset_cost": "0.31",
    "total_cost": "0.35",
    "commission": "0.04",
    "quantity": "0.012069",
    "created_at": "2023-01-04T15:00:27.349Z",
    "bundles": [
        {
            "bundle_id": "q9aKx7b6nNXMk3Yv3pD1mlW5Od2eLZE8",
            "bundle_name": "Conserving forests in Asia",
            "quantity": "0.011466",
            "unit_price": "13.57",
            "gross_unit_price": "15.08",
            "offset_cost": "0.16",
            "insufficient_available_quantity": None,
        }
    ],
    "projects": [],
    "certificate": None,
    "offset_link_id": None,
    "email": None,
    "estimate_id": None,
    "requested_quantity": "0.01207",
    "requested_value": None,
}


class _Str(str):
    pass


class _Dict(dict):
    pass


def _with(**changes: Any) -> dict[str, Any]:
    return {**_VALID, **changes}


# (rule, a record that keeps it): every one must hold
HOLDS = [
    ("a minimal order: id, created_at with a zone, status", _VALID),
    ("Lune's example order, every field present", _LUNE_EXAMPLE),
    ("created_at with an offset instead of Z", _with(created_at="2026-01-01T01:00:00+01:00")),
    ("created_at with milliseconds", _with(created_at="2026-01-01T00:00:00.349Z")),
    ("an unknown status is data", _with(status="on_hold")),
    ("an unknown field is data", _with(brand_new_field={"x": [1]})),
    (
        "every optional text field null",
        _with(**dict.fromkeys([f for f in _ORDER_TEXT_FIELDS if f != "status"], None)),
    ),
    ("decimals null", _with(**dict.fromkeys(ORDER_DECIMAL_FIELDS, None))),
    ("the largest decimal DECIMAL(38, 9) holds", _with(quantity="9" * 29 + "." + "9" * 9)),
    ("a decimal with leading zeros", _with(quantity="007.50")),
    ("metadata an object", _with(metadata={"customer_id": "cus_1", "n": 2})),
    ("metadata null", _with(metadata=None)),
    ("no lines at all", _with(bundles=None, projects=None)),
    ("empty line arrays", _with(bundles=[], projects=[])),
    ("lines without optional keys", _with(bundles=[_LINE], projects=[_LINE])),
    (
        "insufficient_available_quantity true, false or null",
        _with(
            bundles=[
                {**_LINE, "insufficient_available_quantity": flag} for flag in (True, False, None)
            ]
        ),
    ),
    ("a line's unknown field is data", _with(projects=[{**_LINE, "project_logo": {"u": 1}}])),
    ("a str subclass is a string", _with(id=_Str("o"), quantity=_Str("1.5"))),
    ("a dict subclass is an object", _with(metadata=_Dict(a=1), bundles=[_Dict(quantity="1")])),
]

# (rule, a record that breaks it, the sentence the quarantine records)
BREAKS = [
    ("a record must be an object", ["o"], "the record is a list, not an object"),
    ("a record must be an object", None, "the record is a NoneType, not an object"),
    ("id is required", {"created_at": "2026-01-01T00:00:00Z"}, "the order has no `id`"),
    ("id must not be empty", _with(id=""), "the order has no `id`"),
    ("id must be a string", _with(id=5), "the order has no `id`"),
    ("created_at is required", {"id": "o", "status": "paid"}, "the order has no `created_at`"),
    ("created_at must not be null", _with(created_at=None), "the order has no `created_at`"),
    (
        "created_at needs a zone",
        _with(created_at="2026-01-01T00:00:00"),
        "`created_at` '2026-01-01T00:00:00' is not an RFC 3339 timestamp with a zone",
    ),
    (
        "created_at must be a timestamp, not a date",
        _with(created_at="2026-01-01"),
        "`created_at` '2026-01-01' is not an RFC 3339 timestamp with a zone",
    ),
    (
        "created_at must be a string",
        _with(created_at=1767225600),
        "`created_at` 1767225600 is not an RFC 3339 timestamp with a zone",
    ),
    (
        "status is required",
        {"id": "o", "created_at": "2026-01-01T00:00:00Z"},
        "the order has no `status` string",
    ),
    ("status must be a string", _with(status=5), "the order has no `status` string"),
    (
        "an order decimal must be a string",
        _with(total_cost=0.35),
        "`total_cost` is a float, not a decimal string",
    ),
    (
        "an order decimal uses a dot, not a comma",
        _with(quantity="12,5"),
        "`quantity` '12,5' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "an order decimal has at most 29 integer digits",
        _with(requested_quantity="1" * 30),
        f"`requested_quantity` {'1' * 30!r} is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "an order decimal has at most 9 decimals",
        _with(offset_cost="1.0000000001"),
        "`offset_cost` '1.0000000001' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "an order decimal is not empty",
        _with(requested_value=""),
        "`requested_value` '' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "an order decimal is unsigned",
        _with(commission="-1"),
        "`commission` '-1' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    ("an order text field must be a string", _with(type=5), "`type` is a int, not a string"),
    (
        "email must be a string",
        _with(email=["a@example.com"]),
        "`email` is a list, not a string",
    ),
    ("metadata must be an object", _with(metadata=[]), "`metadata` is a list, not an object"),
    ("metadata is not JSON text", _with(metadata="{}"), "`metadata` is a str, not an object"),
    ("bundles must be an array", _with(bundles={}), "`bundles` is a dict, not an array"),
    ("projects must be an array", _with(projects="x"), "`projects` is a str, not an array"),
    (
        "a line must be an object",
        _with(bundles=[None]),
        "`bundles[0]` is a NoneType, not an object",
    ),
    (
        "a line must be an object (the second one)",
        _with(projects=[_LINE, 5]),
        "`projects[1]` is a int, not an object",
    ),
    (
        "a line decimal must be a decimal string",
        _with(bundles=[{**_LINE, "unit_price": "1,2"}]),
        "`bundles[0].unit_price` '1,2' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "a line decimal must be a string",
        _with(projects=[{**_LINE, "offset_cost": 3}]),
        "`projects[0].offset_cost` is a int, not a decimal string",
    ),
    (
        "a line text field must be a string",
        _with(projects=[{**_LINE, "status": False}]),
        "`projects[0].status` is a bool, not a string",
    ),
    (
        "insufficient_available_quantity must be a boolean",
        _with(bundles=[{**_LINE, "insufficient_available_quantity": 0}]),
        "`bundles[0].insufficient_available_quantity` is not a boolean",
    ),
    (
        "insufficient_available_quantity is not the text 'true'",
        _with(bundles=[{**_LINE, "insufficient_available_quantity": "true"}]),
        "`bundles[0].insufficient_available_quantity` is not a boolean",
    ),
]

# (rule, a record breaking several rules, the sentence: the first break, in contract order)
FIRST_BREAK = [
    ("id before created_at", {"id": None, "created_at": None}, "the order has no `id`"),
    (
        "created_at before status",
        _with(created_at="soon", status=None),
        "`created_at` 'soon' is not an RFC 3339 timestamp with a zone",
    ),
    (
        "order decimals in their documented order",
        _with(quantity="", offset_cost="1,2"),
        "`offset_cost` '1,2' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "the order before its lines",
        _with(quantity="", bundles=[{"quantity": "1,2"}]),
        "`quantity` '' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "decimals before text fields",
        _with(type=5, quantity="x"),
        "`quantity` 'x' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "the first broken line",
        _with(bundles=[{**_LINE, "quantity": ""}, {**_LINE, "unit_price": "1,2"}]),
        "`bundles[0].quantity` '' is not a decimal string that fits DECIMAL(38, 9)",
    ),
    (
        "bundles before projects",
        _with(bundles=[{"bundle_name": 5}], projects=[5]),
        "`bundles[0].bundle_name` is a int, not a string",
    ),
]


@pytest.mark.parametrize(("rule", "record"), HOLDS, ids=[h[0] for h in HOLDS])
def test_a_record_that_keeps_the_contract_holds(rule: str, record: Any) -> None:
    assert contract_violation(record) is None
    assert contract_violations([record]) == [None]
    assert contract_violations([_VALID, record, _VALID]) == [None, None, None]


@pytest.mark.parametrize(
    ("rule", "record", "sentence"),
    BREAKS + FIRST_BREAK,
    ids=[b[0] for b in BREAKS + FIRST_BREAK],
)
def test_a_record_that_breaks_the_contract_is_named(rule: str, record: Any, sentence: str) -> None:
    assert contract_violation(record) == sentence
    assert contract_violations([record]) == [sentence]
    assert contract_violations([_VALID, record]) == [None, sentence]


def _lune_decimal(value: Any) -> bool:
    """The decimal rule restated: Lune's pattern, at most 29 integer and 9 decimal digits."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value, re.ASCII):
        return False
    whole, _, fraction = value.partition(".")
    return len(whole) <= DECIMAL_PRECISION - DECIMAL_SCALE and len(fraction) <= DECIMAL_SCALE


@settings(max_examples=300, deadline=None)
@given(decimal_like | non_strings, st.sampled_from(["order", "bundles", "projects"]))
def test_decimal_verdicts_follow_the_rule(value: Any, where: str) -> None:
    order: dict[str, Any] = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid"}
    if where == "order":
        order["requested_value"] = value
        name = "requested_value"
    else:
        order[where] = [{"quantity": "1"}, {"quantity": "2", "unit_price": value}]
        name = f"{where}[1].unit_price"
    verdict = contract_violation(order)
    if _lune_decimal(value):
        assert verdict is None
    elif isinstance(value, str):
        assert verdict == (f"`{name}` {value!r} is not a decimal string that fits DECIMAL(38, 9)")
    else:
        assert verdict == f"`{name}` is a {type(value).__name__}, not a decimal string"
    assert contract_violations([order]) == [verdict]


@pytest.mark.parametrize("value", INVALID_DECIMALS)
def test_each_invalid_decimal_is_named(value: str) -> None:
    order = {"id": "o", "created_at": "2026-01-01T00:00:00Z", "status": "paid", "quantity": value}
    assert contract_violation(order) == (
        f"`quantity` {value!r} is not a decimal string that fits DECIMAL(38, 9)"
    )


@pytest.mark.parametrize("value", EDGE_DECIMALS)
def test_each_edge_decimal_holds(value: str) -> None:
    assert contract_violation(_with(quantity=value, bundles=[{"unit_price": value}])) is None


# --- contract_violations: a page at once agrees with record by record --------------------------

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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders() | broken_orders(), max_size=6))
def test_contract_violations_of_a_page_agree_with_each_record(page: list[Any]) -> None:
    assert contract_violations(page) == [contract_violation(r) for r in page]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders(), max_size=6))
def test_valid_orders_hold_and_take_the_fast_path(page: list[Any]) -> None:
    assert [contract_violation(order) for order in page] == [None] * len(page)
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


@pytest.mark.parametrize(("rule", "record", "sentence"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_page_with_one_broken_record_names_only_that_one(
    rule: str, record: Any, sentence: str
) -> None:
    page = [_LUNE_EXAMPLE, _VALID, record, _with(bundles=[_LINE])]
    assert contract_violations(page) == [None, None, sentence, None]


def test_history_table_takes_each_change_from_the_orders_columns() -> None:
    observed = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    orders = [
        _with(id="o1", status="placed", created_at="2026-11-29T23:59:59.999999Z"),
        _with(id="o2", status="paid"),  # no change witnessed: no row
        _with(id="o3", status="complete", created_at="2025-01-01T02:00:00+02:00"),
    ]
    raw = records.read_orders(orders)
    table = records.history_table(
        "acc", raw, [(0, None), (2, "retiring")], observed, "1764489600.1"
    )
    assert table.schema == records.HISTORY_SCHEMA
    assert table.to_pylist() == [
        {
            "account_id": "acc",
            "order_id": "o1",
            "status": "placed",
            "previous_status": None,
            "observed_at": observed,
            "order_created_at": datetime(2026, 11, 29, 23, 59, 59, 999999, tzinfo=UTC),
            "load_id": "1764489600.1",
        },
        {
            "account_id": "acc",
            "order_id": "o3",
            "status": "complete",
            "previous_status": "retiring",
            "observed_at": observed,
            "order_created_at": datetime(2025, 1, 1, tzinfo=UTC),  # the offset applied
            "load_id": "1764489600.1",
        },
    ]
    assert records.history_table("acc", raw, [], observed, "1").num_rows == 0


# --- read_page: the page read into Arrow only when every record surely holds -------------------


def _as_parsed(value: Any) -> Any:
    """`value` as the client hands it over: written as JSON and parsed back (no bytes, no
    tuples, no subclasses)."""
    return orjson.loads(orjson.dumps(value))


def _json_page(page: list[Any]) -> list[Any]:
    try:
        return _as_parsed(page)
    except TypeError:  # bytes: no JSON body holds them
        return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders() | broken_orders(), max_size=6))
def test_read_page_reads_only_pages_where_every_record_holds(page: list[Any]) -> None:
    page = _json_page(page)
    raw = records.read_page(page)
    if raw is not None:
        assert [contract_violation(r) for r in page] == [None] * len(page)
        assert raw.equals(records.read_orders(page))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders(), min_size=1, max_size=6))
def test_read_page_reads_valid_pages(page: list[Any]) -> None:
    # Lune's forms of created_at (seconds or milliseconds, Z or an offset) and every valid
    # decimal: a valid page must not fall back to the record-by-record check
    assert records.read_page(_as_parsed(page)) is not None


@pytest.mark.parametrize(("rule", "record", "sentence"), BREAKS, ids=[b[0] for b in BREAKS])
def test_read_page_leaves_a_page_with_a_broken_record_to_the_check(
    rule: str, record: Any, sentence: str
) -> None:
    page = _json_page([_LUNE_EXAMPLE, _VALID, record])
    assert page, "every broken record here can be written as JSON"
    assert records.read_page(page) is None


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-02-30T00:00:00Z",  # no such day: fromisoformat refuses it, and so must this
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00+24:00",
        "0000-01-01T00:00:00Z",
        "2026-01-01 00:00:00Z",  # valid for Python, but not the form this reads: left to it
        "2026-01-01T00:00:00.1234567Z",
    ],
)
def test_read_page_reads_only_timestamps_python_reads_alike(created_at: str) -> None:
    assert records.read_page([_VALID, _with(created_at=created_at)]) is None


def test_read_page_leaves_odd_lines_and_metadata_to_the_check() -> None:
    for record, sentence in (
        (_with(bundles=[_LINE, None]), "`bundles[1]` is a NoneType, not an object"),
        (_with(projects=[None]), "`projects[0]` is a NoneType, not an object"),
        (_with(metadata=["a"]), "`metadata` is a list, not an object"),
        (_with(metadata="x"), "`metadata` is a str, not an object"),
        # Arrow reads any empty sequence as an empty array or an object with no fields
        (_with(bundles=""), "`bundles` is a str, not an array"),
        (_with(projects=[""]), "`projects[0]` is a str, not an object"),
        (_with(bundles=[[]]), "`bundles[0]` is a list, not an object"),
    ):
        assert contract_violation(record) == sentence
        assert records.read_page([_VALID, record]) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_orders(), min_size=2, max_size=8), st.integers(1, 7))
def test_order_tables_from_arrays_read_in_parts_match_the_reference(
    orders: list[dict[str, Any]], cut: int
) -> None:
    orders = _as_parsed(orders)
    cut = min(cut, len(orders) - 1)
    first, second = records.read_page(orders[:cut]), records.read_orders(orders[cut:])
    assert first is not None
    want = _reference_order_tables("acc-1", orders, SYNCED_AT)
    got = order_tables("acc-1", orders, SYNCED_AT, arrays=[first, second])
    for g, w in zip(got, want, strict=True):
        assert g.equals(w), (g.to_pylist(), w.to_pylist())
    with pytest.raises(ValueError, match="1 orders read into Arrow for"):
        order_tables("acc-1", orders, SYNCED_AT, arrays=[records.read_orders(orders[:1])])
