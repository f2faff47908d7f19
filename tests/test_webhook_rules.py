"""Lune's webhook rules as the product reads them: the Lune-HMAC check (against an independent
HMAC computed here), the envelope a receiver accepts, the row each event loads as, and the
spool's file layout (a local directory and an fsspec URL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from sources.lune.webhooks.events import (
    Delivery,
    EventContractError,
    MalformedDelivery,
    event_row,
    events_table,
    parse_delivery,
)
from sources.lune.webhooks.signature import SignatureError, parse_header, sign, verify
from sources.lune.webhooks.spool import DONE, INCOMING, QUARANTINE, Spool, SpoolFile
from tests.support.webhooks import SECRET, allocation_event, body_of, lune_hmac, order_event

NOW = 1_796_000_000
BODY = body_of([order_event("e1")])


def _digest(secret: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()


# --- signature --------------------------------------------------------------------------------


def test_a_delivery_signed_as_lune_documents_verifies():
    header = verify(SECRET, lune_hmac(SECRET, NOW, BODY), BODY, now=NOW + 5)
    assert (header.signed_at, header.organisation) == (NOW, "org1")
    # the product's own signer agrees with the independent one
    assert sign(SECRET, NOW, BODY, "org1") == lune_hmac(SECRET, NOW, BODY)


@pytest.mark.parametrize(
    "encode",
    [
        lambda d: base64.b64encode(d).decode(),
        lambda d: base64.b64encode(d).decode().rstrip("="),
        lambda d: base64.urlsafe_b64encode(d).decode(),
        lambda d: d.hex(),
        lambda d: d.hex().upper(),
    ],
    ids=["base64", "base64-unpadded", "base64-urlsafe", "hex", "HEX"],
)
def test_the_signature_may_be_base64_or_hex(encode):
    value = encode(_digest(SECRET, NOW, BODY))
    assert verify(SECRET, f"timestamp={NOW},v1={value}", BODY, now=NOW).signed_at == NOW


def test_one_matching_v1_among_several_is_enough():
    good = base64.b64encode(_digest(SECRET, NOW, BODY)).decode()
    bad = base64.b64encode(_digest("an-old-secret", NOW, BODY)).decode()
    header = f"timestamp={NOW},organisation=o,v1={bad},v1={good},v2=future-scheme"
    assert verify(SECRET, header, BODY, now=NOW).signatures == (bad, good)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, f"timestamp={NOW},v1={bad},v1={bad}", BODY, now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "secret", "message"),
    [
        (lune_hmac(SECRET, NOW, BODY), BODY + b" ", SECRET, "does not match"),
        (lune_hmac(SECRET, NOW, BODY), BODY, SECRET + "x", "does not match"),
        # the timestamp is signed: moving it breaks the signature
        (lune_hmac(SECRET, NOW, BODY).replace(str(NOW), str(NOW + 1)), BODY, SECRET, "not match"),
        (None, BODY, SECRET, "no Lune-HMAC header"),
        ("", BODY, SECRET, "no Lune-HMAC header"),
        (f"v1={base64.b64encode(_digest(SECRET, NOW, BODY)).decode()}", BODY, SECRET, "timestamp"),
        ("timestamp=soon,v1=abc", BODY, SECRET, "timestamp"),
        (f"timestamp={NOW},organisation=o", BODY, SECRET, "no v1"),
        (f"timestamp={NOW},v1=%%%not-base64%%%", BODY, SECRET, "does not match"),
    ],
    ids=[
        "body-changed",
        "other-secret",
        "timestamp-changed",
        "no-header",
        "empty-header",
        "no-timestamp",
        "bad-timestamp",
        "no-v1",
        "garbage-v1",
    ],
)
def test_anything_but_a_matching_signature_is_refused(header, body, secret, message):
    with pytest.raises(SignatureError, match=message) as caught:
        verify(secret, header, body, now=NOW)
    assert SECRET not in str(caught.value) and "events" not in str(caught.value)


def test_signed_timestamps_outside_the_tolerance_are_refused():
    header = lune_hmac(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, now=NOW + 120, tolerance_seconds=120)
    with pytest.raises(SignatureError, match="121 s old"):
        verify(SECRET, header, BODY, now=NOW + 121, tolerance_seconds=120)
    with pytest.raises(SignatureError, match="in the future"):
        verify(SECRET, header, BODY, now=NOW - 121, tolerance_seconds=120)


def test_header_parsing_keeps_padding_and_the_timestamp_text():
    parsed = parse_header(" timestamp=01796000000 , account=acc , v1=YWJj== ")
    assert parsed.timestamp == "01796000000"  # signed as sent, not re-formatted
    assert (parsed.organisation, parsed.signatures) == ("acc", ("YWJj==",))


# --- envelope and rows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "`events` array"),
        (b'{"events": {}}', "`events` array"),
        (b'{"events": [1]}', r"events\[0\] is not an object"),
        (orjson.dumps({"events": [{**order_event("e"), "event_id": ""}]}), "event_id"),
        (orjson.dumps({"events": [{**order_event("e"), "sequence": 7}]}), "sequence"),
        (orjson.dumps({"events": [{**order_event("e"), "data": None}]}), "data"),
        (orjson.dumps({"events": [{**order_event("e"), "account_id": 1}]}), "account_id"),
    ],
)
def test_malformed_envelopes_are_refused(body, message):
    with pytest.raises(MalformedDelivery, match=message):
        parse_delivery(body)


def test_a_valid_envelope_may_carry_unknown_types_and_no_account():
    event = {**order_event("e1"), "event_type": "invoice.created", "data": {"invoice": {}}}
    del event["account_id"]
    assert parse_delivery(body_of([event])) == [event]
    row = event_row(event, _delivery())
    assert (row["event_type"], row["account_id"], row["order_id"], row["quantity"]) == (
        "invoice.created",
        None,
        None,
        None,
    )


def _delivery() -> Delivery:
    return Delivery(
        "f.json",
        datetime(2026, 12, 31, 23, 59, 50, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 51, 250000, tzinfo=UTC),
    )


def test_order_and_allocation_events_become_rows_with_exact_decimals():
    order = event_row(order_event("e1", quantity="123456789.123456789"), _delivery())
    assert order["object_id"] == order["order_id"] == "order1"
    assert (order["status"], order["project_id"]) == ("placed", None)
    assert order["quantity"] == Decimal("123456789.123456789")
    allocation = event_row(allocation_event("e2", quantity="0.000001"), _delivery())
    assert (allocation["object_id"], allocation["order_id"], allocation["project_id"]) == (
        "alloc1",
        "order1",
        "project1",
    )
    assert (allocation["status"], allocation["quantity"]) == ("retired", Decimal("0.000001"))
    assert allocation["signed_at"] == datetime(2026, 12, 31, 23, 59, 50, tzinfo=UTC)
    assert orjson.loads(allocation["event"]) == allocation_event("e2", quantity="0.000001")
    table = events_table([order, allocation])
    assert table.column("quantity").to_pylist() == [
        Decimal("123456789.123456789"),
        Decimal("0.000001"),
    ]
    # an order before `placed` has no quantity yet
    assert event_row(order_event("e3", quantity=None), _delivery())["quantity"] is None


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({**order_event("e"), "data": {"something": {}}}, "no `data.order`"),
        (allocation_event("e", quantity="12,5"), "not a decimal"),
        (allocation_event("e", quantity="1.0000000001"), "not a decimal"),
        (allocation_event("e", project_id=""), "project_id"),
        (order_event("e", order_id=None), "data.order.id"),  # type: ignore[arg-type]
    ],
)
def test_events_that_break_the_contract_are_named(event, message):
    with pytest.raises(EventContractError, match=message) as caught:
        event_row(event, _delivery())
    assert "Event e " in str(caught.value)


# --- spool ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "file-url", "memory-url"])
def test_the_spool_stores_each_delivery_byte_for_byte_and_moves_it(tmp_path, kind):
    location = {
        "directory": str(tmp_path / "spool"),
        "file-url": f"file://{tmp_path}/spool",
        "memory-url": f"memory://spool-test-{tmp_path.name}",
    }[kind]
    spool = Spool(location)
    spool.prepare()
    received = datetime(2026, 12, 31, 23, 59, 51, 250000, tzinfo=UTC).timestamp()
    first = spool.store(BODY, NOW, received)
    second = spool.store(b'{"events": []}', NOW + 1, received + 1)
    assert spool.pending() == [first, second]  # oldest first
    assert (first.signed_at, first.received_at) == (
        datetime.fromtimestamp(NOW, UTC),
        datetime(2026, 12, 31, 23, 59, 51, 250000, tzinfo=UTC),
    )
    assert spool.read(first) == BODY
    assert spool.pending(limit=1) == [first]
    spool.mark_done([first])
    spool.quarantine(second, "The body is not valid JSON.")
    assert spool.pending() == []
    assert spool.files(DONE) == [first] and spool.files(QUARANTINE) == [second]
    assert spool.read(first, DONE) == BODY
    assert spool.reason(second) == "The body is not valid JSON."
    assert spool.mark_done([first]) == 0  # already moved: nothing to do, no error
    assert spool.count(INCOMING) == 0


def test_local_files_are_private_and_no_temporary_is_left(tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    spool.prepare()
    stored = spool.store(BODY, NOW)
    incoming = tmp_path / "spool" / "incoming"
    assert [p.name for p in incoming.iterdir()] == [stored.name]
    assert (incoming / stored.name).stat().st_mode & 0o777 == 0o600
    assert SpoolFile.is_delivery(stored.name) and not SpoolFile.is_delivery("." + stored.name)


def test_spool_descriptions_hide_credentials():
    spool = Spool("memory://user:password@bucket/path?token=abc")
    assert "password" not in spool.description and "abc" not in spool.description
