"""Fault matrix: the pipeline against the sandbox with each fault switched on, then compared
with the sandbox's truth. Zero rows lost or duplicated in every case (README carries the table)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from pipelines.runner import RunError
from tests.support.cli import run_cli
from tests.support.env import subprocess_env
from tests.support.warehouse import actual_rows, differences, expected_rows

REPO_ROOT = Path(__file__).resolve().parents[1]

FAULTS = {
    "429 bursts": {"burst_429": 5},
    "5xx at 20%": {"error_rate": 0.2},
    "truncated pages": {"truncate": 3},
    "connection resets": {"reset": 3},
    "3-second stall": {"stall": 3.0},
}


@pytest.fixture
def sandbox_server(sandbox_world):
    """The conftest server, with a fault seed whose first draws include 5xx answers at 20%
    (the default seed's first two dozen draws all happen to be above 0.2)."""
    with SandboxServer(sandbox_world, port=0, rate_limit=15, fault_seed=4) as server:
        yield server


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_transient_fault_loses_nothing(fault, loader, sandbox_server, sandbox_world):
    retries = 0
    for round_no in range(2):  # a full load, then an incremental one, both under the fault
        if round_no:
            sandbox_world.advance(new_orders=40, transitions=60)
        sandbox_server.faults.set(**FAULTS[fault])
        summary = loader.run()
        sandbox_server.faults.clear()
        retries += summary.requests.get("retries", 0)

        assert summary.outcome == "succeeded"
        assert loader.differences(sandbox_world) == []
    if fault != "3-second stall":  # a stall is slow, not an error: nothing to retry
        assert retries >= 1


def test_timeouts_are_retried(loader, sandbox_server, sandbox_world):
    loader.source_options = {"request_timeout": 1.0}
    sandbox_server.faults.set(stall=2.5)
    summary = loader.run()
    assert summary.requests.get("retries", 0) >= 1
    assert loader.differences(sandbox_world) == []


def test_persistent_outage_fails_clearly_and_keeps_the_last_good_load(
    loader, sandbox_server, sandbox_world
):
    loader.run()
    sandbox_world.advance(new_orders=30, transitions=30)
    sandbox_server.faults.set(error_rate=1.0)
    loader.source_options = {"max_attempts": 2}
    with pytest.raises(RunError, match="still failed after 2 attempts: HTTP 5"):
        loader.run()
    sandbox_server.faults.clear()
    loader.source_options = {}
    loader.run()
    assert loader.differences(sandbox_world) == []


KILL_POINTS = [
    "mid-extract",
    "after-extract",
    # normalize renamed the finished package into place, its extracted copy not yet deleted:
    # the next run used to normalize the copy again and fail on every later run (issue #18)
    "normalize-committed",
    "normalize-deleting",
    "after-normalize",
    # a job's rows committed, its completion not recorded: dlt runs it again on resume
    "history-committed",
    "in-load",
    "load-completed",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_each_step_then_rerun_converges(point, tmp_path):
    world = SandboxWorld.generate(seed=5, client_accounts=2, orders_per_account=300)
    with SandboxServer(world, port=0, rate_limit=None) as server:
        env = {"SOURCES__LUNE__API_KEY": world.api_key, "SOURCES__LUNE__BASE_URL": server.base_url}
        args = [
            "run",
            "--destination",
            "duckdb",
            "--no-views",
            "--pipelines-dir",
            str(tmp_path / "p"),
        ]
        assert run_cli(args, tmp_path, env).returncode == 0
        world.advance(new_orders=150, transitions=150)

        crashed = _crash(point, args, tmp_path, env)
        assert crashed.returncode == -9, crashed.stdout + crashed.stderr
        rerun = run_cli(args, tmp_path, env)
        assert rerun.returncode == 0, rerun.stderr

        with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
            assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
            duplicates = con.execute(
                "select count(*) from (select account_id, order_id, status, count(*) "
                "from lune.order_status_history group by all having count(*) > 1)"
            ).fetchone()[0]
        assert duplicates == 0


def _crash(point, args, workdir, env):
    # in the test's folder like run_cli; the repository on the path for tests.support
    clean = subprocess_env(
        {
            **env,
            "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "warehouse.duckdb"),
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "tests.support.crash_driver", point, *args],
        cwd=workdir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_second_concurrent_run_stops_at_once(loader, sandbox_server, sandbox_world):
    # Each request of the first run takes 0.3 s, and the second run starts once the sandbox
    # has answered the first one: the first run holds its lock before any request and still
    # has pages to read, however fast the machine (a fixed head start was not enough).
    sandbox_server.faults.set(latency=0.3)
    sandbox_server.clear_log()
    errors: list[str] = []

    thread = threading.Thread(target=loader.run)
    thread.start()
    deadline = time.monotonic() + 30
    while not sandbox_server.request_log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox_server.request_log, "the first run made no request within 30 s"
    try:
        loader.run()
    except RunError as e:
        errors.append(str(e))
    thread.join()
    sandbox_server.faults.clear()
    assert errors and "Another run of pipeline" in errors[0]
    assert loader.differences(sandbox_world) == []
