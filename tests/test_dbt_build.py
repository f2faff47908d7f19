"""Building the dbt reporting project: empty datasets, tables and columns that appear later,
schemas and comments where BI tools read them, a broken model caught by its reconciliation
test, plain `dbt build` with the documented profile — on DuckDB and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

import transforms
from tests.support.raw_tables import create_raw_tables, declared_columns
from tests.test_reporting_views import insert, load_fixture, make_pipeline, row_reader
from transforms import TransformError

BACKENDS = ["duckdb", "postgres"]
MARTS_FILE = transforms.DBT_PROJECT_DIR / "models" / "marts" / "_lune__marts.yml"
MARTS = [m["name"] for m in yaml.safe_load(MARTS_FILE.read_text())["models"]]
SEEDS = ["emissions_inventory", "eu_member_states", "project_type_mechanisms"]


@pytest.fixture(params=BACKENDS)
def pipeline(request, tmp_path) -> Iterator[Any]:
    """A pipeline on an empty dataset of its own (nothing loaded, nothing built)."""
    backend = request.param
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    dataset = "bld_" + request.node.name.split("[")[0][-20:].strip("_").lower()
    p = make_pipeline(backend, tmp_path, dataset, dsn)
    with p.sql_client() as client:
        for suffix in ("", "_staging", "_reporting"):
            client.execute_sql(f"drop schema if exists {dataset}{suffix} cascade")
    yield p


def _relations(client: Any, schema: str) -> dict[str, str]:
    """{name: BASE TABLE / VIEW} in `schema`."""
    rows = client.execute_sql(
        "select table_name, table_type from information_schema.tables where table_schema = %s",
        schema,
    )
    return {name: kind for name, kind in rows}


def _count(client: Any, relation: str) -> int:
    return client.execute_sql(f"select count(*) from {relation}")[0][0]


def test_empty_dataset_builds_valid_empty_marts(pipeline):
    result = transforms.build(pipeline)
    assert sorted(n.name for n in result.of_kind("model") if n.name in MARTS) == sorted(MARTS)
    reporting = f"{pipeline.dataset_name}_reporting"
    with pipeline.sql_client() as client:
        relations = _relations(client, reporting)
        assert set(relations) == set(MARTS) | set(SEEDS)
        for mart in MARTS:
            assert relations[mart] == "VIEW", mart
            assert _count(client, f"{reporting}.{mart}") == 0, mart
        # the raw tables belong to the loader: the build stands in for them, never creates them
        assert _relations(client, pipeline.dataset_name) == {}


def test_marts_read_tables_that_appear_after_an_empty_build(pipeline):
    backend = pipeline.destination.destination_name
    transforms.build(pipeline)
    with pipeline.sql_client() as client:
        create_raw_tables(client, backend)  # the first load of an account with orders
        load_fixture(client)
    transforms.build(pipeline)
    with pipeline.sql_client() as client:
        reporting = f"{pipeline.dataset_name}_reporting"
        assert _count(client, f"{reporting}.credit_lines") == 12
        assert _count(client, f"{reporting}.order_details") == 12
        # account A 2024-2026, account B 2025-2026
        assert _count(client, f"{reporting}.esrs_e1_7_summary") == 3 + 2


def test_missing_tables_and_columns_stand_in_as_nulls(pipeline):
    """A table without some declared columns (a load that never wrote them) still builds."""
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        client.create_dataset()
        orders = client.make_qualified_table_name("orders")
        client.execute_sql(
            f"create table {orders} (account_id text, id text, status text, currency text, "
            "quantity numeric(38,9), created_at timestamp with time zone)"
        )
        insert(
            client,
            "orders",
            ["account_id", "id", "status", "currency", "quantity", "created_at"],
            [("A", "o1", "placed", "EUR", "2", "2026-01-02T00:00:00+00:00")],
        )
        create_raw_tables(client, backend, ("orders__projects", "client_accounts"))
        insert(client, "client_accounts", ["id", "name"], [("A", "Acme")])
        insert(
            client,
            "orders__projects",
            ["account_id", "order_id", "line_idx", "project_id", "project_type", "quantity"],
            [("A", "o1", 0, "p1", "Biochar", "2")],
        )
    transforms.build(pipeline)
    with pipeline.sql_client() as client:
        rows = row_reader(client)
        order = rows("order_details")[0]
        assert (order["customer_id"], order["metadata"], order["net_cost"]) == (None, None, None)
        assert order["unretired_tonnes"] == D(2)
        line = rows("credit_lines")[0]
        # no bundles table: the seed classifies biochar; no projects table: unknown registry
        assert (line["mechanism"], line["mechanism_source"], line["removal_sink"]) == (
            "removal",
            "project_type_seed",
            "hybrid",
        )
        assert line["registry_label"] == "Unknown project"
        summary = rows("esrs_e1_7_summary")
        assert [r["reporting_year"] for r in summary] == [2026]
        assert summary[0]["planned_future_retirement_tonnes"] == D(2)


def test_customer_metadata_key_is_a_project_variable(pipeline):
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        create_raw_tables(client, backend)
        load_fixture(client)
    transforms.build(pipeline, variables={"customer_metadata_key": "team"})
    with pipeline.sql_client() as client:
        got = {
            (r["account_id"], r["customer_id"]): r for r in row_reader(client)("customer_overview")
        }
    # "team": "ops" is on o1 (account A) and o3 (account B) only
    assert (got[("A", "ops")]["retired_tonnes"], got[("A", "ops")]["removal_pct"]) == (
        D(4) + D(6),  # o1 DAC + biochar
        D("100.00"),
    )
    assert (got[("B", "ops")]["retired_tonnes"], got[("B", "ops")]["removal_pct"]) == (
        D(3),  # o3 forest conservation
        D("0.00"),
    )
    # account A without the key: o2, o5, o6, o7, o9, o11, o12, of which o5 and o12 are voided
    assert got[("A", None)]["order_count"] == 5


@pytest.mark.parametrize("key", ["", "x'; drop table orders; --", "a.b", "k" * 65])
def test_unsafe_customer_metadata_keys_are_refused(tmp_path, key):
    p = make_pipeline("duckdb", tmp_path, "bad_key")
    with pytest.raises(TransformError, match="customer_metadata_key"):
        transforms.build(p, variables={"customer_metadata_key": key})


def test_unknown_project_variables_are_refused(tmp_path):
    p = make_pipeline("duckdb", tmp_path, "bad_var")
    with pytest.raises(TransformError, match="customer_metadta_key"):
        transforms.build(p, variables={"customer_metadta_key": "team"})


def _comments_duckdb(client: Any, schema: str) -> tuple[dict[str, str], dict[tuple, str]]:
    views = client.execute_sql(
        "select view_name, comment from duckdb_views() where schema_name = %s", schema
    )
    columns = client.execute_sql(
        "select c.table_name, c.column_name, c.comment from duckdb_columns() as c "
        "inner join duckdb_views() as v on v.view_name = c.table_name "
        "and v.schema_name = c.schema_name where c.schema_name = %s",
        schema,
    )
    return dict(views), {(t, c): comment for t, c, comment in columns}


def _comments_postgres(client: Any, schema: str) -> tuple[dict[str, str], dict[tuple, str]]:
    views = client.execute_sql(
        "select c.relname, obj_description(c.oid, 'pg_class') from pg_class as c "
        "inner join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = 'v'",
        schema,
    )
    columns = client.execute_sql(
        "select c.relname, a.attname, col_description(c.oid, a.attnum) from pg_class as c "
        "inner join pg_namespace as n on n.oid = c.relnamespace "
        "inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 "
        "and not a.attisdropped where n.nspname = %s and c.relkind = 'v'",
        schema,
    )
    return dict(views), {(t, c): comment for t, c, comment in columns}


def test_every_mart_and_column_carries_its_description_in_the_warehouse(pipeline):
    """What a BI tool shows: persist_docs puts the YAML descriptions on views and columns."""
    transforms.build(pipeline)
    reporting = f"{pipeline.dataset_name}_reporting"
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        read = _comments_duckdb if backend == "duckdb" else _comments_postgres
        views, columns = read(client, reporting)
        schemas = {
            r[0] for r in client.execute_sql("select schema_name from information_schema.schemata")
        }
    assert {f"{pipeline.dataset_name}_staging", reporting} <= schemas
    assert set(views) == set(MARTS)
    assert all(comment and comment.strip() for comment in views.values()), views
    assert len(columns) > 10 * len(MARTS)
    blank = sorted(key for key, comment in columns.items() if not (comment or "").strip())
    assert blank == []


def _broken_project(tmp_path: Path) -> Path:
    """A copy of the project whose credit_lines fans out: a join that forgot the order key
    repeats each line once per bundle line of its account."""
    project = tmp_path / "broken_project"
    shutil.copytree(transforms.DBT_PROJECT_DIR, project)
    model = project / "models" / "marts" / "credit_lines.sql"
    text = model.read_text()
    fan_out = """    left join order_bundles as fan_out
        on fan_out.account_id = l.account_id
    left join line_bundles as lb"""
    assert text.count("    left join line_bundles as lb") == 1
    model.write_text(text.replace("    left join line_bundles as lb", fan_out))
    return project


def test_a_fan_out_join_fails_the_reconciliation_test(pipeline, tmp_path):
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        create_raw_tables(client, backend)
        load_fixture(client)
    transforms.build(pipeline)  # the real project passes
    with pytest.raises(TransformError) as caught:
        transforms.build(pipeline, project_dir=_broken_project(tmp_path))
    message = str(caught.value)
    assert "assert_credit_lines_reconcile_with_loaded_lines fail" in message
    assert "\n" not in message


def test_a_failing_error_test_fails_the_run_naming_it(tmp_path, lune_env):
    """`lune-pipeline run` against the sandbox with the broken project: exit 1, the test named."""
    from tests.support.cli import run_cli

    project = _broken_project(tmp_path)
    (tmp_path / "dlt_project.yml").write_text(
        (Path(__file__).resolve().parents[1] / "dlt_project.yml")
        .read_text()
        .replace("transforms:\n", f"transforms:\n  project_dir: {project}\n", 1)
    )
    env = {
        "SOURCES__LUNE__API_KEY": os.environ["SOURCES__LUNE__API_KEY"],
        "SOURCES__LUNE__BASE_URL": os.environ["SOURCES__LUNE__BASE_URL"],
    }
    result = run_cli(["run", "--pipelines-dir", str(tmp_path / "p")], tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("lune-pipeline: ")
    assert "assert_credit_lines_reconcile_with_loaded_lines" in last_line


def test_plain_dbt_build_with_the_documented_profile(tmp_path, sandbox_world, lune_env):
    """An analyst's run: `dbt build` with sql/profiles.yml and the environment the README
    gives, against a warehouse the pipeline loaded."""
    from tests.support.loader import Loader

    loader = Loader(workdir=tmp_path)
    assert loader.run().outcome == "succeeded"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUNE_")},
        "LUNE_DBT_TARGET": "duckdb",
        "LUNE_DBT_DUCKDB_PATH": str(loader.db_path),
        "LUNE_DBT_SCHEMA": "lune",
    }
    project = str(transforms.DBT_PROJECT_DIR)
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "ERROR=0" in completed.stdout
    with duckdb.connect(str(loader.db_path), read_only=True) as con:
        lines = con.execute("select count(*) from lune_reporting.credit_lines").fetchone()[0]
    expected = sum(
        len(o.get("projects") or [])
        for a in sandbox_world.account_ids()
        for o in sandbox_world.orders(a)
    )
    assert lines == expected > 0


def test_relations_of_earlier_versions_leave_the_raw_dataset(pipeline):
    """Before the dbt project, views and seed tables lived beside the loaded tables."""
    backend = pipeline.destination.destination_name
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as client:
        create_raw_tables(client, backend, ("orders",))
        client.execute_sql(f"create table {dataset}.seed_eu_member_states (country_code text)")
        client.execute_sql(f"create view {dataset}.credit_lines as select 1 as x")
        client.execute_sql(f"create view {dataset}.my_own_view as select 1 as x")
    transforms.build(pipeline)
    with pipeline.sql_client() as client:
        assert set(_relations(client, dataset)) == {"orders", "my_own_view"}


def test_declared_sources_cover_every_loaded_table():
    assert set(declared_columns()) == {
        "orders",
        "orders__bundles",
        "orders__projects",
        "order_status_history",
        "client_accounts",
        "bundles",
        "projects",
        "quarantined_records",
        "webhook_events",
    }
