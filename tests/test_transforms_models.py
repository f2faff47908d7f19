"""The SQL models, seeds and column dictionary as files: conventions, portability to
BigQuery / Snowflake (transpiled by sqlglot, not run), seed consistency, docs completeness."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from transforms import CONTRACT, build_views_with_client
from transforms.models import BUILT_TABLES, SQL_ROOT, load_models, render

REPO = Path(__file__).resolve().parent.parent
MODELS = load_models()
REPORTING = [m for m in MODELS if m.layer == "reporting"]
VARIABLES = {"customer_metadata_key": "customer_id"}


def _seed(name: str) -> list[dict[str, str]]:
    with open(SQL_ROOT / "seeds" / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_model_conventions(model):
    assert model.path.stem == model.name
    header = model.header
    assert header.splitlines()[0] == model.name
    assert "grain:" in header and "purpose:" in header, "header comment gives grain and purpose"
    body = "\n".join(line for line in model.text.splitlines() if not line.lstrip().startswith("--"))
    assert "final as (" in body and body.rstrip().endswith("select * from final")
    assert not re.search(r"\b(SELECT|FROM|WHERE|JOIN|GROUP BY|ORDER BY|CASE|WHEN)\b", body), (
        "lower-case keywords"
    )
    assert "float" not in body.lower() and "double" not in body.lower(), "never floats"
    if model.layer == "staging":
        assert model.name.startswith("stg_lune__")
        assert "source as (" in body and "renamed as (" in body


def test_one_staging_model_per_loaded_table():
    sources = {
        re.search(r"source\('(\w+)'\)", m.text).group(1) for m in MODELS if m.layer == "staging"
    }
    assert sources == set(CONTRACT)
    assert all("source(" not in m.text for m in MODELS if m.layer != "staging")


def test_models_come_after_what_they_ref():
    seen = set(BUILT_TABLES)
    for model in MODELS:
        assert set(model.refs) <= seen, model.name
        seen.add(model.name)


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_models_transpile_to_other_warehouses(model, dialect):
    sql = render(
        model,
        dialect=dialect,
        qualify=lambda name: f"proj.lune.{name}",
        existing={},  # worst case: every loaded table stood in for
        variables=VARIABLES,
        strict=True,  # raise on anything sqlglot cannot carry over
    )
    assert "{{" not in sql and "__lune_rel__" not in sql
    assert "lune_days_between" not in sql.lower()
    for ref in model.refs:
        assert f"proj.lune.{ref}" in sql


def test_native_rendering_keeps_the_sql_as_written():
    model = next(m for m in MODELS if m.name == "stg_lune__orders")
    full = {"orders": set(CONTRACT["orders"])}
    sql = render(
        model,
        dialect="postgres",
        qualify=lambda n: f'"lune"."{n}"',
        existing=full,
        variables=VARIABLES,
    )
    assert 'select * from "lune"."orders"' in sql
    partial = {"orders": set(CONTRACT["orders"]) - {"metadata"}}
    sql = render(
        model,
        dialect="postgres",
        qualify=lambda n: f'"lune"."{n}"',
        existing=partial,
        variables=VARIABLES,
    )
    assert "cast(null as jsonb) as metadata" in sql
    sql = render(
        model, dialect="duckdb", qualify=lambda n: f'"lune"."{n}"', existing={}, variables=VARIABLES
    )
    assert "cast(null as json) as metadata" in sql and "where 1 = 0" in sql


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


_TYPE = re.compile(r"text|boolean|bigint|integer|date|timestamptz|json|decimal\(\d+,\d+\)")


def _documented_columns() -> dict[str, list[str]]:
    """{view: its columns in the order docs/reporting-views.md lists them}."""
    text = (REPO / "docs" / "reporting-views.md").read_text()
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.fullmatch(r"## `(\w+)`", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif line.startswith("## "):
            current = None
        elif current is not None:
            cell = re.match(r"\| `(\w+)` \| ([^|]+) \|", line)
            if cell and _TYPE.fullmatch(cell.group(2).strip()):
                current.append(cell.group(1))
    return sections


def test_every_reporting_view_is_documented_column_by_column(tmp_path):
    from tests.test_reporting_views import make_pipeline

    documented = _documented_columns()
    docs_text = (REPO / "docs" / "reporting-views.md").read_text()
    pipeline = make_pipeline("duckdb", tmp_path, "docs_check")
    with pipeline.sql_client() as client:
        client.create_dataset()
        build_views_with_client(client, "duckdb")
        for model in REPORTING:
            with client.execute_query(
                f"select * from {client.make_qualified_table_name(model.name)} limit 0"
            ) as cursor:
                columns = [d[0] for d in cursor.description]
            assert documented.get(model.name) == columns, model.name
    issues = re.findall(
        r"'(\w+)' as issue", (SQL_ROOT / "reporting" / "data_quality_issues.sql").read_text()
    )
    assert len(issues) == 12
    for issue in issues:
        assert f"| `{issue}` |" in docs_text, f"issue {issue} is not in the docs"


def test_contract_matches_what_the_loader_creates(loader, sandbox_world):
    """CONTRACT restates the loaded tables for the views; a real load must agree with it,
    column for column and type for type, or the stand-ins would hide a drift."""
    from transforms.contract import sql_type

    sandbox_world.inject_malformed(sandbox_world.account_ids()[0], "bad_decimal")
    loader.run()
    with loader.connect() as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'lune'"
        ).fetchall()
        spell = {
            t: con.execute(f"select typeof(cast(null as {sql_type(t, 'duckdb')}))").fetchone()[0]
            for t in {t for cols in CONTRACT.values() for t in cols.values()}
        }
    loaded = {(table, column): data_type for table, column, data_type in rows}
    expected = {
        (table, column): spell[portable]
        for table, columns in CONTRACT.items()
        for column, portable in columns.items()
    }
    assert {k: loaded.get(k) for k in expected} == expected
