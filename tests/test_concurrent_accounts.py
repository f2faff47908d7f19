"""Accounts read at once (the default) against one after another: the same warehouse, the same
per-account sync state and the same requests per account, on a backfill and on incremental
runs after new orders, lifecycle steps, late arrivals and a vanished order."""

from __future__ import annotations

from typing import Any

import dlt
import duckdb

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
