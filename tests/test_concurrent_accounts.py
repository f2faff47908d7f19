"""Accounts read at once (the default) against one after another: the same warehouse, the same
per-account sync state and the same requests per account, on a backfill and on incremental
runs after new orders, lifecycle steps, late arrivals and a vanished order."""

from __future__ import annotations

from typing import Any

import dlt
import duckdb
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.env import environment
from tests.support.loader import Loader

# columns a run stamps with its own time or id: they differ between any two runs
_RUN_COLUMNS = {"synced_at", "observed_at", "vanished_at", "load_id", "_dlt_load_id", "_dlt_id"}
_TABLES = ("orders", "orders__bundles", "orders__projects", "order_status_history")


def _world() -> SandboxWorld:
    return SandboxWorld.generate(
        seed=41,
        client_accounts=3,
        orders_per_account={0: 230, 1: 90, 2: 310, 3: 150},
        open_share=0.15,
    )


def _tables(loader: Loader) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with duckdb.connect(str(loader.db_path), read_only=True) as con:
        for table in _TABLES:
            columns = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'lune' and table_name = ? order by column_name",
                    [table],
                ).fetchall()
                if name not in _RUN_COLUMNS
            ]
            rows = con.execute(f"select {', '.join(columns)} from lune.{table}").fetchall()
            found[table] = sorted(rows, key=repr)
    return found


def _state(loader: Loader) -> dict[str, Any]:
    pipeline = dlt.attach(
        loader.pipeline_name,
        pipelines_dir=str(loader.pipelines_dir),
        destination=loader.options().destination,
    )
    return pipeline.state["sources"]["lune"]["resources"]["orders"]["accounts"]


def _requests(summary: Any) -> dict[str, Any]:
    return {a["account_id"]: (a["requests"], a["orders"]) for a in summary.accounts}


def test_concurrent_and_sequential_reads_give_the_same_warehouse_and_state(tmp_path):
    worlds = {"sequential": _world(), "concurrent": _world()}
    loaders = {
        "sequential": Loader(tmp_path / "sequential", source_options={"concurrent_accounts": 1}),
        "concurrent": Loader(tmp_path / "concurrent", source_options={"concurrent_accounts": 4}),
    }
    servers = {name: SandboxServer(world, port=0, rate_limit=15) for name, world in worlds.items()}
    try:
        for server in servers.values():
            server.start().faults.set(latency=0.01)  # enough for the accounts to interleave
        vanished: set[str] = set()
        for round_no in range(3):
            summaries = {}
            for name, loader in loaders.items():
                world = worlds[name]
                if round_no == 1:
                    world.advance(new_orders=60, transitions=70, late_orders=2)
                if round_no == 2:
                    first = world.account_ids()[2]
                    still_open = next(o for o in world.orders(first) if o["status"] == "placed")
                    world.forget_order(first, still_open["id"])
                    vanished.add(still_open["id"])  # its row stays, marked vanished
                    world.advance(new_orders=25, transitions=40)
                with environment(
                    SOURCES__LUNE__API_KEY=world.api_key,
                    SOURCES__LUNE__BASE_URL=servers[name].base_url,
                ):
                    summaries[name] = loader.run()
                problems = loader.differences(world)
                assert [p for p in problems if not any(i in p for i in vanished)] == []
            assert _tables(loaders["sequential"]) == _tables(loaders["concurrent"])
            assert _state(loaders["sequential"]) == _state(loaders["concurrent"])
            assert _requests(summaries["sequential"]) == _requests(summaries["concurrent"])
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize(("workers", "read_at_once"), [(4, True), (1, False)])
def test_accounts_held_up_by_latency_are_read_at_once(tmp_path, workers, read_at_once):
    """At 50 ms a request, an account's sync waits for its pages nearly all the time, so the
    source starts the next accounts while the first is still being read (`reads._Starter`):
    the accounts' list requests overlap in time. Each account's first pages are read early,
    at the start, whatever the setting, so only the later ones are compared. One account at
    a time, they never overlap (the observation tells the two apart)."""
    world = SandboxWorld.generate(
        seed=43, client_accounts=3, orders_per_account=dict.fromkeys(range(4), 1_000)
    )
    loader = Loader(tmp_path, source_options={"concurrent_accounts": workers})
    with SandboxServer(world, port=0, rate_limit=None) as server:
        server.faults.set(latency=0.05)
        with environment(
            SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url
        ):
            loader.run()
        pages = [r for r in server.request_log if r.path == "/v1/orders"]
    assert loader.differences(world) == []
    spans = []
    for account in world.account_ids():
        times = sorted(r.ts for r in pages if r.account_id == account)[3:]
        if times:
            spans.append((times[0], times[-1]))
    assert len(spans) == 4
    overlapping = any(
        a_start < b_end and b_start < a_end
        for i, (a_start, a_end) in enumerate(spans)
        for b_start, b_end in spans[i + 1 :]
    )
    assert overlapping == read_at_once


class _FakeSync:
    """What `reads._Starter` reads of a sync: the seconds it waited for pages by a time."""

    def __init__(self) -> None:
        self.wait_since: float | None = None
        self.waited = 0.0

    def waited_by(self, now: float) -> float:
        return self.waited + (now - self.wait_since if self.wait_since is not None else 0.0)


def test_starter_adds_accounts_only_while_the_running_ones_wait_for_pages(monkeypatch):
    from sources.lune import reads

    clock = [100.0]
    monkeypatch.setattr(reads.time, "perf_counter", lambda: clock[0])
    syncs = [_FakeSync() for _ in range(6)]
    started: list[int] = []
    starter = reads._Starter(syncs, 4, started.append)  # type: ignore[arg-type]

    starter.start_next()
    assert started == [0]
    syncs[0].wait_since = 100.0
    clock[0] = 100.01  # too soon to judge
    starter.check()
    assert started == [0]
    syncs[0].wait_since, syncs[0].waited = None, 0.04  # waited 0.04 s of 0.10 s: busy
    clock[0] = 100.1
    starter.check()
    assert started == [0]
    syncs[0].waited = 0.04 + 0.065  # 65% of the next 0.1 s: ceil(1 / 0.35) = 3 keep it going
    clock[0] = 100.2
    starter.check()
    assert started == [0, 1, 2]
    for sync in syncs[:3]:  # all three waiting for a page ever since (waits under way count)
        sync.wait_since = clock[0]
    clock[0] = 100.3
    starter.check()
    assert started == [0, 1, 2, 3]  # 100% waiting: as many as allowed
    clock[0] = 101.0
    starter.check()
    assert started == [0, 1, 2, 3]
    starter.finished(1)  # a finished account's place goes to the next
    assert started == [0, 1, 2, 3, 4]
    starter.finished(0)
    assert started == [0, 1, 2, 3, 4, 5]
    for index in (2, 3, 4, 5):
        starter.finished(index)
    starter.check()
    assert started == [0, 1, 2, 3, 4, 5]
