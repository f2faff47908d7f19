"""What a killed run leaves behind never blocks the next run and never costs an order.

A run is killed (a real SIGKILL, in a subprocess) at a chosen point; what it left is then
damaged on purpose or the next run is interrupted too; the next run must succeed and the
warehouse must equal the sandbox, with the orders of any package set aside read again from
the API. Expectations come from the sandbox's own records (tests/support/warehouse.py).
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.runner import RunError
from tests.support.cli import run_cli
from tests.support.env import subprocess_env
from tests.support.loader import Loader

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli_args(loader: Loader) -> list[str]:
    return [
        "--destination",
        "duckdb",
        "--dataset",
        loader.dataset,
        "--pipeline-name",
        loader.pipeline_name,
        "--pipelines-dir",
        str(loader.pipelines_dir),
    ]


def _env(loader: Loader, world, server) -> dict[str, str]:
    return {
        "SOURCES__LUNE__API_KEY": world.api_key,
        "SOURCES__LUNE__BASE_URL": server.base_url,
        "DESTINATION__DUCKDB__CREDENTIALS": str(loader.db_path),
    }


def _crash(point: str, loader: Loader, world, server) -> subprocess.CompletedProcess[str]:
    """`lune-pipeline run` on the loader's pipeline, SIGKILLed at `point`."""
    # in the test's folder, like run_cli; the repository on the path for tests.support
    env = subprocess_env({**_env(loader, world, server), "PYTHONPATH": str(REPO_ROOT)})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.crash_driver",
            point,
            "run",
            "--no-views",
            *_cli_args(loader),
        ],
        cwd=loader.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -9, result.stdout + result.stderr
    return result


def _working_dir(loader: Loader) -> Path:
    return loader.pipelines_dir / loader.pipeline_name


def _only_package(loader: Loader, stage: str) -> Path:
    folder = {"extracted": "normalize/extracted", "normalized": "load/normalized"}[stage]
    packages = [p for p in (_working_dir(loader) / folder).iterdir() if p.is_dir()]
    assert len(packages) == 1, packages
    return packages[0]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _history(loader: Loader) -> set[tuple[str, str, str]]:
    with loader.connect() as con:
        return set(
            con.execute(
                "select account_id, order_id, status from lune.order_status_history"
            ).fetchall()
        )


def _current_statuses(world) -> set[tuple[str, str, str]]:
    return {(a, o["id"], o["status"]) for a in world.account_ids() for o in world.orders(a)}


@pytest.mark.parametrize("stage", ["extracted", "normalized"])
def test_a_corrupt_leftover_is_set_aside_and_its_orders_are_read_again(
    stage, loader, sandbox_world, sandbox_server, tmp_path
):
    loader.run()
    created = sandbox_world.advance(new_orders=12, transitions=25)["created"]
    _crash("after-extract" if stage == "extracted" else "after-normalize", loader,
           sandbox_world, sandbox_server)  # fmt: skip
    package = _only_package(loader, stage)
    [orders_file] = (package / "new_jobs").glob("orders.*.parquet")
    _truncate(orders_file)

    summary = loader.run()

    assert summary.outcome == "succeeded"
    [aside] = summary.set_aside_packages
    assert (aside["load_id"], aside["stage"]) == (package.name, stage)
    step = "normalize" if stage == "extracted" else "load"
    assert aside["reason"].startswith(f"{step} failed: job orders.")
    assert "magic bytes" in aside["reason"]  # pyarrow's and DuckDB's word for a cut file
    # the orders that package held came again from the API, as new, and nothing is missing
    assert summary.orders["new"] == len(created)
    assert loader.differences(sandbox_world) == []
    assert _current_statuses(sandbox_world) <= _history(loader)

    # moved aside whole, with its reason, out of dlt's way
    record = json.loads((Path(aside["path"]) / "set_aside.json").read_text())
    assert record["complete"] and record["reason"] == aside["reason"]
    assert list((Path(aside["path"]) / "package").rglob("orders.*.parquet"))
    assert not package.exists()

    # status tells: nothing pending, one package set aside and why
    env = _env(loader, sandbox_world, sandbox_server)
    status = run_cli(["status", "--json", *_cli_args(loader)], tmp_path, env)
    shown = json.loads(status.stdout)
    assert shown["pending_packages"] == []
    assert [(p["load_id"], p["reason"]) for p in shown["set_aside_packages"]] == [
        (package.name, aside["reason"])
    ]
    text = run_cli(["status", *_cli_args(loader)], tmp_path, env).stdout
    assert "set-aside packages: 1" in text and "magic bytes" in text

    # and the next run has nothing left to do
    again = loader.run()
    assert again.set_aside_packages == [] and again.resumed_pending_packages == 0


def test_status_shows_the_package_a_killed_run_left(
    loader, sandbox_world, sandbox_server, tmp_path
):
    loader.run()
    sandbox_world.advance(new_orders=5, transitions=5)
    _crash("after-normalize", loader, sandbox_world, sandbox_server)
    package = _only_package(loader, "normalized")
    env = _env(loader, sandbox_world, sandbox_server)

    shown = json.loads(run_cli(["status", "--json", *_cli_args(loader)], tmp_path, env).stdout)
    assert [(p["load_id"], p["stage"]) for p in shown["pending_packages"]] == [
        (package.name, "normalized")
    ]
    text = run_cli(["status", *_cli_args(loader)], tmp_path, env).stdout
    assert "pending packages: 1" in text and package.name in text

    summary = loader.run()
    assert summary.resumed_pending_packages == 1
    assert loader.differences(sandbox_world) == []


