"""Building the views: empty datasets, tables and columns that appear later, idempotent and
atomic rebuilds, the customer metadata key — on DuckDB and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import transforms
from tests.test_reporting_views import (
    ALL_TABLES,
    create_contract_tables,
    insert,
    load_fixture,
    make_pipeline,
    row_reader,
)
from transforms import TransformError, build_views, build_views_with_client, view_names
from transforms.models import Model

BACKENDS = ["duckdb", "postgres"]


@pytest.fixture(params=BACKENDS)
def pipeline(request, tmp_path) -> Iterator[Any]:
    """A pipeline on an empty dataset of its own (nothing loaded)."""
    backend = request.param
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    dataset = "bld_" + request.node.name.split("[")[0][-20:].strip("_").lower()
    p = make_pipeline(backend, tmp_path, dataset, dsn)
    with p.sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
    yield p


def _relations(client: Any) -> dict[str, str]:
    """{name: BASE TABLE / VIEW} in the client's dataset."""
    rows = client.execute_sql(
        "select table_name, table_type from information_schema.tables where table_schema = %s",
        client.dataset_name,
    )
    return {name: kind for name, kind in rows}


def _count(client: Any, view: str) -> int:
    return client.execute_sql(f"select count(*) from {client.make_qualified_table_name(view)}")[0][
        0
    ]


def test_empty_dataset_leaves_valid_empty_views(pipeline):
    built = build_views(pipeline)  # the API the CLI calls: creates the dataset if needed
    assert built == view_names()
    layers = [0 if v.startswith("stg_") else 1 if v.startswith("int_") else 2 for v in built]
    assert layers == sorted(layers)  # staging, then intermediate, then reporting
    assert {"credit_lines", "esrs_e1_7_summary", "data_quality_issues"} <= set(built)
    with pipeline.sql_client() as client:
        for view in built:
            assert _count(client, view) == 0, view
        relations = _relations(client)
    # the loaded tables belong to the loader: the build stands in for them, never creates them
    assert {n for n, kind in relations.items() if "TABLE" in kind.upper()} == {
        "seed_project_type_mechanisms",
        "seed_eu_member_states",
        "int_lune__bundle_projects",
    }
    assert not set(ALL_TABLES) & set(relations)


def test_views_read_tables_that_appear_after_an_empty_build(pipeline):
    backend = pipeline.destination.destination_name
    build_views(pipeline)
    with pipeline.sql_client() as client:
        create_contract_tables(client, backend)  # the first load of an account with orders
        load_fixture(client)
        assert _count(client, "credit_lines") == 0  # still the stand-ins until rebuilt
    build_views(pipeline)
    build_views(pipeline)  # and again: idempotent
    with pipeline.sql_client() as client:
        assert _count(client, "credit_lines") == 11
        assert _count(client, "order_details") == 11
        assert _count(client, "esrs_e1_7_summary") == 3


def test_missing_columns_stand_in_as_nulls(pipeline):
    """A table without some contract columns (never loaded with a value) still builds."""
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
        create_contract_tables(client, backend, ("orders__projects",))
        insert(
            client,
            "orders__projects",
            [
                "account_id",
                "order_id",
                "line_idx",
                "project_id",
                "project_type",
                "quantity",
                "status",
            ],
            [("A", "o1", 0, "p1", "Biochar", "2", "allocated")],
        )
        build_views_with_client(client, backend)
        rows = row_reader(client)
        order = rows("order_details")[0]
        assert (order["customer_id"], order["metadata"], order["net_cost"]) == (None, None, None)
        assert order["unretired_tonnes"] == D(2)
        line = rows("credit_lines")[0]
        # no bundles table: the seed classifies biochar
        assert pick_line(line) == ("removal", "project_type_seed", "hybrid", "Unknown project")
        assert [r["reporting_year"] for r in rows("esrs_e1_7_summary")] == [2026]
        assert rows("esrs_e1_7_summary")[0]["planned_future_retirement_tonnes"] == D(2)


def pick_line(row: dict[str, Any]) -> tuple:
    return row["mechanism"], row["mechanism_source"], row["removal_sink"], row["registry_label"]


def test_customer_metadata_key_is_configurable(pipeline):
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        create_contract_tables(client, backend)
        load_fixture(client)
        build_views_with_client(client, backend, customer_metadata_key="team")
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
    assert (
        got[("A", None)]["order_count"] == len(["o2", "o5", "o6", "o7", "o9", "o11"]) - 1
    )  # o5 void


@pytest.mark.parametrize("key", ["", "x'; drop table orders; --", "a.b", "k" * 65])
def test_unsafe_customer_metadata_keys_are_refused(tmp_path, key):
    p = make_pipeline("duckdb", tmp_path, "bad_key")
    with pytest.raises(TransformError, match="customer_metadata_key"):
        build_views(p, customer_metadata_key=key)


def test_a_failed_rebuild_leaves_the_previous_views(pipeline, monkeypatch):
    """Drop and create run in one transaction: a model that fails rolls the rebuild back."""
    backend = pipeline.destination.destination_name
    with pipeline.sql_client() as client:
        create_contract_tables(client, backend)
        load_fixture(client)
    build_views(pipeline)
    broken = Model("zz_broken", "reporting", Path("zz_broken.sql"), "select * from no_such_table")
    real = transforms.load_models
    monkeypatch.setattr(transforms, "load_models", lambda: [*real(), broken])
    with pytest.raises(TransformError, match="zz_broken"):
        build_views(pipeline)
    with pipeline.sql_client() as client:
        assert _count(client, "credit_lines") == 11
        assert "zz_broken" not in _relations(client)


def test_empty_account_then_first_orders_through_the_loader(tmp_path):
    """The real pipeline: a run on an account without orders, then a run after orders came."""
    from lune_sandbox import SandboxServer, SandboxWorld
    from tests.support.env import environment
    from tests.support.loader import Loader

    world = SandboxWorld.generate(seed=11, client_accounts=1, orders_per_account={})
    loader = Loader(workdir=tmp_path, build_views=True)
    with (
        SandboxServer(world, port=0) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        first = loader.run()
        assert first.outcome == "succeeded", first.error
        assert first.views == view_names()
        with loader.connect() as con:
            assert con.execute("select count(*) from lune.order_details").fetchone()[0] == 0
        created = world.advance(new_orders=12, transitions=0)["created"]
        second = loader.run()
        assert second.outcome == "succeeded", second.error
    with loader.connect() as con:
        orders = con.execute("select count(*) from lune.order_details").fetchone()[0]
        open_orders = con.execute("select count(*) from lune.open_commitments").fetchone()[0]
    assert orders == len(created)
    assert open_orders == len(created)  # new orders are received or placed
