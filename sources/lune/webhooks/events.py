"""Lune's webhook payload (`WebhookRequest` / `WebhookEvent` / `OrderAllocation` in Lune's
OpenAPI description): the envelope a receiver checks, and the row each event loads as.

Two levels on purpose. The receiver checks only the envelope Lune documents as required
(`events`, and each event's `api_version`, `event_id`, `event_type`, `sequence`, `data`): a
delivery refused there is redelivered by Lune forever and holds up every later event, so the
receiver must not refuse what the loader could still set aside. The loader checks each event's
data against the contract (ids, a decimal `quantity`) and quarantines a spool file that breaks
it, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from ..personal import PersonalData
from ..settings import DECIMAL_PRECISION, DECIMAL_SCALE

# Lune's event types (WebhookEvent.event_type). Others may come: they load as data.
ORDER_EVENT_TYPES = (
    "order.received",
    "order.placed",
    "order.paid",
    "order.retiring",
    "order.cancelled",
    "order.failed",
    "order.completed",
)
ALLOCATION_EVENT_TYPES = ("allocation.new", "allocation.retired")
EVENT_TYPES = ORDER_EVENT_TYPES + ALLOCATION_EVENT_TYPES
_ENVELOPE_TEXT = ("api_version", "event_id", "event_type", "sequence")
# Lune's decimal pattern, bounded so the value fits DECIMAL(38, 9) without losing a digit
_DECIMAL = re.compile(
    rf"[0-9]{{1,{DECIMAL_PRECISION - DECIMAL_SCALE}}}(\.[0-9]{{1,{DECIMAL_SCALE}}})?"
)

DECIMAL = pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
TIMESTAMP = pa.timestamp("us", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        ("account_id", pa.string()),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("sequence", pa.string(), nullable=False),
        ("api_version", pa.string()),
        ("object_id", pa.string()),
        ("order_id", pa.string()),
        ("project_id", pa.string()),
        ("status", pa.string()),
        ("quantity", DECIMAL),
        pa.field("signed_at", TIMESTAMP, nullable=False),
        pa.field("received_at", TIMESTAMP, nullable=False),
        ("delivery_file", pa.string()),
        ("event", pa.string()),
    ]
)


class MalformedDelivery(Exception):
    """The body is not a WebhookRequest; `str()` is one sentence without the body."""


class EventContractError(Exception):
    """An event's data breaks Lune's contract; `str()` names the event and the field."""


def parse_delivery(body: bytes) -> list[dict[str, Any]]:
    """The events of a delivery, after checking the envelope Lune documents as required."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedDelivery("The body is not valid JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise MalformedDelivery("The body is not an object with an `events` array.")
    events = payload["events"]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedDelivery(f"events[{index}] is not an object.")
        for name in _ENVELOPE_TEXT:
            value = event.get(name)
            if not isinstance(value, str) or not value:
                raise MalformedDelivery(f"events[{index}].{name} is missing or not a string.")
        if not isinstance(event.get("data"), dict):
            raise MalformedDelivery(f"events[{index}].data is missing or not an object.")
        account_id = event.get("account_id")
        if account_id is not None and not isinstance(account_id, str):
            raise MalformedDelivery(f"events[{index}].account_id is not a string.")
    return events


@dataclass(frozen=True)
class Delivery:
    """Where and when a delivery was stored: what every event of it shares."""

    file: str
    signed_at: datetime  # the Lune-HMAC timestamp: when Lune signed (sent) this delivery
    received_at: datetime  # when the receiver stored it


def event_row(
    event: dict[str, Any], delivery: Delivery, personal: PersonalData | None = None
) -> dict[str, Any]:
    """One `webhook_events` row. Raises EventContractError for data that breaks the contract.

    order.* events name the order (`data.order`); allocation.* events name one allocation of
    an order to a project (`data.allocation`: id, order_id, project_id, quantity, status).
    Other event types load with their envelope only (and the raw event). An order snapshot's
    personal fields take the form `personal` says (the orders table's policy) before the
    event is kept as JSON.
    """
    event_id = event["event_id"]
    event_type = event["event_type"]
    data = event["data"]
    if personal is not None and isinstance(data.get("order"), dict):
        personal.apply(data["order"])
    row: dict[str, Any] = {
        "event_id": event_id,
        "account_id": event.get("account_id"),
        "event_type": event_type,
        "sequence": event["sequence"],
        "api_version": event.get("api_version"),
        "object_id": None,
        "order_id": None,
        "project_id": None,
        "status": None,
        "quantity": None,
        "signed_at": delivery.signed_at,
        "received_at": delivery.received_at,
        "delivery_file": delivery.file,
        "event": orjson.dumps(event).decode(),
    }
    if event_type.startswith("order."):
        order = _object(data, "order", event_id)
        row["object_id"] = row["order_id"] = _text(order, "id", event_id, "order", True)
        row["status"] = _text(order, "status", event_id, "order", False)
        row["quantity"] = _decimal(order.get("quantity"), event_id, "order.quantity", False)
    elif event_type.startswith("allocation."):
        allocation = _object(data, "allocation", event_id)
        row["object_id"] = _text(allocation, "id", event_id, "allocation", True)
        row["order_id"] = _text(allocation, "order_id", event_id, "allocation", True)
        row["project_id"] = _text(allocation, "project_id", event_id, "allocation", True)
        row["status"] = _text(allocation, "status", event_id, "allocation", True)
        row["quantity"] = _decimal(
            allocation.get("quantity"), event_id, "allocation.quantity", True
        )
    return row


def _object(data: dict[str, Any], name: str, event_id: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise EventContractError(f"Event {event_id} has no `data.{name}` object.")
    return value


def _text(obj: dict[str, Any], field: str, event_id: str, where: str, required: bool) -> Any:
    value = obj.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise EventContractError(f"Event {event_id} has no string `data.{where}.{field}`.")
    return value


def _decimal(value: Any, event_id: str, where: str, required: bool) -> Decimal | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise EventContractError(
            f"Event {event_id} has `data.{where}` {value!r}, not a decimal string that fits "
            f"DECIMAL({DECIMAL_PRECISION},{DECIMAL_SCALE})."
        )
    return Decimal(value)


def events_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table of EVENTS_SCHEMA: decimals exact, timestamps in UTC."""
    return pa.Table.from_pylist(list(rows), schema=EVENTS_SCHEMA)
