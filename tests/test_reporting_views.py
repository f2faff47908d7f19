"""The reporting views over a small hand-made fixture, on DuckDB and on a real PostgreSQL.

Every expected figure is worked out by hand below, with the arithmetic visible.

Fixture: account A (EUR) and B (USD); bundle bR = carbon_removal (projects pDAC, pBio),
bundle bX = emissions_reduction (project pFor); project pOdd ("Kelp sinking") is in no bundle
and in no seed mapping.
  o1 A complete 2025-03-10: bR 10 t; pDAC 4 t retired (600.00), pBio 6 t retired (400.00);
     net 1000.00 + commission 100.00 = 1100.00; witnessed retiring->complete on 2025-06-15.
  o2 A complete 2024-11-20: bX 5 t; pFor 5 t retired (50.00); first seen already complete
     (no witnessed transition) -> retired_at falls back to 2024-11-20, flagged as estimate.
  o3 B retiring 2026-02-01: bX 8 t (insufficient inventory); pFor 3 t retired (60.00) +
     5 t allocated (100.00); witnessed paid->retiring on 2026-03-01.
  o4 B complete 2026-01-05: no bundle; pOdd 2 t retired (30.00); retiring->complete 2026-01-20.
  o5 A cancelled 2026-04-01: no lines, yet gross cost 12.00.
  o6 A complete 2026-05-01: no bundle; pFor 2 t retired (20.00) + 1 t allocated (10.00);
     retiring->complete 2026-05-10.
  o7 A placed 2026-06-01: bR 4 t; no projects yet.
"""

from __future__ import annotations

from decimal import Decimal as D

import dlt
import pytest

from transforms import CONTRACT, build_views_with_client

ACCOUNTS = [("A", "Acme", "EUR", "live", "account"), ("B", "Beta", "USD", "live", "client_account")]
BUNDLES = [
    ("bR", "Removals", "carbon_removal", "long_term", '["pDAC", "pBio"]'),
    ("bX", "Forests", "emissions_reduction", "no_storage", '["pFor"]'),
]
PROJECTS = [
    ("pDAC", "DAC One", "Direct air capture", "Puro.earth", "ISL"),
    ("pBio", "Char", "Biochar", "Puro.earth", "DEU"),
    ("pFor", "Amazon", "Forest Conservation", "Verra", "PER"),
    ("pOdd", "Kelp", "Kelp sinking", None, "NOR"),
]
# id, account, status, currency, quantity, net, commission, gross, created_at, metadata
ORDERS = [
    (
        "o1",
        "A",
        "complete",
        "EUR",
        "10",
        "1000.00",
        "100.00",
        "1100.00",
        "2025-03-10",
        '{"customer_id": "c1"}',
    ),
    (
        "o2",
        "A",
        "complete",
        "EUR",
        "5",
        "50.00",
        "5.00",
        "55.00",
        "2024-11-20",
        '{"customer_id": "c1"}',
    ),
    ("o3", "B", "retiring", "USD", "8", "160.00", "16.00", "176.00", "2026-02-01", "{}"),
    ("o4", "B", "complete", "USD", "2", "30.00", "3.00", "33.00", "2026-01-05", "{}"),
    ("o5", "A", "cancelled", "EUR", "1", "10.00", "2.00", "12.00", "2026-04-01", "{}"),
    ("o6", "A", "complete", "EUR", "3", "30.00", "3.00", "33.00", "2026-05-01", "{}"),
    ("o7", "A", "placed", "EUR", "4", "40.00", "4.00", "44.00", "2026-06-01", "{}"),
]
# account, order, idx, bundle, quantity, net cost, insufficient
BUNDLE_LINES = [
    ("A", "o1", 0, "bR", "10", "1000.00", False),
    ("A", "o2", 0, "bX", "5", "50.00", False),
    ("B", "o3", 0, "bX", "8", "160.00", True),
    ("A", "o7", 0, "bR", "4", "40.00", False),
]
# account, order, idx, project, type, quantity, net cost, status
PROJECT_LINES = [
    ("A", "o1", 0, "pDAC", "Direct air capture", "4", "600.00", "retired"),
    ("A", "o1", 1, "pBio", "Biochar", "6", "400.00", "retired"),
    ("A", "o2", 0, "pFor", "Forest conservation", "5", "50.00", "retired"),
    ("B", "o3", 0, "pFor", "Forest conservation", "3", "60.00", "retired"),
    ("B", "o3", 1, "pFor", "Forest conservation", "5", "100.00", "allocated"),
    ("B", "o4", 0, "pOdd", "Kelp sinking", "2", "30.00", "retired"),
    ("A", "o6", 0, "pFor", " forest CONSERVATION ", "2", "20.00", "retired"),
    ("A", "o6", 1, "pFor", "Forest conservation", "1", "10.00", "allocated"),
]
# account, order, status, previous status, observed at, order created at
HISTORY = [
    ("A", "o1", "placed", None, "2025-03-10", "2025-03-10"),
    ("A", "o1", "complete", "retiring", "2025-06-15", "2025-03-10"),
    ("A", "o2", "complete", None, "2025-01-02", "2024-11-20"),
    ("B", "o3", "retiring", "paid", "2026-03-01", "2026-02-01"),
    ("B", "o4", "complete", "retiring", "2026-01-20", "2026-01-05"),
    ("A", "o5", "cancelled", None, "2026-04-02", "2026-04-01"),
    ("A", "o6", "complete", "retiring", "2026-05-10", "2026-05-01"),
    ("A", "o7", "placed", None, "2026-06-02", "2026-06-01"),
]


