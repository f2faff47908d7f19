"""The Airflow DAG under a real Airflow: it imports cleanly, and `airflow dags test` loads the
sandbox, builds the reporting project and, with `report.enabled`, writes the carbon-credit
report of every account. Runs in the Airflow venv (`make test-airflow`, part
of `make test`); skipped in an environment without Airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytest.importorskip(
    "airflow", reason="Airflow is installed only in .venv-airflow (make test-airflow)"
)

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.warehouse import actual_rows, differences, expected_rows

REPO = Path(__file__).resolve().parents[1]


def _airflow(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600):
    airflow = str(Path(sys.executable).parent / "airflow")
    return subprocess.run(
        [airflow, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_dag_loads_the_sandbox_under_airflow(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "pipelines" / "airflow_dag.py", dags / "lune_orders_dag.py")
    manifest = (REPO / "dlt_project.yml").read_text().replace("retries: 2", "retries: 0")
    assert "  enabled: false\n  # Folder for the reports" in manifest  # off by default
    manifest = manifest.replace(
        "  enabled: false\n  # Folder for the reports",
        "  enabled: true\n  # Folder for the reports",
    )
    (tmp_path / "dlt_project.yml").write_text(manifest)
    world = SandboxWorld.generate(seed=9, client_accounts=2, orders_per_account=80)
    with SandboxServer(world, port=0, rate_limit=15) as server:
        # run with --noconftest (its own venv), so the isolation tests/conftest.py gives every
        # other test is spelled out here: dlt's data directory (the DAG's pipeline has no
        # pipelines_dir), home, working directory and telemetry all stay in tmp_path
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SOURCES__", "DESTINATION__", "LUNE_", "AIRFLOW", "RUNTIME__"))
        }
        home = tmp_path / "home"
        home.mkdir()
        env.update(
            DLT_DATA_DIR=str(tmp_path / "dlt"),
            RUNTIME__DLTHUB_TELEMETRY="false",
            HOME=str(home),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            AIRFLOW_HOME=str(tmp_path / "airflow"),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/airflow.db",
            LUNE_MANIFEST=str(tmp_path / "dlt_project.yml"),
            SOURCES__LUNE__API_KEY=world.api_key,
            SOURCES__LUNE__BASE_URL=server.base_url,
            DESTINATION__DUCKDB__CREDENTIALS=str(tmp_path / "warehouse.duckdb"),
        )
        migrate = _airflow(["db", "migrate"], env, tmp_path)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        errors = _airflow(["dags", "list-import-errors"], env, tmp_path)
        assert errors.returncode == 0, errors.stderr[-3000:]
        assert "lune_orders_dag.py" not in errors.stdout, errors.stdout

        run = _airflow(["dags", "test", "lune_orders"], env, tmp_path)
        assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
        assert "Task failed" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-5000:]

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
        views = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'lune_reporting' and table_type = 'VIEW'"
            ).fetchall()
        }
    assert "order_details" in views
    # the report task wrote one page per account, beside the manifest (report.out)
    reports = sorted((tmp_path / "lune_reports").glob("lune-report-*.html"))
    assert len(reports) == len(world.account_ids())
    assert all(any(a in p.name for p in reports) for a in world.account_ids())
    # the DAG's pipeline kept its working files in the test's dlt data directory
    assert (tmp_path / "dlt" / "pipelines" / "lune_orders" / "state.json").is_file()
