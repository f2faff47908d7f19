"""End to end against the sandbox: lifecycle changes → signed deliveries → the receiver
(`lune-pipeline webhooks serve`, a subprocess) → `lune-pipeline run` → `webhook_events`,
compared with the sandbox's own record of what it emitted and sent. Includes the receiver
killed with SIGKILL in the middle of deliveries."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from lune_sandbox.webhooks import Attempt
from tests.support.cli import run_cli
from tests.support.loader import Loader
from tests.support.webhooks import free_port, start_receiver

FAST = {"backoff_initial": 0.05, "backoff_max": 0.4, "timeout": 5.0}
COLUMNS = (
    "event_id",
    "account_id",
    "event_type",
    "sequence",
    "order_id",
    "object_id",
    "project_id",
    "status",
    "quantity",
    "signed_at",
    "received_at",
    "event",
)


@pytest.fixture
def world() -> SandboxWorld:
    """Three accounts with orders, a good share still open (so advancing changes many)."""
    return SandboxWorld.generate(
        seed=1717, client_accounts=3, orders_per_account={0: 30, 1: 30, 2: 30}, open_share=0.5
    )


@pytest.fixture
def server(world: SandboxWorld) -> Iterator[SandboxServer]:
    settings = {**FAST, "duplicate_rate": 0.3, "max_batch": 6}
    with SandboxServer(world, rate_limit=None, webhook_settings=settings) as running:
        yield running


def expected_row(event: dict[str, Any]) -> dict[str, Any]:
    """What `webhook_events` must hold for an event the sandbox emitted (times aside)."""
    data = event["data"]
    obj = data.get("order") or data["allocation"]
    quantity = obj.get("quantity")
    return {
        "event_id": event["event_id"],
        "account_id": event["account_id"],
        "event_type": event["event_type"],
        "sequence": event["sequence"],
        "order_id": obj["id"] if "order" in data else obj["order_id"],
        "object_id": obj["id"],
        "project_id": obj.get("project_id"),
        "status": obj["status"],
        "quantity": Decimal(quantity) if quantity is not None else None,
        "event": event,
    }


def loaded(db: Path) -> dict[str, dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"select {', '.join(COLUMNS)} from lune.webhook_events").fetchall()
    found: dict[str, dict[str, Any]] = {}
    for values in rows:
        row = dict(zip(COLUMNS, values, strict=True))
        row["event"] = orjson.loads(row["event"])
        assert row["event_id"] not in found, "one row per event"
        found[row["event_id"]] = row
    return found


def signed_times(attempts: list[Attempt], acknowledged_only: bool) -> dict[str, list[int]]:
    times: dict[str, list[int]] = {}
    for attempt in attempts:
        if attempt.acknowledged or not acknowledged_only:
            for event_id in attempt.event_ids:
                times.setdefault(event_id, []).append(attempt.signed_at)
    return times


def check_rows(rows: dict[str, dict[str, Any]], world: SandboxWorld, exact: bool) -> None:
    """Every emitted event once, as emitted; signed_at the first acknowledged delivery's
    (`exact`), or at least one the sandbox signed and no later than the first acknowledged."""
    emitted = {e["event_id"]: e for e in world.webhooks.events}
    assert set(rows) == set(emitted)
    acknowledged = signed_times(world.webhooks.attempts, acknowledged_only=True)
    attempted = signed_times(world.webhooks.attempts, acknowledged_only=False)
    for event_id, event in emitted.items():
        row = rows[event_id]
        assert {k: row[k] for k in expected_row(event)} == expected_row(event)
        signed = int(row["signed_at"].timestamp())
        first = min(acknowledged[event_id])
        if exact:
            assert signed == first
        else:
            assert signed in attempted[event_id] and signed <= first
        assert timedelta(0) <= row["received_at"] - row["signed_at"] < timedelta(seconds=5)


def acknowledged(world: SandboxWorld) -> int:
    return world.webhooks.snapshot()["webhooks"][0]["acknowledged_events"]


def wait_for_acknowledged(world: SandboxWorld, count: int) -> None:
    deadline = time.monotonic() + 60
    while acknowledged(world) < count:
        assert time.monotonic() < deadline, world.webhooks.snapshot()
        time.sleep(0.005)


def advance(world: SandboxWorld, rounds: int, **kwargs: int) -> None:
    for _ in range(rounds):
        world.advance(**kwargs)


def test_lifecycle_changes_reach_webhook_events_once_each(tmp_path, world, server):
    """Register with the CLI before the receiver is up (the first deliveries fail and are
    redelivered), deliver with duplicates, load twice with `lune-pipeline run`."""
    port = free_port()
    spool = tmp_path / "spool"
    env = {
        "SOURCES__LUNE__API_KEY": world.api_key,
        "SOURCES__LUNE__BASE_URL": server.base_url,
        "SOURCES__LUNE__WEBHOOK_SPOOL": str(spool),
    }
    registered = run_cli(
        ["webhooks", "register", "--url", f"http://127.0.0.1:{port}/"], tmp_path, env
    )
    assert registered.returncode == 0, registered.stderr
    secret = re.search(r"^ {4}(whsec_\w+)$", registered.stdout, re.M).group(1)
    assert registered.stdout.count(secret) == 1 and "SOURCES__LUNE__WEBHOOK_SECRET" in (
        registered.stdout
    )
    listed = httpx.get(
        f"{server.base_url}/v1/webhooks", headers={"Authorization": f"Bearer {world.api_key}"}
    ).json()
    assert [(w["url"], w["secret"]) for w in listed] == [(f"http://127.0.0.1:{port}/", secret[-4:])]

    advance(world, 2, new_orders=8, transitions=25)
    time.sleep(0.3)  # deliveries are refused meanwhile: nothing listens yet
    assert world.webhooks.pending() > 0
    receiver = start_receiver(tmp_path, spool, secret=secret, port=port)
    try:
        advance(world, 3, new_orders=8, transitions=25)
        assert world.webhooks.wait_idle(60), world.webhooks.snapshot()
    finally:
        receiver.stop()
    attempts = world.webhooks.attempts
    assert any(a.status is None for a in attempts), "deliveries before the receiver was up"
    assert any(len(a.event_ids) > 1 for a in attempts), "batches of several events"
    delivered = [e for a in attempts if a.acknowledged for e in a.event_ids]
    assert len(delivered) > len(set(delivered)), "the sandbox sent duplicates"
    types = {e["event_type"] for e in world.webhooks.events}
    assert {"order.placed", "order.completed", "allocation.new", "allocation.retired"} <= types

    pipelines = str(tmp_path / "pipelines")
    first = run_cli(["run", "--pipelines-dir", pipelines], tmp_path, env)
    assert first.returncode == 0, first.stderr[-3000:]
    events = len(world.webhooks.events)
    # one file per acknowledged delivery, except a delivery sent twice with the same signed
    # bytes (same events, same second): the receiver knows it and stores it once
    stored = {(a.signed_at, tuple(a.event_ids)) for a in attempts if a.acknowledged}
    occurrences = sum(len(ids) for _, ids in stored)
    assert (
        f"webhooks: files {len(stored)}, events {occurrences}, loaded {events}, "
        f"duplicates {occurrences - events}, already_loaded 0, quarantined_files 0,"
    ) in first.stdout, first.stdout
    rows = loaded(tmp_path / "warehouse.duckdb")
    check_rows(rows, world, exact=True)
    assert len(list((spool / "done").iterdir())) == len(stored)
    assert list((spool / "incoming").iterdir()) == []

    # the staging model over them, built by the run (dbt build, its tests passed)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        staged = con.execute(
            "select count(*), count(distinct event_id), count(allocation_id) "
            "from lune_staging.stg_lune__webhook_events"
        ).fetchone()
    allocations = sum(e["event_type"].startswith("allocation.") for e in world.webhooks.events)
    assert staged == (events, events, allocations)

    second = run_cli(["run", "--pipelines-dir", pipelines, "--no-transform"], tmp_path, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "webhooks: files 0, events 0, loaded 0" in second.stdout
    assert loaded(tmp_path / "warehouse.duckdb") == rows


def test_receiver_killed_mid_delivery_loses_and_duplicates_nothing(tmp_path, world, server):
    """SIGKILL while deliveries flow: the sandbox redelivers what was not acknowledged, a
    second receiver takes it, and after the next run every event is loaded exactly once."""
    server.world.webhooks.configure(max_batch=3, pace=0.02, duplicate_rate=0.1)
    port = free_port()
    spool = tmp_path / "spool"
    created = httpx.post(
        f"{server.base_url}/v1/webhooks",
        json={"url": f"http://127.0.0.1:{port}/"},
        headers={"Authorization": f"Bearer {world.api_key}"},
    ).json()
    loader = Loader(workdir=tmp_path)
    env = {"SOURCES__LUNE__API_KEY": world.api_key, "SOURCES__LUNE__BASE_URL": server.base_url}
    first = start_receiver(tmp_path, spool, secret=created["secret"], port=port)
    advance(world, 3, new_orders=10, transitions=40)
    wait_for_acknowledged(world, len(world.webhooks.events) // 3)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        summary = loader.run(webhook_spool=str(spool))  # a run while deliveries go on
    assert summary.outcome == "succeeded" and summary.webhooks["loaded"] > 0
    advance(world, 4, new_orders=10, transitions=40)
    total = len(world.webhooks.events)
    wait_for_acknowledged(world, acknowledged(world) + 20)
    first.kill()
    killed_at = time.time()
    assert world.webhooks.pending() > 0, "killed in the middle of the deliveries"
    advance(world, 2, new_orders=5, transitions=20)  # more changes while it is down
    time.sleep(0.5)
    second = start_receiver(tmp_path, spool, secret=created["secret"], port=port, log_name="2.log")
    try:
        assert world.webhooks.wait_idle(60), world.webhooks.snapshot()
    finally:
        second.stop()
    refused = [a for a in world.webhooks.attempts if a.started >= killed_at and a.status is None]
    assert refused, "deliveries failed while no receiver ran, and were redelivered"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        summary = loader.run(webhook_spool=str(spool))
    assert summary.outcome == "succeeded"
    rows = loaded(loader.db_path)
    check_rows(rows, world, exact=False)
    assert len(rows) == len(world.webhooks.events) > total
    assert list((spool / "incoming").iterdir()) == []


def test_sandbox_deliveries_verify_with_the_products_receiver_rules(world, server, tmp_path):
    """The product's verifier accepts what the sandbox signs, and dates it as signed."""
    from sources.lune.webhooks.events import parse_delivery
    from sources.lune.webhooks.signature import verify

    bodies: list[tuple[str, bytes]] = []

    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            bodies.append((self.headers["Lune-HMAC"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        created = httpx.post(
            f"{server.base_url}/v1/webhooks",
            json={"url": f"http://127.0.0.1:{httpd.server_address[1]}/hook"},
            headers={"Authorization": f"Bearer {world.api_key}"},
        ).json()
        world.advance(new_orders=5, transitions=20)
        assert world.webhooks.wait_idle(30)
    finally:
        httpd.shutdown()
    assert bodies
    for header, body in bodies:
        checked = verify(created["secret"], header, body, now=time.time())
        assert checked.organisation == world.default_account["organisation_id"]
        assert abs(datetime.fromtimestamp(checked.signed_at, UTC) - datetime.now(UTC)) < (
            timedelta(seconds=60)
        )
        assert parse_delivery(body)