def _insert(client, table, columns, rows):
    name = client.make_qualified_table_name(table)
    sql = f"insert into {name} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})"
    for row in rows:
        client.execute_sql(sql, *row)


@pytest.fixture(params=["duckdb", "postgres"])
def views(request, tmp_path):
    if request.param == "duckdb":
        destination = dlt.destinations.duckdb(credentials=str(tmp_path / "views.duckdb"))
    else:
        destination = dlt.destinations.postgres(credentials=request.getfixturevalue("postgres_dsn"))
    pipeline = dlt.pipeline(
        pipeline_name=f"views_{request.param}",
        destination=destination,
        dataset_name=f"rpt_{tmp_path.name[-12:]}".replace("-", "_").lower(),
        pipelines_dir=str(tmp_path / "p"),
    )
    with pipeline.sql_client() as client:
        client.create_dataset()
        for table, columns in CONTRACT.items():
            spec = ", ".join(f"{c} {t}" for c, t in columns.items())
            client.execute_sql(f"create table {client.make_qualified_table_name(table)} ({spec})")
        _insert(client, "client_accounts", ["id", "name", "currency", "type", "scope"], ACCOUNTS)
        _insert(
            client,
            "bundles",
            ["id", "name", "offset_type", "carbon_permanence", "project_ids"],
            BUNDLES,
        )
        _insert(
            client,
            "projects",
            ["id", "name", "project_type", "registry_name", "country_code"],
            PROJECTS,
        )
        _insert(
            client,
            "orders",
            [
                "id",
                "account_id",
                "status",
                "currency",
                "quantity",
                "offset_cost",
                "commission",
                "total_cost",
                "created_at",
                "metadata",
            ],
            [(*o[:8], o[8] + "T00:00:00+00:00", o[9]) for o in ORDERS],
        )
        _insert(
            client,
            "orders__bundles",
            [
                "account_id",
                "order_id",
                "line_idx",
                "bundle_id",
                "quantity",
                "offset_cost",
                "insufficient_available_quantity",
            ],
            BUNDLE_LINES,
        )
        _insert(
            client,
            "orders__projects",
            [
                "account_id",
                "order_id",
                "line_idx",
                "project_id",
                "project_type",
                "quantity",
                "offset_cost",
                "status",
            ],
            PROJECT_LINES,
        )
        _insert(
            client,
            "order_status_history",
            [
                "account_id",
                "order_id",
                "status",
                "previous_status",
                "observed_at",
                "order_created_at",
            ],
            [(*h[:4], h[4] + "T00:00:00+00:00", h[5] + "T00:00:00+00:00") for h in HISTORY],
        )
        built = build_views_with_client(client)
        built_again = build_views_with_client(client)  # idempotent

        def rows(view: str, order_by: str, columns: str) -> list[tuple]:
            return [
                tuple(r)
                for r in client.execute_sql(
                    f"select {columns} from {client.make_qualified_table_name(view)} "
                    f"order by {order_by}"
                )
            ]

        assert built == built_again
        yield rows


def test_credit_lines_classify_and_date_each_retired_credit(views):
    got = views(
        "credit_lines",
        "order_id, line_idx",
        "order_id, line_idx, mechanism, mechanism_source, sink, is_eu_host, reporting_year, "
        "retired_at_is_estimate",
    )
    assert got == [
        ("o1", 0, "removal", "bundle_offset_type", "technological", False, 2025, False),
        ("o1", 1, "removal", "bundle_offset_type", "hybrid", True, 2025, False),  # DEU is EU
        ("o2", 0, "reduction", "bundle_offset_type", "nature", False, 2024, True),  # fallback
        ("o3", 0, "reduction", "bundle_offset_type", "nature", False, 2026, False),
        ("o3", 1, "reduction", "bundle_offset_type", "nature", False, None, None),  # allocated
        ("o4", 0, "unclassified", "unmapped", None, False, 2026, False),
        # o6 has no bundle: the seed maps " forest CONSERVATION " after lower(trim())
        ("o6", 0, "reduction", "project_type_seed", "nature", False, 2026, False),
        ("o6", 1, "reduction", "project_type_seed", "nature", False, None, None),
    ]


