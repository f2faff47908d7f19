"""Property: after every incremental run the warehouse equals the sandbox, and the run made no
more requests than the planner's bound (new pages + min(scan pages, open orders)).

Hypothesis drives the sandbox through random rounds of new orders (some visible late, some
sharing a created_at), lifecycle steps of open orders, and runs the real pipeline after each.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lune_sandbox import SandboxServer, SandboxWorld
from sources.lune.settings import LOOKBACK_SECONDS, PAGE_SIZE, TERMINAL_STATUSES
from tests.support.env import environment
from tests.support.loader import Loader

ROUND = st.tuples(
    st.integers(min_value=0, max_value=120),  # new orders
    st.integers(min_value=0, max_value=80),  # lifecycle steps
    st.integers(min_value=0, max_value=3),  # orders that become visible late
)


def _created(order: dict) -> datetime:
    return datetime.fromisoformat(order["created_at"])


def request_bound(before: list[dict], after: list[dict]) -> int:
    """Independent of the planner: the requests an optimal reader of this account needs."""
    if not before:
        return len(after) // PAGE_SIZE + 1
    floor = max(_created(o) for o in before) - timedelta(seconds=LOOKBACK_SECONDS)
    newer = sum(1 for o in after if _created(o) >= floor)
    new_pages = newer // PAGE_SIZE + 1
    was_open = {o["id"] for o in before if o["status"] not in TERMINAL_STATUSES}
    positions = [i for i, o in enumerate(after) if o["id"] in was_open]
    unseen = [p for p in positions if p >= new_pages * PAGE_SIZE]
    if not unseen:
        return new_pages
    scan_pages = max(unseen) // PAGE_SIZE + 1 - new_pages
    return new_pages + min(scan_pages, len(unseen))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000), rounds=st.lists(ROUND, min_size=1, max_size=4)
)
def test_every_run_matches_the_sandbox_within_the_request_bound(tmp_path_factory, seed, rounds):
    world = SandboxWorld.generate(
        seed=seed,
        client_accounts=2,
        orders_per_account=260,
        empty_client_accounts=0,
        open_share=0.1,
    )
    loader = Loader(workdir=tmp_path_factory.mktemp("prop"))
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        loader.run()
        assert loader.differences(world) == []
        for new_orders, transitions, late in rounds:
            before = {a: world.orders(a) for a in world.account_ids()}
            world.advance(new_orders=new_orders, transitions=transitions, late_orders=late)
            summary = loader.run()

            assert loader.differences(world) == [], (new_orders, transitions, late)
            for account in summary.accounts:
                account_id = account["account_id"]
                used = account["requests"]["list_pages"] + account["requests"]["order_fetches"]
                bound = request_bound(before[account_id], world.orders(account_id))
                assert used <= bound, (account_id, account, bound)
