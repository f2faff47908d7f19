"""The dbt project as files: model conventions, YAML docs for every model and column (and
that they list exactly the columns the models produce), seeds, and the sources' declared
types against what a real load creates."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import transforms
from tests.support.raw_tables import declared_columns
from tests.support.webhooks import allocation_event, order_event, spool_delivery

PROJECT = transforms.DBT_PROJECT_DIR
MODEL_FILES = sorted((PROJECT / "models").glob("*/*.sql"))
LAYERS = ("staging", "intermediate", "marts")


def _yaml_models() -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for path in (PROJECT / "models").glob("*/*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            assert model["name"] not in models, f"{model['name']} documented twice"
            models[model["name"]] = {**model, "layer": path.parent.name}
    return models


YAML_MODELS = _yaml_models()


def _seed(name: str) -> list[dict[str, str]]:
    with open(PROJECT / "seeds" / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_conventions(path: Path):
    layer = path.parent.name
    assert layer in LAYERS
    text = path.read_text()
    header = [line[2:].strip() for line in text.splitlines() if line.startswith("--")]
    assert header[0] == path.stem, "the header comment starts with the model's name"
    assert any(h.startswith("grain:") for h in header) and any(
        h.startswith("purpose:") for h in header
    ), "the header comment gives grain and purpose"
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert "final as (" in body and body.rstrip().endswith("select * from final")
    assert not re.search(r"\b(SELECT|FROM|WHERE|JOIN|GROUP BY|ORDER BY|CASE|WHEN)\b", body), (
        "lower-case keywords"
    )
    assert "float" not in body.lower() and "double" not in body.lower(), "never floats"
    prefix = {"staging": "stg_lune__", "intermediate": "int_lune__"}.get(layer)
    if prefix:
        assert path.stem.startswith(prefix)
    if layer == "staging":
        assert "source as (" in body and "renamed as (" in body
        assert "lune_source(" in body
    else:
        assert "lune_source(" not in body and "source(" not in body, "only staging reads raw"


def test_one_staging_model_per_loaded_table():
    read = {
        re.search(r"lune_source\('(\w+)'\)", p.read_text()).group(1)
        for p in MODEL_FILES
        if p.parent.name == "staging"
    }
    assert read == set(declared_columns())


def test_every_model_and_column_is_documented_in_yaml():
    assert set(YAML_MODELS) == {p.stem for p in MODEL_FILES}
    for name, model in YAML_MODELS.items():
        assert len(model.get("description", "").strip()) > 40, name
        assert model.get("columns"), name
        for column in model["columns"]:
            assert column.get("description", "").strip(), f"{name}.{column['name']}"


@pytest.fixture(scope="module")
def built_columns(tmp_path_factory) -> dict[str, list[str]]:
    """{model: its columns in order} from a build on an empty DuckDB dataset."""
    from tests.test_reporting_views import make_pipeline

    pipeline = make_pipeline("duckdb", tmp_path_factory.mktemp("docs"), "docs_check")
    transforms.build(pipeline)
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select table_name, column_name from information_schema.columns "
            "where table_schema in ('docs_check_staging', 'docs_check_reporting') "
            "order by table_name, ordinal_position"
        )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def test_yaml_lists_exactly_the_columns_each_model_produces(built_columns):
    for name, model in YAML_MODELS.items():
        documented = [c["name"] for c in model["columns"]]
        assert documented == built_columns[name], name


def test_data_quality_issue_kinds_are_documented():
    text = (PROJECT / "models" / "marts" / "data_quality_issues.sql").read_text()
    kinds = re.findall(r"'(\w+)' as issue", text)
    described = yaml.dump(YAML_MODELS["data_quality_issues"])
    assert kinds
    for kind in kinds:
        assert kind in described, f"issue {kind} is not described"


def test_mechanism_seed_is_consistent():
    rows = _seed("project_type_mechanisms")
    keys = [r["project_type_key"] for r in rows]
    assert len(keys) == len(set(keys)), "one row per project type"
    for row in rows:
        key = row["project_type_key"]
        assert key == key.strip().lower(), key
        assert row["mechanism"] in {"removal", "reduction", "mixed"}, key
        assert row["solution_category"] in {"nature_based", "technological", "hybrid"}, key
        assert row["oxford_category"], key
        # a sink only where credits can be removals
        if row["mechanism"] == "reduction":
            assert row["sink"] == "", key
        else:
            assert row["sink"] in {"biogenic", "technological", "hybrid"}, key


def test_mechanism_seed_covers_the_sandbox_catalogue():
    from lune_sandbox.catalogue import BUNDLES

    keys = {r["project_type_key"] for r in _seed("project_type_mechanisms")}
    kinds = {p.project_type.strip().lower() for b in BUNDLES for p in b.projects}
    assert kinds <= keys, kinds - keys


def test_eu_member_states_seed():
    rows = _seed("eu_member_states")
    codes = [r["country_code"] for r in rows]
    assert len(codes) == 27 == len(set(codes))
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in codes)
    assert {"DEU", "FRA", "HRV", "CYP"} <= set(codes) and "GBR" not in codes


def test_declared_sources_match_what_the_loader_creates(loader, sandbox_world, tmp_path):
    """The sources YAML restates the loaded tables for the models; a real load must agree with
    it, column for column and type for type, or the stand-ins would hide a drift."""
    sandbox_world.inject_malformed(sandbox_world.account_ids()[0], "bad_decimal")
    spool = tmp_path / "spool"
    events = [order_event("e1"), allocation_event("e2")]
    spool_delivery(spool, events, signed_at=1_790_000_000)
    loader.run(webhook_spool=str(spool))
    with loader.connect() as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'lune'"
        ).fetchall()
        declared_types = {t for cols in declared_columns().values() for t in cols.values()}
        spell = {
            t: con.execute(f"select typeof(cast(null as {t}))").fetchone()[0]
            for t in declared_types
        }
    loaded = {(table, column): data_type for table, column, data_type in rows}
    expected = {
        (table, column): spell[declared]
        for table, columns in declared_columns().items()
        for column, declared in columns.items()
    }
    assert {k: loaded.get(k) for k in expected} == expected
