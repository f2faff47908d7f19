"""Reporting rules worked out by hand on small fixtures of their own, on DuckDB and on a real
PostgreSQL: the fiscal year setting, the VCMI Claims Code tiers, and ISO 14068-1's
12-month retirement window.

Fixtures (every retirement witnessed unless said otherwise; each account buys in one currency):
  account V "Vcmi Co" (EUR): one complete order per year, created 1 June, witnessed complete
    on 1 July of the same year: 2022 19 t, 2023 20 t, 2024 60 t, 2025 100 t, 2026 30 t.
    Emissions inventory: 2021 10 t; 2022-2025 100 t each (scope 1 50 + 2 25 + 3 25); none for
    2026.
  account W "Window Ltd" (USD):
    w1 created 2023-05-01, witnessed complete 2025-02-01: late for calendar 2023 (retire by
       2024-12-31), on time for the April year 2023 (2023-04-01 .. 2024-03-31: by 2025-03-31)
    w2 created 2024-05-01, witnessed complete 2025-12-31: on time either way
    w3 created 2022-03-01, first seen already complete on 2025-01-10: dated by the fallback,
       so whether it was late cannot be told
  With the April year, o3's March 2026 retirement of the main fixture lands in 2025.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import transforms
from tests.support.raw_tables import create_raw_tables
from tests.test_reporting_views import (
    Rows,
    by,
    insert,
    load_fixture,
    make_pipeline,
    pick,
    row_reader,
)

# fmt: off
ACCOUNTS = [("V", "Vcmi Co", "EUR", "live", "client_account"),
            ("W", "Window Ltd", "USD", "live", "client_account")]
V_TONNES = {2022: "19", 2023: "20", 2024: "60", 2025: "100", 2026: "30"}
INVENTORY = """account_id,reporting_year,scope_1_tco2e,scope_2_tco2e,scope_3_tco2e
V,2021,10,0,0
V,2022,50,25,25
V,2023,50,25,25
V,2024,50,25,25
V,2025,50,25,25
"""
# id, account, currency, quantity, created_at, history [(status, previous, observed_at)]
ORDERS = [
    *[(f"v{year}", "V", "EUR", tonnes, f"{year}-06-01T09:00:00+00:00",
       [("placed", None, f"{year}-06-02T00:00:00+00:00"),
        ("complete", "placed", f"{year}-07-01T00:00:00+00:00")])
      for year, tonnes in V_TONNES.items()],
    ("w1", "W", "USD", "1", "2023-05-01T09:00:00+00:00",
     [("placed", None, "2023-05-02T00:00:00+00:00"),
      ("complete", "placed", "2025-02-01T00:00:00+00:00")]),
    ("w2", "W", "USD", "2", "2024-05-01T09:00:00+00:00",
     [("placed", None, "2024-05-02T00:00:00+00:00"),
      ("complete", "placed", "2025-12-31T00:00:00+00:00")]),
    ("w3", "W", "USD", "4", "2022-03-01T09:00:00+00:00",
     [("complete", None, "2025-01-10T00:00:00+00:00")]),
]
# fmt: on


def _load_rules_fixture(client: Any) -> None:
    insert(client, "client_accounts", ["id", "name", "currency", "type", "scope"], ACCOUNTS)
    insert(
        client,
        "orders",
        ["id", "account_id", "type", "status", "currency", "quantity", "created_at"],
        [(o[0], o[1], "quantity", "complete", o[2], o[3], o[4]) for o in ORDERS],
    )
    insert(
        client,
        "orders__projects",
        ["account_id", "order_id", "line_idx", "project_id", "project_type", "quantity", "status"],
        [(o[1], o[0], 0, "pDAC", "Direct air capture", o[3], "retired") for o in ORDERS],
    )
    insert(
        client,
        "order_status_history",
        ["account_id", "order_id", "status", "previous_status", "observed_at", "order_created_at"],
        [(o[1], o[0], status, prev, seen, o[4]) for o in ORDERS for status, prev, seen in o[5]],
    )


def _project_with_inventory(folder: Path) -> Path:
    project = folder / "project"
    shutil.copytree(transforms.DBT_PROJECT_DIR, project)
    (project / "seeds" / "emissions_inventory.csv").write_text(INVENTORY)
    return project


def _built(request, tmp_path_factory, dataset: str, load, **build: Any) -> Iterator[Rows]:
    backend = request.param
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    folder = tmp_path_factory.mktemp(f"{dataset}_{backend}")
    pipeline = make_pipeline(backend, folder, dataset, dsn)
    with pipeline.sql_client() as client:
        for schema in (dataset, f"{dataset}_staging", f"{dataset}_reporting"):
            client.execute_sql(f"drop schema if exists {schema} cascade")
        create_raw_tables(client, backend)
        load(client)
    if "project_dir" in build:
        build["project_dir"] = build["project_dir"](folder)
    transforms.build(pipeline, **build)
    with pipeline.sql_client() as client:
        yield row_reader(client)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def rules(request, tmp_path_factory) -> Iterator[Rows]:
    yield from _built(
        request,
        tmp_path_factory,
        "rules_cal",
        _load_rules_fixture,
        project_dir=_project_with_inventory,
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def rules_april(request, tmp_path_factory) -> Iterator[Rows]:
    yield from _built(
        request,
        tmp_path_factory,
        "rules_apr",
        _load_rules_fixture,
        project_dir=_project_with_inventory,
        variables={"fiscal_year_start_month": 4},
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def views_april(request, tmp_path_factory) -> Iterator[Rows]:
    """The main hand-made fixture (tests/test_reporting_views.py) with April years."""
    yield from _built(
        request,
        tmp_path_factory,
        "rpt_april",
        load_fixture,
        variables={"fiscal_year_start_month": 4},
    )


def test_vcmi_tiers_at_their_thresholds(rules):
    got = by(
        views := rules("vcmi_claim_coverage", "reporting_year", "account_id = 'V'"),
        "reporting_year",
    )
    columns = (
        "has_inventory",
        "remaining_emissions_tco2e",
        "retired_tonnes",
        "coverage_pct",
        "vcmi_tier",
    )
    # fmt: off
    assert {year: pick(r, *columns) for year, r in got.items()} == {
        2021: (True, D(10), D(0), D("0.00"), "none"),  # inventory, no credits
        2022: (True, D(100), D(19), D("19.00"), "none"),  # below 20 %
        2023: (True, D(100), D(20), D("20.00"), "silver"),  # 20 % to under 60 %
        2024: (True, D(100), D(60), D("60.00"), "gold"),  # 60 % to under 100 %
        2025: (True, D(100), D(100), D("100.00"), "platinum"),  # 100 % or more
        2026: (False, None, D(30), None, None),  # no inventory: no tier, and it says so
    }
    # fmt: on
    assert "no emissions inventory" in got[2026]["coverage_note"]
    assert pick(got[2023], "scope_1_tco2e", "scope_2_tco2e", "scope_3_tco2e") == (
        D(50),
        D(25),
        D(25),
    )
    assert views and all(r["account_name"] == "Vcmi Co" for r in views)


def test_credits_are_never_netted_against_emissions(rules):
    columns = set(rules("vcmi_claim_coverage")[0])
    assert not {c for c in columns if "net" in c and "emission" in c}
    assert {"remaining_emissions_tco2e", "retired_tonnes"} <= columns


def test_retirement_later_than_12_months_after_the_year_is_listed(rules):
    late = {
        r["order_id"]: pick(r, "severity", "reporting_year", "affected_tonnes", "currency")
        for r in rules("data_quality_issues", where="issue = 'retired_after_12_months'")
    }
    # w1: bought in 2023, retired 2025-02-01; w2 on time; w3 cannot be told (fallback date)
    assert late == {"w1": ("warning", 2023, D(1), "USD")}


def test_an_april_year_moves_the_12_month_window(rules_april):
    late = rules_april("data_quality_issues", where="issue = 'retired_after_12_months'")
    assert late == []  # w1's year runs to 2024-03-31: retired by 2025-03-31 is on time


def test_an_april_year_moves_a_march_retirement_into_the_earlier_year(views_april):
    lines = by(views_april("credit_lines", "order_id, line_idx"), "order_id", "line_idx")
    # o3's line retired 2026-03-01: reporting year 2025 (2025-04-01 .. 2026-03-31)
    assert lines[("o3", 0)]["reporting_year"] == 2025
    assert lines[("o6", 0)]["reporting_year"] == 2026  # retired 2026-05-10
    # o1 created 2025-03-10: bought in the April year 2024, retired 2025-06-15 in 2025
    assert (lines[("o1", 0)]["order_reporting_year"], lines[("o1", 0)]["reporting_year"]) == (
        2024,
        2025,
    )
    summary = by(
        views_april("esrs_e1_7_summary", "account_id, reporting_year"),
        "account_id",
        "reporting_year",
    )
    # A: o2 2024-11-20 (fallback) -> 2024; o1 -> 2025; o6 -> 2026
    # B: o3 (Mar 2026), o4 (Jan 2026), o8 (Jan 2026) all retired in the year 2025
    # fmt: off
    assert {k: pick(r, "period_start", "period_end", "retired_tonnes")
            for k, r in summary.items()} == {
        ("A", 2024): (date(2024, 4, 1), date(2025, 3, 31), D(5)),
        ("A", 2025): (date(2025, 4, 1), date(2026, 3, 31), D(10)),
        ("A", 2026): (date(2026, 4, 1), date(2027, 3, 31), D(2)),
        ("B", 2025): (date(2025, 4, 1), date(2026, 3, 31), D(3) + D(3) + D(4)),
    }
    # fmt: on
    # calendar months stay calendar months
    months = {r["retirement_month"] for r in views_april("retirements_monthly")}
    assert date(2026, 3, 1) in months and date(2026, 1, 1) in months


def test_the_fiscal_year_setting_is_checked(tmp_path):
    p = make_pipeline("duckdb", tmp_path, "bad_fiscal")
    with pytest.raises(transforms.TransformError, match="fiscal_year_start_month"):
        transforms.build(p, variables={"fiscal_year_start_month": 13})
