"""Retirement times from Lune's webhooks, end to end against the sandbox: lifecycle changes →
signed deliveries → the receiver → `pipelines.runner.run` (load and dbt build) → the marts.

The sandbox signs its deliveries at 2026-10-31T23:59:30Z, thirty seconds before a reporting
year that starts in November (fiscal_year_start_month 11). Every order was created before
then, so the credits those changes retire belong to the year ending 2026-10-31, while the run
that sees them happens after the boundary (today): dated by the run, they would land in the
next year. The test checks each line's date and source, the status history, and that each
account's ESRS retired tonnes moved between years by exactly the tonnes the events date."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.loader import Loader
from tests.support.webhooks import free_port, start_receiver

SIGNED = datetime(2026, 10, 31, 23, 59, 30, tzinfo=UTC)
BOUNDARY = datetime(2026, 11, 1, tzinfo=UTC)
EVENT_YEAR = 2025  # with November as the first month, 2025 is 2025-11-01 .. 2026-10-31
VARS = {"fiscal_year_start_month": 11}
VOID = {"cancelled", "failed"}
# the receiver refuses a signature older than its tolerance; these are signed in the past
TOLERANCE = str(20 * 365 * 86400)


@pytest.fixture
def world() -> SandboxWorld:
    return SandboxWorld.generate(
        seed=4242, client_accounts=2, orders_per_account={0: 40, 1: 40}, open_share=0.6
    )


@pytest.fixture
def server(world: SandboxWorld) -> Iterator[SandboxServer]:
    settings = {"backoff_initial": 0.05, "backoff_max": 0.4, "timeout": 5.0, "duplicate_rate": 0.2}
    with SandboxServer(world, rate_limit=None, webhook_settings=settings) as running:
        running.world.webhooks.clock = SIGNED.timestamp
        yield running


def rows(loader: Loader, sql: str) -> list[dict[str, Any]]:
    with loader.connect() as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def esrs_retired(loader: Loader) -> dict[tuple[str, int], Decimal]:
    return {
        (r["account_id"], r["reporting_year"]): r["retired_tonnes"]
        for r in rows(
            loader,
            "select account_id, reporting_year, retired_tonnes "
            "from lune_reporting.esrs_e1_7_summary",
        )
    }


def test_a_credit_retired_before_the_boundary_counts_in_that_year(tmp_path, world, server):
    headers = {"Authorization": f"Bearer {world.api_key}"}
    port = free_port()
    spool = tmp_path / "spool"
    created = httpx.post(
        f"{server.base_url}/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/"}, headers=headers
    ).json()
    receiver = start_receiver(
        tmp_path,
        spool,
        secret=created["secret"],
        port=port,
        extra_env={"SOURCES__LUNE__WEBHOOK_TOLERANCE_SECONDS": TOLERANCE},
    )
    loader = Loader(workdir=tmp_path, transform=True)
    options = {"webhook_spool": str(spool), "transform_vars": VARS}
    env = {"SOURCES__LUNE__API_KEY": world.api_key, "SOURCES__LUNE__BASE_URL": server.base_url}
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            first = loader.run(**options)
            assert first.outcome == "succeeded", first.to_dict()
            before_lines = rows(
                loader,
                "select account_id, order_id, project_id, quantity_tonnes, reporting_year "
                "from lune_reporting.credit_lines where is_retired and not is_void_order",
            )
            before = esrs_retired(loader)
            changed_ids: set[str] = set()
            for _ in range(4):
                changed_ids |= set(
                    world.advance(new_orders=0, transitions=15, seconds=60)["changed"]
                )
            assert world.webhooks.wait_idle(60), world.webhooks.snapshot()
            run_started = datetime.now(UTC)
            second = loader.run(**options)
            assert second.outcome == "succeeded", second.to_dict()
    finally:
        receiver.stop()
    assert second.webhooks["loaded"] == len(world.webhooks.events)

    # every line an allocation.retired event retired: dated by the event, in the year before
    retired_events = [e for e in world.webhooks.events if e["event_type"] == "allocation.retired"]
    assert len(retired_events) >= 5, "the changes retired credits"
    lines = {
        (r["account_id"], r["order_id"], r["project_id"]): r
        for r in rows(loader, "select * from lune_reporting.credit_lines where is_retired")
    }
    for event in retired_events:
        allocation = event["data"]["allocation"]
        line = lines[(event["account_id"], allocation["order_id"], allocation["project_id"])]
        assert line["retired_at_source"] == "allocation_retired_event"
        assert line["retired_at"] == SIGNED
        assert line["retired_at_is_estimate"] is False
        assert run_started > line["retired_event_received_at"] > BOUNDARY
        assert line["reporting_year"] == EVENT_YEAR

    # the status history: the event's signed time, and the run that saw the move after it
    completed = {
        (e["account_id"], e["data"]["order"]["id"])
        for e in world.webhooks.events
        if e["event_type"] == "order.completed"
    }
    assert completed, "some orders completed"
    history = {
        (r["account_id"], r["order_id"]): r
        for r in rows(
            loader, "select * from lune_reporting.order_status_changes where status = 'complete'"
        )
    }
    for key in completed:
        change = history[key]
        assert (change["entered_at"], change["entered_at_source"]) == (SIGNED, "webhook_event")
        assert change["observed_at"] >= run_started > BOUNDARY
        assert change["is_witnessed_transition"] is True

    # ESRS per account and year: a retired line of a changed order moves into the event's
    # year when an event dates it (its allocation.retired, or the order's event of the status
    # it is in), else keeps the year it had; every other figure is unchanged
    order_events = {
        (e["account_id"], e["data"]["order"]["id"], e["data"]["order"]["status"])
        for e in world.webhooks.events
        if e["event_type"].startswith("order.")
    }
    allocation_events = {
        (
            e["account_id"],
            e["data"]["allocation"]["order_id"],
            e["data"]["allocation"]["project_id"],
        )
        for e in retired_events
    }
    earlier = {(r["account_id"], r["order_id"], r["project_id"]): r for r in before_lines}
    expected: dict[tuple[str, int], Decimal] = defaultdict(Decimal, before)
    for line in before_lines:
        if line["order_id"] in changed_ids:
            expected[(line["account_id"], line["reporting_year"])] -= line["quantity_tonnes"]
    moved = 0
    for account_id in world.account_ids():
        for order in world.orders(account_id):
            if order["id"] not in changed_ids or order["status"] in VOID:
                continue
            for project in order.get("projects") or []:
                if project["status"] != "retired":
                    continue
                key = (account_id, order["id"], project["project_id"])
                if key in allocation_events or (*key[:2], order["status"]) in order_events:
                    year = EVENT_YEAR
                    moved += 1
                else:
                    year = earlier[key]["reporting_year"]
                expected[(account_id, year)] += Decimal(project["quantity"])
    assert moved >= len(retired_events)
    after = esrs_retired(loader)
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in expected.items() if v}
    periods = rows(
        loader,
        "select distinct period_start, period_end from lune_reporting.esrs_e1_7_summary "
        f"where reporting_year = {EVENT_YEAR}",
    )
    assert periods == [{"period_start": date(2025, 11, 1), "period_end": date(2026, 10, 31)}]
