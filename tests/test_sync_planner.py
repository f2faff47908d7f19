"""The incremental planner on its own, over an in-memory order list (realistic sandbox
records), so that deep, long-open orders — rare in a random sandbox — are exercised: the
planner must fetch them by id when that is cheaper than scanning down to them."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lune_sandbox import SandboxWorld
from sources.lune.sync import AccountState, AccountSync

NOW = datetime(2026, 11, 28, tzinfo=UTC)


class ListedOrders:
    """Serves a newest-first list the way LuneClient does: pages, keep_going, get by id."""

    def __init__(self, orders: list[dict]) -> None:
        self.orders = orders
        self.stats: Counter[str] = Counter()

    def paginate(self, path, *, account_id=None, page_size=100, keep_going=None, **_):
        for start in range(0, len(self.orders), page_size):
            page = copy.deepcopy(self.orders[start : start + page_size])
            self.stats["list_page"] += 1
            yield page
            if start + page_size >= len(self.orders) or (keep_going and not keep_going(page)):
                return

    def get(self, path, *, account_id=None, kind="other", **_):
        self.stats[kind] += 1
        order_id = path.rsplit("/", 1)[1]
        return copy.deepcopy(next(o for o in self.orders if o["id"] == order_id))


def _sync(client: ListedOrders, state: AccountState) -> tuple[AccountSync, list[dict]]:
    sync = AccountSync(client, "acc", None, state, observed_at=NOW, load_id="1")
    emitted = [o for batch in sync.batches() for o in batch.orders]
    return sync, emitted


def _world_orders(n: int) -> list[dict]:
    world = SandboxWorld.generate(
        seed=1, client_accounts=0, empty_client_accounts=0, orders_per_account=n, open_share=0.0
    )
    return world.orders(world.account_ids()[0])


def _newer_copy(order: dict, i: int, minutes: int) -> dict:
    new = copy.deepcopy(order)
    new["id"] = f"new_{minutes}_{i}"
    created = datetime.fromisoformat(new["created_at"]) + timedelta(days=400, minutes=minutes)
    new["created_at"] = created.isoformat().replace("+00:00", "Z")
    new["status"] = "complete"
    return new


def test_deep_open_orders_are_fetched_by_id_when_cheaper():
    orders = _world_orders(1000)
    for deep in (500, 700):  # long-open orders far below the newest
        orders[deep]["status"] = "retiring"
    client = ListedOrders(orders)
    state = AccountState()
    _sync(client, state)
    assert set(state.open) == {orders[500]["id"], orders[700]["id"]}

    orders[500]["status"] = "complete"  # changes while deep in the list
    newest = [_newer_copy(orders[0], i, 1) for i in range(5)]
    client = ListedOrders(newest + orders)
    sync, emitted = _sync(client, state)

    assert sync.summary.refresh_strategy == "fetch"
    assert client.stats == {"list_page": 1, "order_fetch": 2}  # not the 8 pages a scan needs
    assert {o["id"] for o in emitted} == {*(o["id"] for o in newest), orders[500]["id"]}
    assert set(state.open) == {orders[700]["id"]}
    assert state.open[orders[700]["id"]][2] == 705  # its position, shifted by the new orders


def test_open_orders_near_the_top_are_refreshed_by_scanning():
    orders = _world_orders(1000)
    for shallow in range(120, 160, 2):  # twenty open orders on pages 2 and 3
        orders[shallow]["status"] = "paid"
    client = ListedOrders(orders)
    state = AccountState()
    _sync(client, state)
    client = ListedOrders([_newer_copy(orders[0], 0, 1), *orders])
    sync, _ = _sync(client, state)
    assert sync.summary.refresh_strategy == "scan"
    assert client.stats == {"list_page": 2}


@settings(max_examples=40, deadline=None)
@given(
    open_positions=st.sets(st.integers(min_value=0, max_value=899), max_size=30),
    changed=st.data(),
    new=st.integers(min_value=0, max_value=250),
)
def test_requests_never_exceed_the_bound_and_every_change_is_seen(open_positions, changed, new):
    orders = _world_orders(900)
    for position in open_positions:
        orders[position]["status"] = "placed"
    state = AccountState()
    _sync(ListedOrders(orders), state)

    to_change = changed.draw(
        st.sets(st.sampled_from(sorted(open_positions))) if open_positions else st.just(set())
    )
    for position in to_change:
        orders[position]["status"] = "paid"
    newest = [_newer_copy(orders[0], i, 2) for i in range(new)]
    client = ListedOrders(newest + orders)
    _, emitted = _sync(client, state)

    emitted_ids = {o["id"] for o in emitted}
    assert emitted_ids == {o["id"] for o in newest} | {orders[p]["id"] for p in to_change}
    # pages until one ends below the high-water mark minus the 300 s look-back window
    floor = datetime.fromisoformat(orders[0]["created_at"]) - timedelta(seconds=300)
    in_window = sum(1 for o in orders if datetime.fromisoformat(o["created_at"]) >= floor)
    new_pages = (new + in_window) // 100 + 1
    deep = [p + new for p in open_positions if p + new >= new_pages * 100]
    bound = new_pages + (min(max(deep) // 100 + 1 - new_pages, len(deep)) if deep else 0)
    assert client.stats["list_page"] + client.stats["order_fetch"] <= bound


def test_summary_reports_the_planners_bound_and_stays_within_it():
    orders = _world_orders(600)
    for shallow in range(150, 190, 4):  # ten open orders on page 2
        orders[shallow]["status"] = "paid"
    state = AccountState()
    _sync(ListedOrders(orders), state)
    client = ListedOrders([_newer_copy(orders[0], 0, 1), *orders])
    sync, _ = _sync(client, state)
    # one page of new orders, then one more page reaches every open order (1 < 10 fetches)
    assert sync.summary.planned_bound == 1 + 1
    assert client.stats["list_page"] <= sync.summary.planned_bound
