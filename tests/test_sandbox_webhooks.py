"""The sandbox's webhooks behave as Lune documents: an event for every lifecycle change,
`sequence` strictly increasing per account, signed batches redelivered unchanged until a 2xx
(with a growing backoff), occasional duplicates, accounts interleaved — and none of it changes
the orders a seed generates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from lune_sandbox.webhooks import ORDER_EVENTS, allocation_id
from tests.support.webhooks import capture_endpoint

FAST = {"backoff_initial": 0.05, "backoff_max": 0.4, "timeout": 5.0}


def make_world(seed: int = 99) -> SandboxWorld:
    return SandboxWorld.generate(
        seed=seed, client_accounts=3, orders_per_account={0: 25, 1: 25, 2: 25}, open_share=0.5
    )


def register(server: SandboxServer, url: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.base_url}/v1/webhooks",
        json={"url": url, **body},
        headers={"Authorization": f"Bearer {server.world.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def verify(secret: str, header: str, body: bytes) -> int:
    """Checks a delivery with Lune's rule, independently of any product code."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), fields["timestamp"].encode() + b"." + body, hashlib.sha256
    ).digest()
    assert base64.b64decode(fields["v1"]) == expected
    return int(fields["timestamp"])


def lifecycle(world: SandboxWorld, rounds: int = 5) -> None:
    for _ in range(rounds):
        world.advance(new_orders=6, transitions=30)
    for account_id in world.account_ids()[:2]:  # orders created through the API's path too
        from lune_sandbox.validation import parse_order_request

        request = parse_order_request(
            "quantity", b'{"mass": {"amount": "2.5", "unit": "t"}}', world.catalogue
        )
        world.create_order(account_id, request)


def test_webhooks_change_none_of_the_orders_a_seed_generates():
    """Same seed, same calls: a world that registers endpoints and delivers to them holds
    exactly the orders of one that does not (webhooks draw from generators of their own)."""
    plain, watched = make_world(), make_world()
    with capture_endpoint() as endpoint, SandboxServer(watched, webhook_settings=FAST) as server:
        register(server, endpoint.url)
        register(server, endpoint.url, account_ids=watched.account_ids()[1:2])
        lifecycle(plain)
        lifecycle(watched)
        assert watched.webhooks.wait_idle(30)
    assert watched.webhooks.events
    for account_id in plain.account_ids():
        assert watched.orders(account_id) == plain.orders(account_id)
    assert watched.advance() == plain.advance()  # and the generator is where it was


def test_every_lifecycle_change_is_an_event_with_the_state_after_it():
    world = make_world()
    hub = world.webhooks
    hub.create({"url": "https://hooks.example.com/lune"}, world.account_ids(), 0)
    before = {a: {o["id"]: o for o in world.orders(a)} for a in world.account_ids()}
    seen = len(hub.events)
    changes = world.advance(new_orders=10, transitions=60)
    new_events = hub.events[seen:]
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in new_events:
        data = event["data"]
        order_id = data["order"]["id"] if "order" in data else data["allocation"]["order_id"]
        by_order[order_id].append(event)
    assert set(by_order) <= set(changes["created"]) | set(changes["changed"])
    for account_id in world.account_ids():
        for order in world.orders(account_id):
            old = before[account_id].get(order["id"])
            events = by_order.get(order["id"], [])
            order_events = [e for e in events if e["event_type"].startswith("order.")]
            if old is None or old["status"] != order["status"]:
                # one order event, of its new status, whose snapshot is the order as served
                assert [e["event_type"] for e in order_events] == [ORDER_EVENTS[order["status"]]]
                assert order_events[0]["data"]["order"] == order
                assert events[-1] is order_events[0]  # after the allocations it caused
            else:
                assert order_events == []
            old_lines = (old or {}).get("projects") or []
            retired = [
                e["data"]["allocation"] for e in events if e["event_type"] == "allocation.retired"
            ]
            newly = [
                (i, line)
                for i, line in enumerate(order["projects"] or [])
                if line["status"] == "retired"
                and not (i < len(old_lines) and old_lines[i]["status"] == "retired")
            ]
            assert [(a["id"], a["project_id"], a["quantity"], a["status"]) for a in retired] == [
                (allocation_id(order["id"], i), line["project_id"], line["quantity"], "retired")
                for i, line in newly
            ]
            allocated = [
                e["data"]["allocation"] for e in events if e["event_type"] == "allocation.new"
            ]
            if order["projects"] and not old_lines:  # its projects were allocated just now
                assert [(a["project_id"], a["quantity"], a["status"]) for a in allocated] == [
                    (line["project_id"], line["quantity"], "new") for line in order["projects"]
                ]
            else:
                assert allocated == []
    kinds = Counter(e["event_type"] for e in new_events)
    assert {"allocation.new", "allocation.retired", "order.completed", "order.placed"} <= set(kinds)


