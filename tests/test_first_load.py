"""The first backfill into empty order tables is appended, not merged (no staging table, no
de-duplication), and stays exact when the run is killed at the one moment a load job can run
twice: after the job committed, before dlt recorded it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.cli import run_cli
from tests.support.env import subprocess_env
from tests.support.warehouse import actual_rows, differences, expected_rows

REPO_ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "--destination", "duckdb", "--no-views", "--pipelines-dir", "p"]


def _staged_tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'lune_staging'"
            ).fetchall()
        }


def _history_keys(path: Path) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select count(*), count(distinct (account_id, order_id, status)) "
            "from lune.order_status_history"
        ).fetchone()


def _env(world: SandboxWorld, server: SandboxServer, workdir: Path) -> dict[str, str]:
    return {
        "SOURCES__LUNE__API_KEY": world.api_key,
        "SOURCES__LUNE__BASE_URL": server.base_url,
        "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "warehouse.duckdb"),
    }


def test_the_first_backfill_is_appended_and_later_runs_merge(tmp_path):
    world = SandboxWorld.generate(seed=8, client_accounts=2, orders_per_account=220)
    warehouse = tmp_path / "warehouse.duckdb"
    with SandboxServer(world, port=0, rate_limit=None) as server:
        env = _env(world, server, tmp_path)
        assert run_cli(ARGS, tmp_path, env).returncode == 0
        # nothing of the order tables went through the merge's staging tables
        assert not _staged_tables(warehouse) & {"orders", "orders__bundles", "orders__projects"}
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
            tombstones = con.execute(
                "select count(*) from lune.orders__projects where _lune_tombstone"
            ).fetchone()[0]
        assert tombstones == 0

        world.advance(new_orders=50, transitions=80)
        assert run_cli(ARGS, tmp_path, env).returncode == 0
        assert {"orders", "orders__bundles", "orders__projects"} <= _staged_tables(warehouse)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
    count, distinct = _history_keys(warehouse)
    assert count == distinct


def test_killed_after_the_orders_job_committed_the_rerun_writes_each_row_once(tmp_path):
    world = SandboxWorld.generate(seed=9, client_accounts=2, orders_per_account=260)
    with SandboxServer(world, port=0, rate_limit=None) as server:
        env = _env(world, server, tmp_path)
        crashed = subprocess.run(
            [sys.executable, "-m", "tests.support.crash_driver", "after-orders-commit", *ARGS],
            cwd=tmp_path,
            env=subprocess_env({**env, "PYTHONPATH": str(REPO_ROOT)}),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert crashed.returncode == -9, crashed.stdout + crashed.stderr
        with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
            written = con.execute("select count(*) from lune.orders").fetchone()[0]
        total = sum(len(world.orders(a)) for a in world.account_ids())
        assert written == total  # committed: the rerun would write every order a second time

        rerun = run_cli(ARGS, tmp_path, env)
        assert rerun.returncode == 0, rerun.stderr
        repaired = f"removed {total} row(s) of orders that an interrupted load job had written"
        assert repaired in rerun.stderr
        with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
            # actual_rows fails on a duplicate key
            assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
    count, distinct = _history_keys(tmp_path / "warehouse.duckdb")
    assert count == distinct