def test_esrs_summary_per_year_with_prior_year(views):
    got = views(
        "esrs_e1_7_summary",
        "reporting_year",
        "reporting_year, retired_tonnes, planned_future_retirement_tonnes, removal_pct, "
        "reduction_pct, technological_share_of_removal_pct, eu_host_pct, unclassified_pct, "
        "registry_shares, prior_year_retired_tonnes",
    )
    assert [r[0] for r in got] == [2024, 2025, 2026]
    y2024, y2025, y2026 = got
    assert D(y2024[1]) == D("5")  # o2
    assert D(y2025[1]) == D("4") + D("6")  # o1 pDAC + pBio
    assert D(y2026[1]) == D("3") + D("2") + D("2")  # o3 + o4 + o6
    assert y2024[2] is None and y2025[2] is None  # planned retirements only on the current year
    assert D(y2026[2]) == (D("8") - D("3")) + (D("4") - D("0"))  # o3 + o7 still to retire
    assert float(y2025[3]) == 100.0 and float(y2025[5]) == 100.0  # DAC + biochar: removal, tech
    assert float(y2025[6]) == 60.0  # 6 of 10 t hosted in Germany
    assert float(y2026[4]) == round(100 * 5 / 7, 2)  # o3 3 t + o6 2 t reduction
    assert float(y2026[7]) == round(100 * 2 / 7, 2)  # o4 unclassified
    assert y2026[8] == "Verra 71.4%; unknown 28.6%"
    assert D(y2026[9]) == D("10")  # prior year beside it


def test_retirements_monthly_never_mix_currencies(views):
    got = views(
        "retirements_monthly",
        "account_id, retirement_month",
        "account_id, cast(retirement_month as text), currency, retired_tonnes, removal_tonnes, "
        "net_spend, average_net_price_per_tonne, cumulative_retired_tonnes",
    )
    assert [(r[0], r[1], r[2]) for r in got] == [
        ("A", "2024-11-01", "EUR"),
        ("A", "2025-06-01", "EUR"),
        ("A", "2026-05-01", "EUR"),
        ("B", "2026-01-01", "USD"),
        ("B", "2026-03-01", "USD"),
    ]
    a_2025 = got[1]
    assert D(a_2025[3]) == D("10") and D(a_2025[4]) == D("10")
    assert D(a_2025[5]) == D("600.00") + D("400.00")
    assert D(a_2025[6]) == D("1000.00") / D("10")
    assert [D(r[7]) for r in got] == [
        D("5"),
        D("5") + D("10"),
        D("15") + D("2"),
        D("2"),
        D("2") + D("3"),
    ]


def test_open_commitments(views):
    got = views(
        "open_commitments",
        "order_id",
        "order_id, contracted_tonnes, retired_tonnes, unretired_tonnes, bundle_offset_types, "
        "insufficient_inventory",
    )
    assert [(r[0], D(r[1]), D(r[2]), D(r[3]), r[4], r[5]) for r in got] == [
        ("o3", D("8"), D("3"), D("8") - D("3"), "emissions_reduction", True),
        ("o7", D("4"), D("0"), D("4"), "carbon_removal", False),
    ]


def test_order_details_prices_per_tonne(views):
    got = {
        r[0]: r
        for r in views(
            "order_details",
            "order_id",
            "order_id, net_price_per_tonne, gross_price_per_tonne, retired_tonnes, "
            "allocated_tonnes, unretired_tonnes, account_name",
        )
    }
    assert D(got["o1"][1]) == D("1000.00") / D("10")
    assert D(got["o1"][2]) == D("1100.00") / D("10")
    assert (D(got["o6"][3]), D(got["o6"][4]), D(got["o6"][5])) == (D("2"), D("1"), D("3") - D("2"))
    assert D(got["o5"][5]) == 0  # cancelled: nothing left to retire
    assert got["o3"][6] == "Beta"


def test_certificates_customers_and_data_quality(views):
    certs = views(
        "certificate_register",
        "order_id",
        "order_id, retired_tonnes, registries, retired_at_is_estimate",
    )
    assert [(r[0], D(r[1]), r[2], r[3]) for r in certs] == [
        ("o1", D("10"), "Puro.earth", False),
        ("o2", D("5"), "Verra", True),
        ("o3", D("3"), "Verra", False),
        ("o4", D("2"), "unknown", False),
        ("o6", D("2"), "Verra", False),
    ]
    customers = views(
        "customer_overview",
        "account_id, customer_id",
        "account_id, customer_id, orders, retired_tonnes, removal_pct, net_spend",
    )
    c1 = next(r for r in customers if r[1] == "c1")
    assert (c1[0], c1[2], D(c1[3])) == ("A", 2, D("10") + D("5"))
    assert float(c1[4]) == round(100 * 10 / 15, 2)
    assert D(c1[5]) == D("1000.00") + D("50.00")
    issues = views("data_quality_issues", "issue, order_id", "issue, order_id")
    assert [tuple(r) for r in issues] == [
        ("cancelled_order_with_cost", "o5"),
        ("complete_order_with_unretired_lines", "o6"),
        ("retirement_date_estimated", "o2"),
        ("unmapped_project_type", "o4"),
    ]