def test_a_kill_while_a_package_is_set_aside_loses_no_order(loader, sandbox_world, sandbox_server):
    """Killed after the bad package was moved aside but before the sync state was rewound:
    the state still counts the package's orders as read. The next run must finish the
    set-aside (rewind) before it extracts, or those orders would never come again."""
    loader.run()
    created = sandbox_world.advance(new_orders=10, transitions=20)["created"]
    _crash("after-extract", loader, sandbox_world, sandbox_server)
    _truncate(next((_only_package(loader, "extracted") / "new_jobs").glob("orders.*.parquet")))
    _crash("set-aside-moved", loader, sandbox_world, sandbox_server)
    [record_file] = loader.pipelines_dir.glob(".lune_test.set_aside/*/set_aside.json")
    assert json.loads(record_file.read_text())["complete"] is False

    summary = loader.run()

    assert summary.orders["new"] == len(created)
    assert loader.differences(sandbox_world) == []
    assert _current_statuses(sandbox_world) <= _history(loader)
    assert json.loads(record_file.read_text())["complete"] is True


def test_first_run_killed_before_its_state_was_saved(loader, sandbox_world, sandbox_server):
    """The first extract's package committed, the pipeline's schema and state not yet saved
    and the dataset not yet created: dlt's own sync wipes the working directory (nothing of
    it counts), and the run starts over."""
    _crash("extract-committed", loader, sandbox_world, sandbox_server)
    assert list((_working_dir(loader) / "normalize" / "extracted").iterdir())
    summary = loader.run()
    assert summary.outcome == "succeeded"
    assert loader.differences(sandbox_world) == []


def test_unfinished_extract_folder_is_discarded(loader, sandbox_world, sandbox_server):
    loader.run()
    sandbox_world.advance(new_orders=8, transitions=8)
    _crash("extract-first-file", loader, sandbox_world, sandbox_server)
    unfinished = [
        p
        for p in (_working_dir(loader) / "normalize").iterdir()
        if p.is_dir() and p.name != "extracted"
    ]
    assert unfinished

    summary = loader.run()

    assert [p["kind"] for p in summary.discarded_packages] == ["an unfinished extract"]
    assert not any(p.exists() for p in unfinished)
    assert loader.differences(sandbox_world) == []


def test_a_leftover_that_cannot_be_finished_now_stays_for_the_next_run(
    loader, sandbox_world, sandbox_server, monkeypatch
):
    """A full disk is no reason to give a package up: the run fails saying so, the package
    stays, and the next run finishes it."""
    import dlt.normalize.normalize as dlt_normalize

    loader.run()
    sandbox_world.advance(new_orders=6, transitions=6)
    _crash("after-extract", loader, sandbox_world, sandbox_server)
    package = _only_package(loader, "extracted")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(dlt_normalize, "w_normalize_files", disk_full)
        with pytest.raises(RunError) as failed:
            loader.run()
    message = str(failed.value)
    assert message.startswith("could not finish the package extracted at ")
    assert "stays pending for the next run: normalize failed: OSError: [Errno 28]" in message
    assert package.exists()

    summary = loader.run()
    assert summary.resumed_pending_packages == 1 and summary.set_aside_packages == []
    assert loader.differences(sandbox_world) == []


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_rows_a_rerun_job_loaded_twice_are_kept_once(backend, tmp_path, request):
    """The repair after a resumed load, on both warehouses: identical rows carrying the
    package's load id are kept once; other packages' rows and distinct rows are untouched."""
    from pipelines.leftovers import _drop_duplicate_rows
    from tests.test_reporting_views import make_pipeline

    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    pipeline = make_pipeline(backend, tmp_path, "repair_dup", dsn)
    with pipeline.sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
        client.create_dataset()
        table = client.make_qualified_table_name("history")
        client.execute_sql(f"create table {table} (order_id text, status text, load_id text)")
        rows = [("o1", "paid", "L2"), ("o1", "paid", "L2"), ("o2", "placed", "L2")]
        rows += [("o1", "paid", "L1"), ("o1", "paid", "L1"), ("o3", "paid", "L2")]
        for row in rows:
            client.execute_sql(f"insert into {table} values (%s, %s, %s)", *row)

        assert _drop_duplicate_rows(client, "history", "L2") == 1
        assert _drop_duplicate_rows(client, "history", "L2") == 0
        assert _drop_duplicate_rows(client, "no_such_table", "L2") == 0
        kept = sorted(client.execute_sql(f"select * from {table}"))
    this_package = [("o1", "paid", "L2"), ("o2", "placed", "L2"), ("o3", "paid", "L2")]
    another_package = [("o1", "paid", "L1"), ("o1", "paid", "L1")]  # not this repair's
    assert kept == sorted(this_package + another_package)
