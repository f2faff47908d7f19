"""Retirement and status times from Lune's webhook events, worked out by hand on a fixture of
their own, on DuckDB and on a real PostgreSQL: which witness dates each credit, and into which
reporting year it then falls.

Fixture, account E "Event GmbH" (EUR), calendar years:
  e1 created 2025-12-01, two retired lines (pA 3 t, pB 5 t). The loader first saw it retiring
     on 2026-01-05 (dates nothing) and saw it complete on 2026-01-10. Events: allocation.retired
     for pA signed 2025-12-31T23:59:40Z (received 00:00:02) and again, as a second event,
     signed 23:59:50; order.completed signed 2026-01-01T00:10:00Z.
     pA: allocation_retired_event 2025-12-31T23:59:40, year 2025 (the run would say 2026).
     pB: no allocation event: order_completed_event 2026-01-01T00:10, year 2026.
  e2 created 2025-06-01, still retiring, one retired line (pA 7 t). Loader: paid, then retiring
     on 2026-02-01. Event: order.retiring signed 2025-12-20T12:00:00Z.
     order_retiring_event 2025-12-20, year 2025 (the run would say 2026).
  e3 created 2025-03-01, complete (pB 11 t). Loader: placed, then complete on 2026-03-01; no
     event: witnessed_complete 2026-03-01, year 2026.
  e4 created 2024-05-01, complete (pA 2 t), first seen complete on 2026-01-05, no event:
     order_created_at 2024-05-01, estimated, year 2024.
  e5 created 2025-11-01, cancelled, a retired line (pA 13 t) and an allocation.retired event
     signed in 2025: voided, counted nowhere.
  Retired tonnes: 2024: e4 2; 2025: 3 + 7 = 10; 2026: 5 + 11 = 16.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from tests.test_reporting_rules import _built
from tests.test_reporting_views import Rows, by, insert, pick


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# fmt: off
# id, status, created_at, lines [(project, tonnes)], history [(status, previous, observed_at)]
ORDERS = [
    ("e1", "complete", "2025-12-01T09:00:00+00:00", [("pA", "3"), ("pB", "5")],
     [("retiring", None, "2026-01-05T03:00:00+00:00"),
      ("complete", "retiring", "2026-01-10T03:00:00+00:00")]),
    ("e2", "retiring", "2025-06-01T09:00:00+00:00", [("pA", "7")],
     [("paid", None, "2025-06-02T03:00:00+00:00"),
      ("retiring", "paid", "2026-02-01T03:00:00+00:00")]),
    ("e3", "complete", "2025-03-01T09:00:00+00:00", [("pB", "11")],
     [("placed", None, "2025-03-02T03:00:00+00:00"),
      ("complete", "placed", "2026-03-01T03:00:00+00:00")]),
    ("e4", "complete", "2024-05-01T09:00:00+00:00", [("pA", "2")],
     [("complete", None, "2026-01-05T03:00:00+00:00")]),
    ("e5", "cancelled", "2025-11-01T09:00:00+00:00", [("pA", "13")],
     [("cancelled", None, "2026-01-05T03:00:00+00:00")]),
]
# event_id, type, order, project, status, signed_at, received_at
EVENTS = [
    ("ev1", "allocation.retired", "e1", "pA", "retired",
     "2025-12-31T23:59:40+00:00", "2026-01-01T00:00:02+00:00"),
    ("ev2", "allocation.retired", "e1", "pA", "retired",
     "2025-12-31T23:59:50+00:00", "2026-01-01T00:00:01+00:00"),
    ("ev3", "order.completed", "e1", None, "complete",
     "2026-01-01T00:10:00+00:00", "2026-01-01T00:10:01+00:00"),
    ("ev4", "order.retiring", "e2", None, "retiring",
     "2025-12-20T12:00:00+00:00", "2025-12-20T12:00:03+00:00"),
    ("ev5", "allocation.retired", "e5", "pA", "retired",
     "2025-11-20T12:00:00+00:00", "2025-11-20T12:00:01+00:00"),
]
# fmt: on


def _load(client: Any) -> None:
    insert(
        client,
        "client_accounts",
        ["id", "name", "currency", "type", "scope"],
        [("E", "Event GmbH", "EUR", "live", "client_account")],
    )
    insert(
        client,
        "orders",
        ["id", "account_id", "type", "status", "currency", "quantity", "created_at"],
        [
            (o[0], "E", "quantity", o[1], "EUR", str(sum(D(q) for _, q in o[3])), o[2])
            for o in ORDERS
        ],
    )
    insert(
        client,
        "orders__projects",
        ["account_id", "order_id", "line_idx", "project_id", "project_type", "quantity", "status"],
        [
            ("E", o[0], idx, project, "Direct air capture", tonnes, "retired")
            for o in ORDERS
            for idx, (project, tonnes) in enumerate(o[3])
        ],
    )
    insert(
        client,
        "order_status_history",
        ["account_id", "order_id", "status", "previous_status", "observed_at", "order_created_at"],
        [("E", o[0], status, prev, seen, o[2]) for o in ORDERS for status, prev, seen in o[4]],
    )
    insert(
        client,
        "webhook_events",
        [
            "event_id",
            "account_id",
            "event_type",
            "sequence",
            "object_id",
            "order_id",
            "project_id",
            "status",
            "signed_at",
            "received_at",
        ],
        [
            (
                eid,
                "E",
                kind,
                f"s{i:03d}",
                f"{order}-{project or 'o'}",
                order,
                project,
                status,
                signed,
                received,
            )
            for i, (eid, kind, order, project, status, signed, received) in enumerate(EVENTS)
        ],
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def events(request, tmp_path_factory) -> Iterator[Rows]:
    yield from _built(request, tmp_path_factory, "event_times", _load)


def test_each_line_is_dated_by_its_most_exact_witness(events):
    lines = by(events("credit_lines", "order_id, line_idx"), "order_id", "line_idx")
    columns = (
        "retired_at",
        "retired_at_source",
        "retired_event_received_at",
        "retired_at_is_estimate",
        "reporting_year",
    )
    assert {k: pick(v, *columns) for k, v in lines.items()} == {
        # the first of two allocation.retired events wins, with its own receipt
        ("e1", 0): (ts("2025-12-31T23:59:40+00:00"), "allocation_retired_event",
                    ts("2026-01-01T00:00:02+00:00"), False, 2025),
        ("e1", 1): (ts("2026-01-01T00:10:00+00:00"), "order_completed_event",
                    ts("2026-01-01T00:10:01+00:00"), False, 2026),
        ("e2", 0): (ts("2025-12-20T12:00:00+00:00"), "order_retiring_event",
                    ts("2025-12-20T12:00:03+00:00"), False, 2025),
        ("e3", 0): (ts("2026-03-01T03:00:00+00:00"), "witnessed_complete", None, False, 2026),
        ("e4", 0): (ts("2024-05-01T09:00:00+00:00"), "order_created_at", None, True, 2024),
        ("e5", 0): (ts("2025-11-20T12:00:00+00:00"), "allocation_retired_event",
                    ts("2025-11-20T12:00:01+00:00"), False, 2025),
    }  # fmt: skip
    # known when received (event), when witnessed, or when first seen (fallback)
    assert lines[("e1", 0)]["retirement_known_at"] == ts("2026-01-01T00:00:02+00:00")
    assert lines[("e3", 0)]["retirement_known_at"] == ts("2026-03-01T03:00:00+00:00")
    assert lines[("e4", 0)]["retirement_known_at"] == ts("2026-01-05T03:00:00+00:00")


def test_esrs_years_follow_the_event_times(events):
    summary = by(events("esrs_e1_7_summary", "reporting_year"), "reporting_year")
    retired = {year: row["retired_tonnes"] for year, row in summary.items()}
    # 2024: e4 2 t; 2025: e1/pA 3 t + e2 7 t; 2026: e1/pB 5 t + e3 11 t; e5 voided
    assert retired == {2024: D(2), 2025: D(10), 2026: D(16)}
    assert summary[2025]["fallback_dated_tonnes"] == 0
    assert summary[2024]["fallback_dated_tonnes"] == D(2)
    monthly = {
        (r["retirement_month"].isoformat()[:7]): r["retired_tonnes"]
        for r in events("retirements_monthly", "retirement_month")
    }
    assert monthly == {"2024-05": D(2), "2025-12": D(10), "2026-01": D(5), "2026-03": D(11)}


def test_status_changes_carry_event_and_witnessed_times(events):
    changes = by(events("order_status_changes", "order_id, status"), "order_id", "status")
    columns = ("entered_at", "entered_at_source", "event_signed_at", "observed_at")
    assert {k: pick(v, *columns) for k, v in changes.items()} == {
        # first seen retiring: nothing dates it
        ("e1", "retiring"): (None, None, None, ts("2026-01-05T03:00:00+00:00")),
        ("e1", "complete"): (ts("2026-01-01T00:10:00+00:00"), "webhook_event",
                             ts("2026-01-01T00:10:00+00:00"), ts("2026-01-10T03:00:00+00:00")),
        ("e2", "paid"): (None, None, None, ts("2025-06-02T03:00:00+00:00")),
        ("e2", "retiring"): (ts("2025-12-20T12:00:00+00:00"), "webhook_event",
                             ts("2025-12-20T12:00:00+00:00"), ts("2026-02-01T03:00:00+00:00")),
        ("e3", "placed"): (None, None, None, ts("2025-03-02T03:00:00+00:00")),
        ("e3", "complete"): (ts("2026-03-01T03:00:00+00:00"), "witnessed_transition", None,
                             ts("2026-03-01T03:00:00+00:00")),
        ("e4", "complete"): (None, None, None, ts("2026-01-05T03:00:00+00:00")),
        ("e5", "cancelled"): (None, None, None, ts("2026-01-05T03:00:00+00:00")),
    }  # fmt: skip
    assert changes[("e1", "complete")]["current_status"] == "complete"
