"""A run killed (SIGKILL) at random points, then started again, ends with the same warehouse as
an uninterrupted run: nothing lost, nothing twice. Runs the real CLI in a subprocess."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.env import subprocess_env
from tests.support.warehouse import actual_rows, differences, expected_rows

TABLES = ("orders", "orders__bundles", "orders__projects", "order_status_history")


def _cli(workdir: Path, server: SandboxServer, world: SandboxWorld) -> subprocess.Popen:
    env = subprocess_env(
        {
            "SOURCES__LUNE__API_KEY": world.api_key,
            "SOURCES__LUNE__BASE_URL": server.base_url,
            "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "warehouse.duckdb"),
        }
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--destination",
            "duckdb",
            "--pipelines-dir",
            str(workdir / "pipelines"),
            "--no-views",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _history(path: Path) -> set[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return set(
            con.execute(
                "select account_id, order_id, status, previous_status "
                "from lune.order_status_history"
            ).fetchall()
        )


def _kill_then_finish(workdir: Path, server, world, rng: random.Random, attempts: int = 3) -> int:
    """Starts the run and SIGKILLs it after a random delay, `attempts` times, then lets one
    run finish; returns how many runs were actually killed (a fast run may finish first)."""
    kills = 0
    for _ in range(attempts):
        process = _cli(workdir, server, world)
        try:
            process.wait(timeout=rng.uniform(0.3, 1.6))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
    process = _cli(workdir, server, world)
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    return kills


def test_killed_runs_converge_to_the_uninterrupted_result(tmp_path):
    rng = random.Random(20261128)
    world = SandboxWorld.generate(seed=11, client_accounts=3, orders_per_account=400)
    reference = SandboxWorld.generate(seed=11, client_accounts=3, orders_per_account=400)
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir()
    clean_dir.mkdir()
    total_kills = 0
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        SandboxServer(reference, port=0, rate_limit=None) as clean_server,
    ):
        # latency stretches a run over a few seconds so kills land in extract, normalize and load
        server.faults.set(latency=0.02)
        for round_no in range(3):
            if round_no:
                world.advance(new_orders=80, transitions=120)
                reference.advance(new_orders=80, transitions=120)
            total_kills += _kill_then_finish(killed_dir, server, world, rng)
            process = _cli(clean_dir, clean_server, reference)
            assert process.wait(timeout=300) == 0, process.stdout.read().decode()

            killed_db, clean_db = killed_dir / "warehouse.duckdb", clean_dir / "warehouse.duckdb"
            with duckdb.connect(str(killed_db), read_only=True) as con:
                assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
            # the history is the same set of observations as the uninterrupted run's
            assert _history(killed_db) == _history(clean_db)
    assert total_kills >= 3, "the test should have interrupted some runs"