def test_sequence_strictly_increases_per_account_and_event_ids_are_unique():
    world = make_world()
    world.webhooks.create({"url": "https://hooks.example.com/lune"}, world.account_ids(), 0)
    lifecycle(world)
    events = world.webhooks.events
    assert len({e["event_id"] for e in events}) == len(events)
    last: dict[str, str] = {}
    for event in events:
        previous = last.get(event["account_id"], "")
        assert event["sequence"] > previous  # compared as strings, as Lune says
        last[event["account_id"]] = event["sequence"]
    assert len(last) >= 3


def test_unacknowledged_batches_are_redelivered_unchanged_with_a_growing_backoff():
    world = make_world()

    def answer(number: int) -> int:
        if number == 4:
            time.sleep(0.6)  # over the timeout: Lune gives up and redelivers
        return 500 if number < 5 else 200

    settings = {**FAST, "backoff_initial": 0.1, "backoff_max": 5.0, "timeout": 0.3}
    with capture_endpoint(answer) as endpoint, SandboxServer(world, webhook_settings=settings) as s:
        created = register(s, endpoint.url)
        world.advance(new_orders=3, transitions=10)
        assert world.webhooks.wait_idle(30)
    attempts = world.webhooks.attempts
    failed, first_ok = attempts[:5], attempts[5]
    assert [a.status for a in failed] == [500, 500, 500, 500, None]
    assert failed[4].error == "ReadTimeout"
    assert first_ok.acknowledged
    # the same events, in the same order, until acknowledged: head-of-line blocking
    assert all(a.event_ids == failed[0].event_ids for a in [*failed, first_ok])
    tries = [*failed, first_ok]
    gaps = [b.started - (a.started + a.seconds) for a, b in itertools.pairwise(tries)]
    for n, gap in enumerate(gaps):
        assert gap >= 0.1 * 2**n * 0.5 - 0.02, gaps  # at least half the exponential step
    assert gaps[4] > gaps[0] * 2
    # each attempt is signed anew, at its own time; the acknowledged one verifies
    header, body, path = endpoint.requests[0]
    assert path == "/hook"
    assert verify(created["secret"], header, body) == first_ok.signed_at
    delivered = [e["event_id"] for b in endpoint.bodies() for e in b["events"]]
    assert set(delivered) == {e["event_id"] for e in world.webhooks.events}


