"""Loading the spool with a run: one row per event whatever the redeliveries, the earliest
signed time kept, bad files quarantined with a reason while the rest loads, and a file
leaving incoming/ only once its events are committed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import dlt
import duckdb
import pytest

from pipelines.runner import RunError
from sources.lune.webhooks import WebhookBatch
from tests.support.webhooks import allocation_event, order_event, spool_delivery

T0 = 1_796_000_000  # 2026-11-30


def rows(loader) -> dict[str, tuple]:
    with loader.connect() as con:
        found = con.execute(
            "select event_id, signed_at, received_at, delivery_file, status "
            "from lune.webhook_events"
        ).fetchall()
    assert len(found) == len({r[0] for r in found})
    return {r[0]: r[1:] for r in found}


def folder(spool: Path, name: str) -> list[str]:
    path = spool / name
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_the_earliest_signed_delivery_of_an_event_wins_in_a_run_and_across_runs(loader, tmp_path):
    spool = tmp_path / "spool"
    # in one run: three deliveries of e1 (the middle one signed first), e2 once
    spool_delivery(spool, [order_event("e1")], T0 + 20, received_at=T0 + 21)
    early = spool_delivery(spool, [order_event("e1"), order_event("e2")], T0 + 10, T0 + 30)
    spool_delivery(spool, [order_event("e1")], T0 + 40, received_at=T0 + 41)
    summary = loader.run(webhook_spool=str(spool))
    assert summary.webhooks == {
        "files": 3,
        "events": 4,
        "loaded": 2,
        "duplicates": 2,
        "already_loaded": 0,
        "quarantined_files": 0,
        "unreadable_files": 0,
        "left_for_next_run": 0,
    }
    first = rows(loader)
    assert first["e1"][:3] == (at(T0 + 10), at(T0 + 30), early)
    assert first["e2"][0] == at(T0 + 10)

    # a later redelivery (Lune re-signs each one) changes nothing
    spool_delivery(spool, [order_event("e1"), order_event("e2")], T0 + 500)
    summary = loader.run(webhook_spool=str(spool))
    assert (summary.webhooks["loaded"], summary.webhooks["already_loaded"]) == (0, 2)
    assert rows(loader) == first

    # a delivery signed earlier than the stored one, found later (a slow bucket, a restore):
    # the earlier time wins, the row is replaced, never doubled
    earlier = spool_delivery(spool, [order_event("e1")], T0 + 5, received_at=T0 + 600)
    summary = loader.run(webhook_spool=str(spool))
    assert (summary.webhooks["loaded"], summary.webhooks["already_loaded"]) == (1, 0)
    now = rows(loader)
    assert now["e1"][:3] == (at(T0 + 5), at(T0 + 600), earlier)
    assert now["e2"] == first["e2"]
    assert folder(spool, "incoming") == [] and len(folder(spool, "done")) == 5


def test_bad_files_are_quarantined_with_a_reason_and_the_rest_loads(loader, tmp_path):
    spool = tmp_path / "spool"
    good = spool_delivery(spool, [order_event("good"), allocation_event("alloc")], T0)
    bad_decimal = spool_delivery(
        spool, [order_event("x"), allocation_event("y", quantity="1,5")], T0
    )
    truncated = spool / "incoming" / "20261130T000000.000000Z-s1796000000-00000000000000aa.json"
    truncated.write_bytes(b'{"events": [{"api_version": "v1", "event_id"')
    summary = loader.run(webhook_spool=str(spool))
    assert summary.outcome == "succeeded"
    assert summary.quarantined == 2
    assert summary.webhooks["quarantined_files"] == 2 and summary.webhooks["loaded"] == 2
    assert set(rows(loader)) == {"good", "alloc"}  # nothing of a quarantined file loads
    assert folder(spool, "done") == [good]
    quarantine = folder(spool, "quarantine")
    assert quarantine == sorted(
        [bad_decimal, bad_decimal + ".reason.txt", truncated.name, truncated.name + ".reason.txt"]
    )
    reason = (spool / "quarantine" / (bad_decimal + ".reason.txt")).read_text()
    assert reason == "Event y has `data.allocation.quantity` '1,5', not a decimal string that " + (
        "fits DECIMAL(38,9).\n"
    )
    assert (spool / "quarantine" / (truncated.name + ".reason.txt")).read_text() == (
        "The body is not valid JSON.\n"
    )
    # --strict turns a quarantined file into a failed run (the data still loads)
    spool_delivery(spool, [{**order_event("z"), "data": {}}], T0)
    strict = loader.run(webhook_spool=str(spool), strict=True)
    assert strict.outcome == "failed" and "quarantined" in strict.error


def test_files_leave_incoming_only_once_their_events_are_committed(loader, tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    names = {spool_delivery(spool, [order_event(f"e{i}")], T0 + i) for i in range(3)}

    # the load fails: nothing is committed, so every file stays
    def failing_load(self, *args, **kwargs):
        raise RuntimeError("the warehouse went away")

    with monkeypatch.context() as patch:
        patch.setattr(dlt.Pipeline, "load", failing_load)
        with pytest.raises(RunError, match="the warehouse went away"):
            loader.run(webhook_spool=str(spool))
    assert set(folder(spool, "incoming")) == names and folder(spool, "done") == []
    with duckdb.connect(str(loader.db_path), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert "webhook_events" not in tables

    # the load completes but the run dies before moving the files (as a kill would)
    def dying_commit(self):
        raise OSError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(WebhookBatch, "commit", dying_commit)
        with pytest.raises(RunError):
            loader.run(webhook_spool=str(spool))
    loaded = rows(loader)
    assert set(loaded) == {"e0", "e1", "e2"}
    assert set(folder(spool, "incoming")) == names

    # the next run reads them again, adds nothing, and marks them done
    summary = loader.run(webhook_spool=str(spool))
    assert (summary.webhooks["files"], summary.webhooks["already_loaded"]) == (3, 3)
    assert rows(loader) == loaded
    assert folder(spool, "incoming") == [] and set(folder(spool, "done")) == names


def test_without_a_spool_a_run_loads_no_webhooks(loader):
    summary = loader.run()
    assert summary.webhooks == {} and "webhooks" not in summary.to_text()
    with loader.connect() as con:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert "orders" in tables and "webhook_events" not in tables


def test_a_spool_from_dlt_config(loader, tmp_path, monkeypatch):
    spool = tmp_path / "configured"
    spool_delivery(spool, [order_event("cfg")], T0)
    monkeypatch.setenv("SOURCES__LUNE__WEBHOOK_SPOOL", str(spool))
    assert loader.run().webhooks["loaded"] == 1
    assert set(rows(loader)) == {"cfg"}


@pytest.mark.parametrize("mode", ["keep", "hash", "drop"])
def test_order_snapshots_in_events_follow_the_personal_data_setting(
    loader, tmp_path, monkeypatch, mode
):
    """webhook_events holds no email the orders table would not (the spool keeps the raw)."""
    key = "webhook-test-personal-key-01"
    monkeypatch.setenv("SOURCES__LUNE__PERSONAL_DATA_KEY", key)
    loader.source_options = {"personal_data": mode}
    spool = tmp_path / "spool"
    event = order_event("with-email", status="complete")
    event["data"]["order"]["email"] = " Buyer@Example.com"
    spool_delivery(spool, [event, allocation_event("alloc")], T0)
    loader.run(webhook_spool=str(spool))
    with loader.connect() as con:
        stored = dict(
            con.execute(
                "select event_id, json_extract_string(event, '$.data.order.email') "
                "from lune.webhook_events"
            ).fetchall()
        )
    expected = {
        "keep": " Buyer@Example.com",
        "hash": hmac.new(key.encode(), b"buyer@example.com", hashlib.sha256).hexdigest(),
        "drop": None,
    }[mode]
    assert stored == {"with-email": expected, "alloc": None}
    assert b"Buyer@Example.com" in next((spool / "done").iterdir()).read_bytes()
