"""Lune's webhooks: signed deliveries of order and allocation events, and their loading.

- `signature`: the `Lune-HMAC` header and its check (what a receiver must verify);
- `events`: the WebhookRequest envelope and the `webhook_events` row of each event;
- `spool`: one durable file per delivery, shared by the receiver and the run;
- `webhook_events_resource` (added to `lune_source` by the product's run) and
  `lune_webhooks_source`: load the spool into `webhook_events`.

`webhook_events` holds one row per event (merged on `event_id`, so redeliveries, Lune's
duplicates and reruns never add a row) with the time Lune signed the first delivery of it
that reached the warehouse: no event carries a time of its own, so that signed time is the
best "when" there is (seconds after the change while the receiver is up, the redelivery time
after an outage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.typing import TDataItem
from dlt.sources import DltResource

from ..personal import PersonalData
from .events import (
    Delivery,
    EventContractError,
    MalformedDelivery,
    event_row,
    events_table,
    parse_delivery,
)
from .spool import Spool, SpoolError, SpoolFile

__all__ = [
    "MAX_FILES_PER_RUN",
    "Spool",
    "SpoolError",
    "WebhookBatch",
    "lune_webhooks_source",
    "webhook_events_resource",
]

log = logging.getLogger("lune.webhooks")

# Deliveries one run reads at most (memory stays bounded after a long backlog; the rest waits
# for the next run, oldest first).
MAX_FILES_PER_RUN = 50_000
ROWS_PER_TABLE = 5_000
_TIMESTAMP = {"data_type": "timestamp", "timezone": True}
KnownSignedAt = Callable[[Sequence[str]], dict[str, datetime]]


@dataclass
class WebhookBatch:
    """The spool files one run read, and what became of their events.

    The run calls `commit()` only after the load that carries these events has completed:
    then loaded files move to done/ and bad ones to quarantine/. Until then the spool is as
    the run found it, so a run that fails or is killed leaves every file to the next run.
    """

    spool: Spool
    files: list[SpoolFile] = field(default_factory=list)
    quarantined: list[tuple[SpoolFile, str]] = field(default_factory=list)
    unreadable: int = 0
    events_read: int = 0
    duplicates: int = 0  # events seen more than once in this run's files
    already_loaded: int = 0  # events the warehouse holds with an earlier or equal signed time
    events_loaded: int = 0  # rows this run loads (new events, or an earlier delivery of one)
    left_for_next_run: int = 0

    def commit(self) -> dict[str, Any]:
        """Marks the files done or quarantined; returns the run summary's `webhooks` part."""
        for file, reason in self.quarantined:
            self.spool.quarantine(file, reason)
            log.warning("quarantined webhook delivery %s: %s", file.name, reason)
        self.spool.mark_done(self.files)
        log.info("webhooks: %s", ", ".join(f"{k} {v}" for k, v in self.to_dict().items()))
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "events": self.events_read,
            "loaded": self.events_loaded,
            "duplicates": self.duplicates,
            "already_loaded": self.already_loaded,
            "quarantined_files": len(self.quarantined),
            "unreadable_files": self.unreadable,
            "left_for_next_run": self.left_for_next_run,
        }


@dlt.source(name="lune", max_table_nesting=0)
def lune_webhooks_source(
    spool: str,
    batch: WebhookBatch | None = None,
    max_files: int = MAX_FILES_PER_RUN,
    known_signed_at: KnownSignedAt | None = None,
    personal: PersonalData | None = None,
) -> Sequence[DltResource]:
    """The `webhook_events` table alone, for using the loader without the orders.

    The product's run adds `webhook_events_resource` to `lune_source` instead (one package,
    one schema). Same arguments as `webhook_events_resource`.
    """
    return [webhook_events_resource(spool, batch, max_files, known_signed_at, personal)]