def test_batches_duplicates_and_accounts_out_of_order():
    world = make_world()
    settings = {**FAST, "duplicate_rate": 0.5, "max_batch": 5}
    with capture_endpoint() as endpoint, SandboxServer(world, webhook_settings=settings) as s:
        created = register(s, endpoint.url)
        lifecycle(world, rounds=6)
        assert world.webhooks.wait_idle(30)
    emitted = {e["event_id"]: n for n, e in enumerate(world.webhooks.events)}
    stream: list[dict[str, Any]] = []
    for header, body, _ in endpoint.requests:
        verify(created["secret"], header, body)
        stream += orjson.loads(body)["events"]
    sizes = Counter(len(orjson.loads(b)["events"]) for _, b, _ in endpoint.requests)
    assert max(sizes) > 1 and max(sizes) <= 5
    ids = [e["event_id"] for e in stream]
    assert set(ids) == set(emitted)  # every event delivered (at least once)
    assert len(ids) > len(set(ids))  # some more than once
    # Lune's second way to dedupe: per account, drop an event whose sequence is not above
    # the last one kept. What is left is each account's events, all of them, in order.
    kept: dict[str, list[str]] = defaultdict(list)
    for event in stream:
        account = kept[event["account_id"]]
        if not account or event["sequence"] > account[-1]:
            account.append(event["sequence"])
    for account_id, sequences in kept.items():
        assert sequences == [
            e["sequence"] for e in world.webhooks.events if e["account_id"] == account_id
        ]
    first_seen = list(dict.fromkeys(ids))
    inversions = sum(1 for a, b in itertools.pairwise(first_seen) if emitted[a] > emitted[b])
    assert inversions > 0  # across accounts, not in the order they happened


def test_an_endpoint_for_some_accounts_gets_only_their_events():
    world = make_world()
    chosen = world.account_ids()[1]
    with capture_endpoint() as endpoint, SandboxServer(world, webhook_settings=FAST) as s:
        register(s, endpoint.url, account_ids=[chosen])
        lifecycle(world)
        assert world.webhooks.wait_idle(30)
    accounts = {e["account_id"] for b in endpoint.bodies() for e in b["events"]}
    assert accounts == {chosen}


def test_admin_endpoints_show_and_switch_delivery(sandbox_world):
    with SandboxServer(sandbox_world) as server, httpx.Client(base_url=server.base_url) as admin:
        settings = admin.post("/_sandbox/webhooks", json={"paused": True, "backoff_max": 2})
        assert settings.json()["settings"]["paused"] is True
        assert admin.post("/_sandbox/webhooks", json={"max_batch": 0}).status_code == 400
        assert admin.post("/_sandbox/webhooks", json={"nope": 1}).status_code == 400
        register(server, "https://hooks.example.com/lune")
        sandbox_world.advance(new_orders=3, transitions=5)
        state = admin.get("/_sandbox/webhooks").json()
        assert state["webhooks"][0]["pending"] == state["events"] > 0  # paused: all wait
        assert "secret" not in orjson.dumps(state).decode()
        events = admin.get("/_sandbox/webhook-events").json()
        assert [e["event_id"] for e in events] == [
            e["event_id"] for e in sandbox_world.webhooks.events
        ]
        assert admin.get("/_sandbox/webhook-attempts").json() == []


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/lune", "ftp://hooks.example.com", "https://nodot", "not a url"],
)
def test_only_https_or_loopback_urls_are_taken(sandbox_world, url):
    with SandboxServer(sandbox_world, rate_limit=None) as server:
        response = httpx.post(
            f"{server.base_url}/v1/webhooks",
            json={"url": url},
            headers={"Authorization": f"Bearer {sandbox_world.api_key}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["error_code"] == "validation_error"


def test_quantities_of_allocations_add_up_to_the_order():
    world = make_world()
    world.webhooks.create({"url": "https://hooks.example.com/lune"}, world.account_ids(), 0)
    for _ in range(8):
        world.advance(new_orders=0, transitions=40)
    new: dict[str, Decimal] = defaultdict(Decimal)
    for event in world.webhooks.events:
        if event["event_type"] == "allocation.new":
            allocation = event["data"]["allocation"]
            new[allocation["order_id"]] += Decimal(allocation["quantity"])
    assert new
    for account_id in world.account_ids():
        for order in world.orders(account_id):
            if order["id"] in new:
                assert new[order["id"]] == Decimal(order["quantity"])
