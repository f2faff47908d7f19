"""Lazy worlds (`SandboxWorld.generate(..., lazy=True)`, for a million orders): the same
promises as eager ones — deterministic per seed and calls, internally consistent orders,
keyset paging, lookups, forgetting, the lifecycle — without an object per generated order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from lune_sandbox.orders import OPEN_STATUSES, STATUSES
from tests.support.env import environment
from tests.support.loader import Loader
from tests.test_sandbox_behaviour import key, make_client, read_all, snapshot, world_problems

COUNTS = {0: 260, 1: 120, 2: 330}


def lazy_world(seed: int = 21, open_share: float = 0.1) -> SandboxWorld:
    return SandboxWorld.generate(
        seed=seed, client_accounts=3, orders_per_account=COUNTS, open_share=open_share, lazy=True
    )


@pytest.fixture
def world() -> SandboxWorld:
    return lazy_world()


@pytest.fixture
def client(world: SandboxWorld) -> Iterator[httpx.Client]:
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        make_client(server, world.api_key) as client,
    ):
        yield client


def _changes(world: SandboxWorld) -> list[object]:
    """The same calls on a world, returning what they said."""
    said: list[object] = [world.advance(new_orders=30, transitions=25, late_orders=2)]
    first = world.account_ids()[0]
    said.append(world.forget_order(first, world.orders(first)[40]["id"]))
    said.append(world.inject_malformed(first, "bad_decimal"))
    said.append(world.add_client_account("Newco", "EUR", 12))
    said.append(world.advance(new_orders=5, transitions=8))
    return said


def test_generation_and_changes_are_deterministic_per_seed():
    one, two = lazy_world(), lazy_world()
    assert snapshot(one) == snapshot(two)
    assert _changes(one) == _changes(two)
    assert snapshot(one) == snapshot(two)
    assert snapshot(lazy_world(seed=22)) != snapshot(one)


def test_a_lazy_world_has_the_promised_shape(world):
    counts = [len(world.orders(a)) for a in world.account_ids()]
    assert counts == [260, 120, 330, 0]
    orders = [o for a in world.account_ids() for o in world.orders(a)]
    assert {o["status"] for o in orders} == set(STATUSES)
    open_orders = [o for o in orders if o["status"] in OPEN_STATUSES]
    assert len(open_orders) == 26 + 12 + 33
    assert any(o["idempotency_key"] for o in orders) and any(o["estimate_id"] for o in orders)
    assert world_problems(world) == []
    # only the open orders are objects; the rest are rows of the arrays
    book = world.account_state(world.account_ids()[2]).book
    assert len(book._entries) == 33 and len(book.lazy) == 330 - 33


def test_paging_lookups_and_forgetting_over_http(client, world):
    account_id = world.account_ids()[2]
    headers = {"Lune-Account": account_id}
    served = read_all(client, account_id, limit=37)
    assert served == world.orders(account_id)
    assert [key(o) for o in served] == sorted((key(o) for o in served), reverse=True)
    assert len({o["id"] for o in served}) == 330

    terminal = next(o for o in served[100:] if o["status"] == "complete")
    assert client.get(f"/v1/orders/{terminal['id']}", headers=headers).json() == terminal
    keyed = next(o for o in served if o["idempotency_key"] and o["status"] == "complete")
    path = f"/v1/orders/by-idempotency-key/{keyed['idempotency_key']}"
    by_key = client.get(path, headers=headers)
    assert by_key.json() == keyed

    world.forget_order(account_id, terminal["id"])
    assert client.get(f"/v1/orders/{terminal['id']}", headers=headers).status_code == 404
    assert terminal["id"] not in {o["id"] for o in read_all(client, account_id)}
    assert len(world.orders(account_id)) == 329


def test_orders_created_between_pages_shift_no_page(client, world):
    account_id = world.account_ids()[0]
    before = world.orders(account_id)
    served = read_all(client, account_id, limit=50, between=lambda: world.advance(new_orders=4))
    # newer orders sit above the cursor: this pass sees exactly the orders it started with
    assert {o["id"] for o in served} >= {o["id"] for o in before if o["status"] == "complete"}
    assert len(served) == len({o["id"] for o in served})


def test_spooled_json_is_the_json_served_without_it(world, tmp_path: Path):
    account_id = world.account_ids()[0]
    before = world.orders(account_id)
    book = world.account_state(account_id).book
    assert book.lazy is not None
    assert book.lazy.spool(tmp_path / "spool.json") > 0
    assert world.orders(account_id) == before


def test_the_pipeline_loads_a_lazy_world_exactly(tmp_path):
    world = lazy_world(open_share=0.2)
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        loader = Loader(workdir=tmp_path)
        loader.run()
        assert loader.differences(world) == []
        world.advance(new_orders=40, transitions=60, late_orders=2)
        loader.run()
        assert loader.differences(world) == []