def webhook_events_resource(
    spool: str,
    batch: WebhookBatch | None = None,
    max_files: int = MAX_FILES_PER_RUN,
    known_signed_at: KnownSignedAt | None = None,
    personal: PersonalData | None = None,
) -> DltResource:
    """The `webhook_events` resource over the deliveries waiting in `spool`.

    One row per event, merged on `event_id`. Within a run, the earliest-signed delivery of
    each event wins; across runs an event already loaded is sent again only when this
    delivery was signed earlier than the stored one, so a redelivery never moves the time
    later. The spool is only read here: the caller commits `batch` after the load.

    Args:
        spool: the receiver's spool (`SOURCES__LUNE__WEBHOOK_SPOOL`): a directory or an
            fsspec URL.
        batch: filled with the files read, for the caller to `commit()` after the load.
        max_files: deliveries read at most per run (oldest first).
        known_signed_at: {event_id: signed_at} of events already loaded; by default read from
            the destination of the pipeline that extracts (absent table: none).
        personal: the personal-data policy of the orders, applied to the order snapshots in
            `event` (the spool keeps the raw deliveries).
    """
    store = Spool(spool)
    read = batch if batch is not None else WebhookBatch(store)
    lookup = known_signed_at or _known_in_destination

    @dlt.resource(
        name="webhook_events",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="event_id",
        columns={
            "event": {"data_type": "json"},
            "quantity": {"data_type": "decimal", "precision": 38, "scale": 9},
            # a run never holds two rows of an event; should one slip in, the earliest wins
            "signed_at": {**_TIMESTAMP, "nullable": False, "dedup_sort": "asc"},
            "received_at": {**_TIMESTAMP, "nullable": False},
        },
    )
    def webhook_events() -> Iterator[TDataItem]:
        pending = store.pending()
        files = pending[:max_files]
        read.left_for_next_run = len(pending) - len(files)
        earliest: dict[str, dict[str, Any]] = {}
        for file in files:
            rows = _rows_of(store, file, read, personal)
            if rows is None:
                continue
            read.files.append(file)
            for row in rows:
                read.events_read += 1
                current = earliest.get(row["event_id"])
                if current is None:
                    earliest[row["event_id"]] = row
                    continue
                read.duplicates += 1
                if _first(row) < _first(current):
                    earliest[row["event_id"]] = row
        known = lookup(list(earliest)) if earliest else {}
        rows = [
            row
            for event_id, row in earliest.items()
            if event_id not in known or row["signed_at"] < known[event_id]
        ]
        read.already_loaded = len(earliest) - len(rows)
        read.events_loaded = len(rows)
        if read.left_for_next_run:
            log.warning(
                "%d webhook deliveries wait for the next run (at most %d per run)",
                read.left_for_next_run,
                max_files,
            )
        for start in range(0, len(rows), ROWS_PER_TABLE):
            yield events_table(rows[start : start + ROWS_PER_TABLE])

    return webhook_events


def _rows_of(
    store: Spool, file: SpoolFile, read: WebhookBatch, personal: PersonalData | None
) -> list[dict[str, Any]] | None:
    """The rows of one delivery; None (and the file noted) when it cannot be loaded."""
    try:
        body = store.read(file)
    except OSError as e:  # e.g. a bucket hiccup: the file stays for the next run
        read.unreadable += 1
        log.warning("could not read webhook delivery %s (%s); left for the next run", file.name, e)
        return None
    delivery = Delivery(file.name, file.signed_at, file.received_at)
    try:
        return [event_row(event, delivery, personal) for event in parse_delivery(body)]
    except (MalformedDelivery, EventContractError) as e:
        read.quarantined.append((file, str(e)))
        return None


def _first(row: dict[str, Any]) -> tuple[datetime, datetime, str]:
    """Orders deliveries of one event: signed first, then stored first."""
    return row["signed_at"], row["received_at"], row["delivery_file"]


def _known_in_destination(event_ids: Sequence[str]) -> dict[str, datetime]:
    """{event_id: signed_at} of these events in the extracting pipeline's `webhook_events`."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    pipeline = dlt.current.pipeline()
    if pipeline.destination is None:
        return {}
    found: dict[str, datetime] = {}
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("webhook_events")
            for start in range(0, len(event_ids), 500):
                chunk = list(event_ids[start : start + 500])
                placeholders = ", ".join(["%s"] * len(chunk))
                for event_id, signed_at in client.execute_sql(
                    f"select event_id, signed_at from {table} where event_id in ({placeholders})",
                    *chunk,
                ):
                    found[event_id] = _utc(signed_at)
    except DatabaseUndefinedRelation:  # no table (or dataset) yet: nothing is loaded
        return {}
    return found


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
