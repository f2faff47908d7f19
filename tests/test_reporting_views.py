"""The reporting marts over a small hand-made fixture, on DuckDB and on a real PostgreSQL.

Every expected figure is worked out by hand below, with the arithmetic visible. The fixture is
inserted with plain SQL into raw tables with the types the dbt sources declare (the loader's
contract), the dbt project is built twice (idempotent, data tests included), and every
assertion runs on both databases. The session time zone is set to America/New_York so that a
mart grouping by the session's calendar instead of UTC would put o8's retirement
(2026-01-01 02:00 UTC) in 2025 and fail.

Fixture: account A "Acme" (EUR), account B "Beta" (USD).
Bundles: bR "Removals" carbon_removal / long_term [pDAC, pBio]; bX "Forests"
emissions_reduction / short_term [pFor, pIfm, pRef]; bM "Mixed bag", no offset_type [pRef].
Projects: pDAC direct air capture (Isometric, ISL); pBio biochar (Puro.earth, DEU);
pFor forest conservation (Verra, PER); pRef reforestation (Gold Standard, FRA);
pIfm improved forest management (American Carbon Registry, USA); pOdd "Kelp sinking" (no
registry, NOR, a type no seed maps). pGhost (cookstoves) appears on a line but not in the
catalogue.

  o1  A complete 2025-03-10  bR 10 t: pDAC 4 t retired 600.00 + pBio 6 t retired 400.00;
      net 1000.00 + commission 100.00 = gross 1100.00; witnessed retiring->complete 2025-06-15
  o2  A complete 2024-11-20  bX 5 t: pFor 5 t retired 50.00; first seen already complete
      (2025-01-02): no witnessed transition -> retired_at = created_at, estimate
  o3  B retiring 2026-02-01  bX 8 t, insufficient inventory: pFor 3 t retired 60.00 + pRef 5 t
      allocated 100.00 (bundle says reduction, seed says removal); witnessed paid->retiring
      2026-03-01
  o4  B complete 2026-01-05  no bundle: pOdd 2 t retired 30.00 (unmapped) + pIfm 1 t retired
      12.00 (seed: mixed); net 42.00 + 4.20 = 46.20; witnessed retiring->complete 2026-01-20
  o5  A cancelled 2026-04-01  no lines, yet gross cost 12.00
  o6  A complete 2026-05-01  no bundle: pFor 2 t retired 20.00 (" forest CONSERVATION ") +
      pFor 1 t allocated 10.00; witnessed retiring->complete 2026-05-10
  o7  A placed 2026-06-01  bR 4 t, no project lines yet
  o8  B complete 2025-12-20  bM 5 t, quantity 5 but lines 4: pRef 3 t retired 30.00 (bM has
      no offset_type -> seed: removal, biogenic) + pGhost 1 t retired 5.00; first seen
      retiring 2025-12-21, witnessed retiring->complete 2026-01-01 02:00 UTC; no certificate
  o9  A received 2026-07-01  value order: requested 100.00 EUR, no tonnes yet
  o10 B on_hold 2026-03-15  an unknown status, 2 t
  o11 A complete 2026-08-01  1 t, no project lines
  o12 A cancelled 2026-09-01  pDAC 2 t *retired* 300.00 (Lune retired credits for a voided
      order): must change no figure, and be an error in data quality

Every mart reports per account: A (EUR) and B (USD) are separate reporting entities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import dlt
import pytest

import transforms
from tests.support.raw_tables import create_raw_tables

# The fixture reads best as one row per line.
# fmt: off
ACCOUNTS = [
    ("A", "Acme", "EUR", "live", "account"),
    ("B", "Beta", "USD", "live", "client_account"),
]
BUNDLES = [
    ("bR", "Removals", "carbon_removal", "long_term", '["pDAC", "pBio"]'),
    ("bX", "Forests", "emissions_reduction", "short_term", '["pFor", "pIfm", "pRef"]'),
    ("bM", "Mixed bag", None, None, '["pRef"]'),
]
# id, name, project_type, registry_name, registry_link, country_code
PROJECTS = [
    ("pDAC", "DAC One", "Direct air capture", "Isometric", None, "ISL"),
    ("pBio", "Char Works", "Biochar", "Puro.earth", "https://puro.earth/pBio", "DEU"),
    ("pFor", "Amazon", "Forest Conservation", "Verra", None, "PER"),
    ("pRef", "Bosque", "Reforestation", "Gold Standard", None, "fra"),  # lower case on purpose
    ("pIfm", "Appalachia", "Improved forest management", "American Carbon Registry", None, "USA"),
    ("pOdd", "Kelp", "Kelp sinking", None, None, "NOR"),
]
ORDER_COLUMNS = [
    "id", "account_id", "type", "status", "currency", "quantity", "requested_quantity",
    "requested_value", "offset_cost", "commission", "total_cost", "created_at", "certificate",
    "metadata",
]
ORDERS = [
    ("o1", "A", "quantity", "complete", "EUR", "10", "10", None, "1000.00", "100.00", "1100.00",
     "2025-03-10T09:00:00+00:00", "https://c/o1", '{"customer_id": "c1", "team": "ops"}'),
    ("o2", "A", "quantity", "complete", "EUR", "5", "5", None, "50.00", "5.00", "55.00",
     "2024-11-20T09:00:00+00:00", "https://c/o2", '{"customer_id": "c1"}'),
    ("o3", "B", "quantity", "retiring", "USD", "8", "8", None, "160.00", "16.00", "176.00",
     "2026-02-01T09:00:00+00:00", None, '{"team": "ops"}'),
    ("o4", "B", "quantity", "complete", "USD", "3", "3", None, "42.00", "4.20", "46.20",
     "2026-01-05T09:00:00+00:00", "https://c/o4", "{}"),
    ("o5", "A", "quantity", "cancelled", "EUR", "1", "1", None, "10.00", "2.00", "12.00",
     "2026-04-01T09:00:00+00:00", None, "{}"),
    ("o6", "A", "quantity", "complete", "EUR", "3", "3", None, "30.00", "3.00", "33.00",
     "2026-05-01T09:00:00+00:00", "https://c/o6", "{}"),
    ("o7", "A", "quantity", "placed", "EUR", "4", "4", None, "40.00", "4.00", "44.00",
     "2026-06-01T09:00:00+00:00", None, '{"customer_id": "c2"}'),
    ("o8", "B", "quantity", "complete", "USD", "5", "5", None, "35.00", "3.50", "38.50",
     "2025-12-20T09:00:00+00:00", None, "{}"),
    ("o9", "A", "value", "received", "EUR", None, None, "100.00", None, None, None,
     "2026-07-01T09:00:00+00:00", None, '{"customer_id": "c2"}'),
    ("o10", "B", "quantity", "on_hold", "USD", "2", "2", None, "20.00", "2.00", "22.00",
     "2026-03-15T09:00:00+00:00", None, None),
    ("o11", "A", "quantity", "complete", "EUR", "1", "1", None, "10.00", "1.00", "11.00",
     "2026-08-01T09:00:00+00:00", "https://c/o11", "{}"),
    ("o12", "A", "quantity", "cancelled", "EUR", "2", "2", None, "300.00", "30.00", "330.00",
     "2026-09-01T09:00:00+00:00", None, "{}"),
]
# account, order, idx, bundle, name, quantity, net cost, insufficient inventory
BUNDLE_LINES = [
    ("A", "o1", 0, "bR", "Removals", "10", "1000.00", False),
    ("A", "o2", 0, "bX", "Forests", "5", "50.00", False),
    ("B", "o3", 0, "bX", "Forests", "8", "160.00", True),
    ("A", "o7", 0, "bR", "Removals", "4", "40.00", False),
    ("B", "o8", 0, "bM", "Mixed bag", "5", "35.00", False),
]
# account, order, idx, project, name, type, quantity, net cost, status
PROJECT_LINES = [
    ("A", "o1", 0, "pDAC", "DAC One", "Direct air capture", "4", "600.00", "retired"),
    ("A", "o1", 1, "pBio", "Char Works", "Biochar", "6", "400.00", "retired"),
    ("A", "o2", 0, "pFor", "Amazon", "Forest conservation", "5", "50.00", "retired"),
    ("B", "o3", 0, "pFor", "Amazon", "Forest conservation", "3", "60.00", "retired"),
    ("B", "o3", 1, "pRef", "Bosque", "Reforestation", "5", "100.00", "allocated"),
    ("B", "o4", 0, "pOdd", "Kelp", "Kelp sinking", "2", "30.00", "retired"),
    ("B", "o4", 1, "pIfm", "Appalachia", "Improved Forest Management", "1", "12.00", "retired"),
    ("A", "o6", 0, "pFor", "Amazon", " forest CONSERVATION ", "2", "20.00", "retired"),
    ("A", "o6", 1, "pFor", "Amazon", "Forest conservation", "1", "10.00", "allocated"),
    ("B", "o8", 0, "pRef", "Bosque", "Reforestation", "3", "30.00", "retired"),
    ("B", "o8", 1, "pGhost", "Stoves", "Cookstoves", "1", "5.00", "retired"),
    ("A", "o12", 0, "pDAC", "DAC One", "Direct air capture", "2", "300.00", "retired"),
]
# account, order, status, previous status, observed at
HISTORY = [
    ("A", "o1", "placed", None, "2025-03-10T10:00:00+00:00"),
    ("A", "o1", "complete", "retiring", "2025-06-15T10:00:00+00:00"),
    ("A", "o2", "complete", None, "2025-01-02T10:00:00+00:00"),
    ("B", "o3", "paid", None, "2026-02-02T10:00:00+00:00"),
    ("B", "o3", "retiring", "paid", "2026-03-01T10:00:00+00:00"),
    ("B", "o4", "complete", "retiring", "2026-01-20T10:00:00+00:00"),
    ("A", "o5", "cancelled", None, "2026-04-02T10:00:00+00:00"),
    ("A", "o6", "complete", "retiring", "2026-05-10T10:00:00+00:00"),
    ("A", "o7", "placed", None, "2026-06-02T10:00:00+00:00"),
    ("B", "o8", "retiring", None, "2025-12-21T10:00:00+00:00"),
    ("B", "o8", "complete", "retiring", "2026-01-01T02:00:00+00:00"),
    ("A", "o9", "received", None, "2026-07-02T10:00:00+00:00"),
    ("B", "o10", "on_hold", None, "2026-03-16T10:00:00+00:00"),
    ("A", "o11", "complete", "placed", "2026-08-02T10:00:00+00:00"),
    ("A", "o12", "cancelled", None, "2026-09-02T10:00:00+00:00"),
]
QUARANTINED = [
    ("A", "/v1/orders", "oQ", 'quantity "12,5" is not a decimal', "{}",
     "2026-08-03T10:00:00+00:00", "1"),
]
# fmt: on

CREATED = {o[0]: o[11] for o in ORDERS}
ALL_TABLES = (
    "orders",
    "orders__bundles",
    "orders__projects",
    "order_status_history",
    "client_accounts",
    "bundles",
    "projects",
    "quarantined_records",
)


def ts(text: str) -> datetime:
    """An ISO timestamp as an aware UTC datetime (compares equal across time zones)."""
    return datetime.fromisoformat(text).astimezone(UTC)


def insert(client: Any, table: str, columns: list[str], rows: list[tuple]) -> None:
    name = client.make_qualified_table_name(table)
    sql = f"insert into {name} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})"
    for row in rows:
        client.execute_sql(sql, *row)


def load_fixture(client: Any) -> None:
    insert(client, "client_accounts", ["id", "name", "currency", "type", "scope"], ACCOUNTS)
    insert(
        client,
        "bundles",
        ["id", "name", "offset_type", "carbon_permanence", "project_ids"],
        BUNDLES,
    )
    insert(
        client,
        "projects",
        ["id", "name", "project_type", "registry_name", "registry_link", "country_code"],
        PROJECTS,
    )
    insert(client, "orders", ORDER_COLUMNS, ORDERS)
    # offset-link orders carry the end customer's email
    orders = client.make_qualified_table_name("orders")
    for order_id, email in (
        ("o1", "x@example.com"),
        ("o2", "y@example.com"),
        ("o7", "x@example.com"),
        ("o12", "z@example.com"),
    ):
        client.execute_sql(
            f"update {orders} set offset_link_id = 'L1', email = %s where id = %s", email, order_id
        )
    insert(
        client,
        "orders__bundles",
        [
            "account_id",
            "order_id",
            "line_idx",
            "bundle_id",
            "bundle_name",
            "quantity",
            "offset_cost",
            "insufficient_available_quantity",
        ],
        BUNDLE_LINES,
    )
    insert(
        client,
        "orders__projects",
        [
            "account_id",
            "order_id",
            "line_idx",
            "project_id",
            "project_name",
            "project_type",
            "quantity",
            "offset_cost",
            "status",
        ],
        PROJECT_LINES,
    )
    insert(
        client,
        "order_status_history",
        ["account_id", "order_id", "status", "previous_status", "observed_at", "order_created_at"],
        [(*h, CREATED[h[1]]) for h in HISTORY],
    )
    insert(
        client,
        "quarantined_records",
        ["account_id", "endpoint", "record_id", "reason", "payload", "observed_at", "load_id"],
        QUARANTINED,
    )


def make_pipeline(backend: str, folder: Any, dataset: str, dsn: str | None = None) -> Any:
    if backend == "duckdb":
        destination = dlt.destinations.duckdb(credentials=str(folder / "views.duckdb"))
    else:
        destination = dlt.destinations.postgres(credentials=dsn)
    return dlt.pipeline(
        pipeline_name=f"views_{backend}_{dataset}",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(folder / "pipelines"),
    )


Rows = Callable[..., list[dict[str, Any]]]


def row_reader(client: Any) -> Rows:
    """Reads a mart of the reporting schema (`<dataset>_reporting`) through `client`."""
    schema = f"{client.dataset_name}_reporting"

    def rows(view: str, order_by: str = "1", where: str = "true") -> list[dict[str, Any]]:
        sql = f"select * from {schema}.{view} where {where} order by {order_by}"
        with client.execute_query(sql) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    return rows


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def views(request, tmp_path_factory) -> Iterator[Rows]:
    backend = request.param
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    folder = tmp_path_factory.mktemp(f"views_{backend}")
    pipeline = make_pipeline(backend, folder, "rpt_fixture", dsn)
    with pipeline.sql_client() as client:
        for schema in ("rpt_fixture", "rpt_fixture_staging", "rpt_fixture_reporting"):
            client.execute_sql(f"drop schema if exists {schema} cascade")
        create_raw_tables(client, backend)
        load_fixture(client)
    built = transforms.build(pipeline)
    built_again = transforms.build(pipeline)  # idempotent
    assert sorted(n.name for n in built.nodes) == sorted(n.name for n in built_again.nodes)
    with pipeline.sql_client() as client:
        client.execute_sql("set TimeZone = 'America/New_York'")
        yield row_reader(client)


def by(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def pick(row: dict[str, Any], *columns: str) -> tuple:
    return tuple(row[c] for c in columns)


def test_credit_lines_classify_and_date_every_line(views):
    got = by(views("credit_lines", "order_id, line_idx"), "order_id", "line_idx")
    columns = (
        "mechanism",
        "mechanism_source",
        "removal_sink",
        "registry_label",
        "is_eu_host",
        "bundle_id",
        "retired_at",
        "retired_at_source",
        "retired_at_is_estimate",
        "reporting_year",
    )
    complete_o1 = ts("2025-06-15T10:00:00+00:00")
    # fmt: off
    expected = {
        ("o1", 0): ("removal", "bundle_offset_type", "technological", "Isometric", False, "bR",
                    complete_o1, "witnessed_complete", False, 2025),
        ("o1", 1): ("removal", "bundle_offset_type", "hybrid", "Puro.earth", True, "bR",
                    complete_o1, "witnessed_complete", False, 2025),  # DEU is in the EU
        # first seen already complete: falls back to the order's created_at, flagged
        ("o2", 0): ("reduction", "bundle_offset_type", None, "Verra", False, "bX",
                    ts(CREATED["o2"]), "order_created_at", True, 2024),
        # still retiring: the witnessed move into `retiring` dates the retired line
        ("o3", 0): ("reduction", "bundle_offset_type", None, "Verra", False, "bX",
                    ts("2026-03-01T10:00:00+00:00"), "witnessed_retiring", False, 2026),
        # the bundle's offset_type wins over the seed (reforestation = removal); not retired
        ("o3", 1): ("reduction", "bundle_offset_type", None, "Gold Standard", True, "bX",
                    None, None, None, None),
        ("o4", 0): ("unclassified", "unmapped", None, "Not certified", False, None,
                    ts("2026-01-20T10:00:00+00:00"), "witnessed_complete", False, 2026),
        ("o4", 1): ("mixed", "project_type_seed", None, "American Carbon Registry", False, None,
                    ts("2026-01-20T10:00:00+00:00"), "witnessed_complete", False, 2026),
        # no bundle: the seed maps " forest CONSERVATION " after lower(trim())
        ("o6", 0): ("reduction", "project_type_seed", None, "Verra", False, None,
                    ts("2026-05-10T10:00:00+00:00"), "witnessed_complete", False, 2026),
        ("o6", 1): ("reduction", "project_type_seed", None, "Verra", False, None,
                    None, None, None, None),
        # bM has no offset_type: the seed classifies; 02:00 UTC on 1 Jan is 2026 (UTC year)
        ("o8", 0): ("removal", "project_type_seed", "biogenic", "Gold Standard", True, "bM",
                    ts("2026-01-01T02:00:00+00:00"), "witnessed_complete", False, 2026),
        # pGhost is in no bundle and not in the catalogue: host country unknown (null)
        ("o8", 1): ("reduction", "project_type_seed", None, "Unknown project", None, None,
                    ts("2026-01-01T02:00:00+00:00"), "witnessed_complete", False, 2026),
        # a voided order's retired line is kept here, flagged, and counted nowhere else
        ("o12", 0): ("removal", "project_type_seed", "technological", "Isometric", False, None,
                     ts(CREATED["o12"]), "order_created_at", True, 2026),
    }
    # fmt: on
    assert {k: pick(r, *columns) for k, r in got.items()} == expected
    assert got[("o3", 1)]["seed_mechanism"] == "removal"
    assert got[("o3", 1)]["bundle_mechanism"] == "reduction"
    assert got[("o1", 0)]["carbon_permanence"] == "long_term"
    assert got[("o1", 0)]["currency"] == "EUR" and got[("o3", 0)]["currency"] == "USD"
    assert {k for k, r in got.items() if r["is_void_order"]} == {("o12", 0)}
    assert (got[("o1", 0)]["account_name"], got[("o3", 0)]["account_name"]) == ("Acme", "Beta")
    # known retired when witnessed; for a fallback date, when the loader first saw the order
    assert got[("o1", 0)]["retirement_known_at"] == ts("2025-06-15T10:00:00+00:00")
    assert got[("o2", 0)]["retirement_known_at"] == ts("2025-01-02T10:00:00+00:00")
    # not derivable from Lune's API: unknown, never invented
    unknowns = {(r["vintage"], r["corresponding_adjustment"], r["ccp_label"]) for r in got.values()}
    assert unknowns == {(None, None, None)}


def test_order_details_amounts_prices_and_tonnes(views):
    got = by(views("order_details", "order_id"), "order_id")
    columns = (
        "status",
        "is_void",
        "is_open",
        "currency",
        "contracted_tonnes",
        "net_price_per_tonne",
        "gross_price_per_tonne",
        "retired_tonnes",
        "allocated_tonnes",
        "unretired_tonnes",
        "customer_id",
        "account_name",
    )
    # fmt: off
    expected = {
        "o1": ("complete", False, False, "EUR", D(10), D("1000.00") / 10, D("1100.00") / 10,
               D(4) + D(6), D(0), D(10) - (D(4) + D(6)), "c1", "Acme"),
        "o2": ("complete", False, False, "EUR", D(5), D("50.00") / 5, D("55.00") / 5,
               D(5), D(0), D(0), "c1", "Acme"),
        "o3": ("retiring", False, True, "USD", D(8), D("160.00") / 8, D("176.00") / 8,
               D(3), D(5), D(8) - D(3), None, "Beta"),
        "o4": ("complete", False, False, "USD", D(3), D("42.00") / 3, D("46.20") / 3,
               D(2) + D(1), D(0), D(0), None, "Beta"),
        # voided: nothing left to retire
        "o5": ("cancelled", True, False, "EUR", D(1), D("10.00") / 1, D("12.00") / 1,
               D(0), D(0), D(0), None, "Acme"),
        "o6": ("complete", False, False, "EUR", D(3), D("30.00") / 3, D("33.00") / 3,
               D(2), D(1), D(3) - D(2), None, "Acme"),
        "o7": ("placed", False, True, "EUR", D(4), D("40.00") / 4, D("44.00") / 4,
               D(0), D(0), D(4), "c2", "Acme"),
        "o8": ("complete", False, False, "USD", D(5), D("35.00") / 5, D("38.50") / 5,
               D(3) + D(1), D(0), D(5) - D(4), None, "Beta"),
        # a value order before placement has no tonnes: no price per tonne either
        "o9": ("received", False, True, "EUR", None, None, None, D(0), D(0), D(0), "c2", "Acme"),
        # an unknown status counts as open; metadata null -> no customer
        "o10": ("on_hold", False, True, "USD", D(2), D("20.00") / 2, D("22.00") / 2,
                D(0), D(0), D(2), None, "Beta"),
        "o11": ("complete", False, False, "EUR", D(1), D("10.00") / 1, D("11.00") / 1,
                D(0), D(0), D(1), None, "Acme"),
        # voided: its retired line counts toward nothing (void_order_retired_tonnes below)
        "o12": ("cancelled", True, False, "EUR", D(2), D("300.00") / 2, D("330.00") / 2,
                D(0), D(0), D(0), None, "Acme"),
    }
    # fmt: on
    assert {k: pick(r, *columns) for k, r in got.items()} == expected
    o1 = got["o1"]
    assert (o1["net_cost"], o1["commission"], o1["gross_cost"]) == (
        D("1000.00"),
        D("100.00"),
        D("1000.00") + D("100.00"),
    )
    assert (got["o9"]["requested_value"], got["o9"]["order_type"]) == (D("100.00"), "value")
    assert got["o1"]["certificate_url"] == "https://c/o1"
    assert {k: r["void_order_retired_tonnes"] for k, r in got.items() if r["is_void"]} == {
        "o5": D(0),
        "o12": D(2),
    }
    assert got["o12"]["order_reporting_year"] == 2026


def test_retirements_monthly_per_account_month_and_currency(views):
    got = views("retirements_monthly", "account_id, retirement_month")
    columns = (
        "account_id",
        "retirement_month",
        "currency",
        "retired_tonnes",
        "removal_tonnes",
        "reduction_tonnes",
        "mixed_tonnes",
        "unclassified_tonnes",
        "fallback_dated_tonnes",
        "retired_net_cost",
        "average_net_price_per_tonne",
        "cumulative_retired_tonnes",
        "cumulative_retired_net_cost",
    )
    # fmt: off
    assert [pick(r, *columns) for r in got] == [
        # o2, dated by its created_at (estimate)
        ("A", date(2024, 11, 1), "EUR", D(5), D(0), D(5), D(0), D(0), D(5),
         D("50.00"), D("50.00") / 5, D(5), D("50.00")),
        # o1: DAC 4 t + biochar 6 t
        ("A", date(2025, 6, 1), "EUR", D(4) + D(6), D(10), D(0), D(0), D(0), D(0),
         D("600.00") + D("400.00"), D("1000.00") / 10, D(5) + D(10), D("50.00") + D("1000.00")),
        # o6 line 0
        ("A", date(2026, 5, 1), "EUR", D(2), D(0), D(2), D(0), D(0), D(0),
         D("20.00"), D("20.00") / 2, D(15) + D(2), D("1050.00") + D("20.00")),
        # o4 (kelp 2 t unclassified + IFM 1 t mixed) + o8 (reforestation 3 t + stoves 1 t)
        ("B", date(2026, 1, 1), "USD", D(2) + D(1) + D(3) + D(1), D(3), D(1), D(1), D(2), D(0),
         D("30.00") + D("12.00") + D("30.00") + D("5.00"), D("77.00") / 7, D(7), D("77.00")),
        # o3 line 0
        ("B", date(2026, 3, 1), "USD", D(3), D(0), D(3), D(0), D(0), D(0),
         D("60.00"), D("60.00") / 3, D(7) + D(3), D("77.00") + D("60.00")),
    ]
    # fmt: on


def test_esrs_e1_7_summary_per_account_and_year_with_prior_year(views):
    rows = views("esrs_e1_7_summary", "account_id, reporting_year")
    got = by(rows, "account_id", "reporting_year")
    # A: first order 2024 (o2); B: first order 2025 (o8); a row for every year since
    assert list(got) == [("A", 2024), ("A", 2025), ("A", 2026), ("B", 2025), ("B", 2026)]
    a24, a25, a26, b25, b26 = got.values()
    assert pick(a24, "account_name", "period_start", "period_end") == (
        "Acme",
        date(2024, 1, 1),
        date(2024, 12, 31),
    )

    # retired in the year (ESRS "cancelled"); o12's 2 t on a cancelled order count nowhere
    assert [r["retired_tonnes"] for r in (a24, a25, a26)] == [D(5), D(4) + D(6), D(2)]
    assert [r["retired_tonnes"] for r in (b25, b26)] == [D(0), D(3) + D(2) + D(1) + D(3) + D(1)]

    # fmt: off
    # B 2026: o3 pFor 3 (reduction), o4 kelp 2 (unclassified) + IFM 1 (mixed),
    # o8 pRef 3 (removal, biogenic, France) + pGhost 1 (reduction, host unknown)
    assert pick(b26, "removal_tonnes", "reduction_tonnes", "mixed_tonnes",
                "unclassified_tonnes") == (D(3), D(3) + D(1), D(1), D(2))
    assert pick(b26, "removal_pct", "reduction_pct", "mixed_pct", "unclassified_pct") == (
        D("30.00"), D("40.00"), D("10.00"), D("20.00"))  # of 10 t
    assert pick(b26, "eu_host_tonnes", "non_eu_host_tonnes", "unknown_host_tonnes") == (
        D(3), D(3) + D(2) + D(1), D(1))  # France; Peru, Norway, USA; pGhost
    assert pick(b26, "eu_host_pct", "unknown_host_pct") == (D("30.00"), D("10.00"))
    assert b26["registry_shares"] == (
        "Gold Standard 30.00%; Verra 30.00%; Not certified 20.00%; "
        "American Carbon Registry 10.00%; Unknown project 10.00%"
    )
    # A 2025: o1 DAC 4 t (Iceland) + biochar 6 t (Germany), both removals
    assert pick(a25, "removal_pct", "reduction_pct", "eu_host_pct") == (
        D("100.00"), D("0.00"), D("60.00"))
    sinks = ("biogenic_removal_pct", "technological_removal_pct", "hybrid_removal_pct",
             "unknown_sink_removal_pct")
    assert pick(a24, *sinks) == (None, None, None, None)  # no removals
    assert pick(a25, *sinks) == (D("0.00"), D("40.00"), D("60.00"), D("0.00"))
    assert pick(b26, *sinks) == (D("100.00"), D("0.00"), D("0.00"), D("0.00"))

    # planned: contracted by the year's end, not retired by then (voided orders excluded)
    # A 2024: o2 is dated by its created_at (2024) but was first seen retired in 2025: whether
    # it was still outstanding at the end of 2024 cannot be known -> null, not 0
    assert pick(a24, "planned_future_retirement_tonnes", "is_planned_future_retirement_known",
                "fallback_dated_tonnes", "is_dating_estimated") == (None, False, D(5), True)
    # A 2025: everything contracted by then was retired by then (o2 known retired in 2025)
    assert pick(a25, "planned_future_retirement_tonnes", "is_planned_future_retirement_known",
                "fallback_dated_tonnes", "is_dating_estimated") == (D(0), True, D(0), False)
    # A 2026: open now o7 4 t + o9 (a value order, no tonnes yet) 0 t
    assert a26["planned_future_retirement_tonnes"] == D(4) + D(0)
    # B 2025: o8's lines (3 + 1 t) contracted in 2025, retired on 2026-01-01
    assert b25["planned_future_retirement_tonnes"] == D(3) + D(1)
    # B 2026: open now o3 (8 - 3 retired) + o10 2 t
    assert b26["planned_future_retirement_tonnes"] == (D(8) - D(3)) + D(2)
    assert {r["corresponding_adjustment_pct"] for r in rows} == {None}  # not in Lune's API

    # the prior year beside every figure
    assert pick(a24, "prior_year_retired_tonnes", "prior_year_removal_pct") == (None, None)
    assert pick(a25, "prior_year_retired_tonnes", "prior_year_planned_future_retirement_tonnes",
                "prior_year_is_planned_future_retirement_known",
                "prior_year_fallback_dated_tonnes") == (D(5), None, False, D(5))
    assert pick(b26, "prior_year_retired_tonnes", "prior_year_planned_future_retirement_tonnes",
                "prior_year_removal_pct", "prior_year_eu_host_pct") == (D(0), D(4), None, None)
    assert pick(a26, "prior_year_removal_pct", "prior_year_eu_host_pct",
                "prior_year_registry_shares") == (
        D("100.00"), D("60.00"), "Puro.earth 60.00%; Isometric 40.00%")
    # fmt: on
    # ESRS 1 §86: a comparative for every figure of the row
    keys = {"account_id", "account_name", "reporting_year", "period_start", "period_end"}
    prior = {c.removeprefix("prior_year_") for c in a24 if c.startswith("prior_year_")}
    figures = {c for c in a24 if not c.startswith("prior_year_")} - keys
    assert figures == prior


def test_esrs_e1_7_summary_organisation_adds_tonnes_never_money(views):
    got = by(views("esrs_e1_7_summary_organisation", "reporting_year"), "reporting_year")
    assert list(got) == [2024, 2025, 2026]
    # fmt: off
    assert [pick(r, "account_count", "retired_tonnes", "planned_future_retirement_tonnes")
            for r in got.values()] == [
        (1, D(5), None),  # A's 2024 planned figure is unknown, so the organisation's is too
        (2, D(10) + D(0), D(0) + D(4)),
        (2, D(2) + D(10), D(4) + D(7)),
    ]
    # shares recomputed from the summed tonnes: removals 3 t (B) of 12 t
    assert pick(got[2026], "removal_pct", "eu_host_pct", "prior_year_retired_tonnes") == (
        D("25.00"), D("25.00"), D(10))
    # fmt: on
    money = {"net_spend", "gross_spend", "retired_net_cost", "net_cost", "currency"}
    assert not money & set(got[2026])


def test_esrs_e1_7_registry_shares_per_account(views):
    got = views("esrs_e1_7_registry_shares", "account_id, reporting_year, registry_label")
    columns = ("account_id", "reporting_year", "registry_label", "retired_tonnes", "share_pct")
    assert [pick(r, *columns) for r in got] == [
        ("A", 2024, "Verra", D(5), D("100.00")),
        ("A", 2025, "Isometric", D(4), D("40.00")),
        ("A", 2025, "Puro.earth", D(6), D("60.00")),
        ("A", 2026, "Verra", D(2), D("100.00")),
        ("B", 2026, "American Carbon Registry", D(1), D("10.00")),
        ("B", 2026, "Gold Standard", D(3), D("30.00")),
        ("B", 2026, "Not certified", D(2), D("20.00")),
        ("B", 2026, "Unknown project", D(1), D("10.00")),
        ("B", 2026, "Verra", D(3), D("30.00")),
    ]


def test_portfolio_mix_by_type_mechanism_permanence_registry_country_bundle(views):
    key = (
        "account_id",
        "project_type_key",
        "mechanism",
        "removal_sink",
        "carbon_permanence",
        "registry_label",
        "country_code",
        "bundle_name",
        "currency",
    )
    figures = (
        "contracted_tonnes",
        "retired_tonnes",
        "allocated_tonnes",
        "net_cost",
        "retired_net_cost",
        "order_count",
        "line_count",
    )
    got = sorted(
        (pick(r, *key) + pick(r, *figures) for r in views("portfolio_mix")),
        key=lambda r: tuple("" if v is None else str(v) for v in r),
    )
    # fmt: off
    assert got == [
        ("A", "biochar", "removal", "hybrid", "long_term", "Puro.earth", "DEU", "Removals", "EUR",
         D(6), D(6), D(0), D("400.00"), D("400.00"), 1, 1),
        ("A", "direct air capture", "removal", "technological", "long_term", "Isometric", "ISL",
         "Removals", "EUR", D(4), D(4), D(0), D("600.00"), D("600.00"), 1, 1),
        # o6: 2 t retired + 1 t allocated, no bundle
        ("A", "forest conservation", "reduction", None, None, "Verra", "PER", None, "EUR",
         D(2) + D(1), D(2), D(1), D("20.00") + D("10.00"), D("20.00"), 1, 2),
        ("A", "forest conservation", "reduction", None, "short_term", "Verra", "PER", "Forests",
         "EUR", D(5), D(5), D(0), D("50.00"), D("50.00"), 1, 1),
        ("B", "cookstoves", "reduction", None, None, "Unknown project", None, None, "USD",
         D(1), D(1), D(0), D("5.00"), D("5.00"), 1, 1),
        # the same projects in account B: a row of its own, never added to A's
        ("B", "forest conservation", "reduction", None, "short_term", "Verra", "PER", "Forests",
         "USD", D(3), D(3), D(0), D("60.00"), D("60.00"), 1, 1),
        ("B", "improved forest management", "mixed", None, None, "American Carbon Registry",
         "USA", None, "USD", D(1), D(1), D(0), D("12.00"), D("12.00"), 1, 1),
        ("B", "kelp sinking", "unclassified", None, None, "Not certified", "NOR", None, "USD",
         D(2), D(2), D(0), D("30.00"), D("30.00"), 1, 1),
        ("B", "reforestation", "reduction", None, "short_term", "Gold Standard", "FRA", "Forests",
         "USD", D(5), D(0), D(5), D("100.00"), D("0.00"), 1, 1),
        ("B", "reforestation", "removal", "biogenic", None, "Gold Standard", "FRA", "Mixed bag",
         "USD", D(3), D(3), D(0), D("30.00"), D("30.00"), 1, 1),
    ]
    # fmt: on
    # every line of a non-voided order is somewhere (o12's line is not): o1 10 + o2 5 + o3 8
    # + o4 3 + o6 3 + o8 4
    assert sum(r[9] for r in got) == D(10) + D(5) + D(8) + D(3) + D(3) + D(4)


def test_open_commitments(views):
    got = by(views("open_commitments", "order_id"), "order_id")
    columns = (
        "status",
        "currency",
        "requested_value",
        "contracted_tonnes",
        "retired_tonnes",
        "outstanding_tonnes",
        "outstanding_tonnes_unknown",
        "bundle_names",
        "bundle_offset_types",
        "has_insufficient_inventory",
        "insufficient_inventory_tonnes",
    )
    # fmt: off
    assert {k: pick(r, *columns) for k, r in got.items()} == {
        "o3": ("retiring", "USD", None, D(8), D(3), D(8) - D(3), False, "Forests",
               "emissions_reduction", True, D(8)),
        "o7": ("placed", "EUR", None, D(4), D(0), D(4), False, "Removals", "carbon_removal",
               False, D(0)),
        "o9": ("received", "EUR", D("100.00"), None, D(0), D(0), True, None, None, False, D(0)),
        "o10": ("on_hold", "USD", None, D(2), D(0), D(2), False, None, None, False, D(0)),
    }
    # fmt: on


def test_open_commitments_age_in_days(views):
    ages = {k: r["age_days"] for k, r in by(views("open_commitments"), "order_id").items()}
    # age = the database's current_date - the order's UTC creation date; both ages come from
    # the same query, so the differences between orders are fixed whenever the test runs
    assert ages["o3"] - ages["o7"] == (date(2026, 6, 1) - date(2026, 2, 1)).days
    assert ages["o7"] - ages["o9"] == (date(2026, 7, 1) - date(2026, 6, 1)).days
    assert ages["o10"] - ages["o7"] == (date(2026, 6, 1) - date(2026, 3, 15)).days
    # the database's current_date is the session's (New York) date: within a day of ours
    assert abs(ages["o9"] - (date.today() - date(2026, 7, 1)).days) <= 1


def test_certificate_register(views):
    got = by(views("certificate_register", "order_id"), "order_id")
    columns = (
        "status",
        "certificate_url",
        "has_certificate",
        "project_ids",
        "project_names",
        "registries",
        "registry_links",
        "country_codes",
        "retired_tonnes",
        "currency",
        "retired_net_cost",
        "retired_at",
        "retired_at_is_estimate",
        "reporting_year",
    )
    # o12 (cancelled, with a retired line) is evidence of nothing: left out
    # fmt: off
    assert {k: pick(r, *columns) for k, r in got.items()} == {
        "o1": ("complete", "https://c/o1", True, "pBio; pDAC", "Char Works; DAC One",
               "Isometric; Puro.earth", "https://puro.earth/pBio", "DEU; ISL", D(4) + D(6),
               "EUR", D("600.00") + D("400.00"), ts("2025-06-15T10:00:00+00:00"), False, 2025),
        "o2": ("complete", "https://c/o2", True, "pFor", "Amazon", "Verra", None, "PER", D(5),
               "EUR", D("50.00"), ts(CREATED["o2"]), True, 2024),
        "o3": ("retiring", None, False, "pFor", "Amazon", "Verra", None, "PER", D(3), "USD",
               D("60.00"), ts("2026-03-01T10:00:00+00:00"), False, 2026),
        "o4": ("complete", "https://c/o4", True, "pIfm; pOdd", "Appalachia; Kelp",
               "American Carbon Registry; Not certified", None, "NOR; USA", D(2) + D(1), "USD",
               D("30.00") + D("12.00"), ts("2026-01-20T10:00:00+00:00"), False, 2026),
        "o6": ("complete", "https://c/o6", True, "pFor", "Amazon", "Verra", None, "PER", D(2),
               "EUR", D("20.00"), ts("2026-05-10T10:00:00+00:00"), False, 2026),
        "o8": ("complete", None, False, "pGhost; pRef", "Bosque; Stoves",
               "Gold Standard; Unknown project", None, "FRA", D(3) + D(1), "USD",
               D("30.00") + D("5.00"), ts("2026-01-01T02:00:00+00:00"), False, 2026),
    }
    # fmt: on
    assert pick(got["o2"], "period_start", "period_end") == (date(2024, 1, 1), date(2024, 12, 31))


def test_customer_overview_by_metadata_customer_id(views):
    got = by(views("customer_overview"), "account_id", "customer_id")
    columns = (
        "currency",
        "order_count",
        "voided_order_count",
        "retired_tonnes",
        "removal_tonnes",
        "reduction_tonnes",
        "removal_pct",
        "outstanding_tonnes",
        "net_spend",
        "gross_spend",
        "first_order_at",
        "last_order_at",
        "last_retired_at",
    )
    # fmt: off
    assert {k: pick(r, *columns) for k, r in got.items()} == {
        # o1 + o2
        ("A", "c1"): ("EUR", 2, 0, D(10) + D(5), D(10), D(5), D("66.67"),  # 100 * 10 / 15
                      D(0), D("1000.00") + D("50.00"), D("1100.00") + D("55.00"),
                      ts(CREATED["o2"]), ts(CREATED["o1"]), ts("2025-06-15T10:00:00+00:00")),
        # o7 + o9 (value order without cost yet)
        ("A", "c2"): ("EUR", 2, 0, D(0), D(0), D(0), None, D(4) + D(0),
                      D("40.00"), D("44.00"), ts(CREATED["o7"]), ts(CREATED["o9"]), None),
        # o5 and o12 (voided: counted apart, no tonnes, no spend) + o6 + o11
        ("A", None): ("EUR", 2, 2, D(2), D(0), D(2), D("0.00"), D(0),
                      D("30.00") + D("10.00"), D("33.00") + D("11.00"),
                      ts(CREATED["o6"]), ts(CREATED["o11"]), ts("2026-05-10T10:00:00+00:00")),
        # o3 + o4 + o8 + o10
        ("B", None): ("USD", 4, 0, D(3) + D(3) + D(4), D(3), D(3) + D(1), D("30.00"),  # 3 / 10
                      (D(8) - D(3)) + D(2),
                      D("160.00") + D("42.00") + D("35.00") + D("20.00"),
                      D("176.00") + D("46.20") + D("38.50") + D("22.00"),
                      ts(CREATED["o8"]), ts(CREATED["o10"]), ts("2026-03-01T10:00:00+00:00")),
    }
    # fmt: on


def test_data_quality_issues_one_row_per_condition_to_act_on(views):
    got = views("data_quality_issues")
    key = ("issue", "severity", "account_id", "order_id", "project_id", "reporting_year")
    figures = ("affected_tonnes", "affected_amount", "currency")
    found = {pick(r, *key): pick(r, *figures) for r in got}
    # orders open since 2026 are past the default 90 days for good
    overdue = {
        "o3": (D(5), D("176.00")),
        "o7": (D(4), D("44.00")),
        "o9": (D(0), None),
        "o10": (D(2), D("22.00")),
    }
    # fmt: off
    expected = {
        ("voided_order_with_retired_lines", "error", "A", "o12", None, None):
            (D(2), D("300.00"), "EUR"),
        ("order_quantity_differs_from_lines", "error", "B", "o8", None, None):
            (D(5) - D(4), None, "USD"),
        ("complete_order_with_unretired_lines", "error", "A", "o6", None, None):
            (D(1), None, "EUR"),
        ("complete_order_without_lines", "error", "A", "o11", None, None):
            (D(1), D("11.00"), "EUR"),
        ("quarantined_record", "error", "A", "oQ", None, None): (None, None, None),
        ("insufficient_inventory", "warning", "B", "o3", None, None): (D(8), None, "USD"),
        # one row per account, year and currency, not one per order
        ("retirement_dates_estimated", "warning", "A", None, None, 2024):
            (D(5), D("50.00"), "EUR"),
        ("unmapped_project_type", "warning", "B", None, "pOdd", None): (D(2), D("30.00"), "USD"),
        ("project_not_in_catalogue", "warning", "B", None, "pGhost", None):
            (D(1), D("5.00"), "USD"),
        ("complete_order_without_certificate", "warning", "B", "o8", None, None):
            (D(3) + D(1), None, "USD"),
        ("unknown_order_status", "warning", "B", "o10", None, None): (D(2), D("22.00"), "USD"),
        ("mixed_project_type", "info", "B", None, "pIfm", None): (D(1), D("12.00"), "USD"),
        # o3's reforestation line: bundle bX says reduction, the seed says removal
        ("mechanism_conflict", "info", "B", None, "pRef", None): (D(5), D("100.00"), "USD"),
        # o5 gross 12.00 + o12 gross 330.00, kept by Lune, counted in no spend figure
        ("voided_orders_with_cost", "info", "A", None, None, None):
            (None, D("12.00") + D("330.00"), "EUR"),
    }
    # fmt: on
    for order_id, (tonnes, amount) in overdue.items():
        account = "A" if order_id in ("o7", "o9") else "B"
        currency = "EUR" if account == "A" else "USD"
        expected[("open_order_overdue", "warning", account, order_id, None, None)] = (
            tonnes,
            amount,
            currency,
        )
    # ISO 14068-1: bought in 2026, so retired (or still open) after 2027 is late
    if date.today() >= date(2028, 1, 1):
        for order_id, (tonnes, amount) in overdue.items():
            account = "A" if order_id in ("o7", "o9") else "B"
            key_ = ("not_retired_within_12_months", "warning", account, order_id, None, 2026)
            expected[key_] = (tonnes, amount, "EUR" if account == "A" else "USD")
    assert found == expected
    rows = {r["issue"]: r for r in got}
    assert all(r["action"] and r["detail"] for r in got)
    assert rows["order_quantity_differs_from_lines"]["detail"] == (
        "order 5.000000000 t, project lines 4.000000000 t"  # 3 t pRef + 1 t pGhost
    )
    assert "Kelp sinking" in rows["unmapped_project_type"]["detail"]
    assert "project_type_mechanisms.csv" in rows["unmapped_project_type"]["action"]
    assert rows["voided_orders_with_cost"]["detail"].startswith("2 cancelled or failed order(s)")


def test_data_quality_summary_counts_the_issues(views):
    summary = {
        (r["account_id"], r["issue"]): pick(r, "severity", "issue_count", "affected_tonnes")
        for r in views("data_quality_summary")
    }
    issues = views("data_quality_issues")
    expected: dict[tuple, list] = {}
    for r in issues:
        entry = expected.setdefault((r["account_id"], r["issue"]), [r["severity"], 0, None])
        entry[1] += 1
        if r["affected_tonnes"] is not None:
            entry[2] = (entry[2] or D(0)) + r["affected_tonnes"]
    assert summary == {k: tuple(v) for k, v in expected.items()}
    assert summary[("A", "open_order_overdue")][1] == 2  # o7, o9
    assert summary[("B", "open_order_overdue")][1] == 2  # o3, o10


def test_purchase_spend_per_account_month_and_currency(views):
    got = views("purchase_spend_monthly", "account_id, purchase_month")
    columns = (
        "account_id",
        "purchase_month",
        "currency",
        "order_count",
        "unpriced_order_count",
        "tonnes_bought",
        "net_spend",
        "commission",
        "gross_spend",
        "net_price_per_tonne",
    )
    # voided o5 (April) and o12 (September) buy nothing; o9 is a value order not priced yet
    # fmt: off
    assert [pick(r, *columns) for r in got] == [
        ("A", date(2024, 11, 1), "EUR", 1, 0, D(5), D("50.00"), D("5.00"), D("55.00"),
         D("50.00") / 5),
        ("A", date(2025, 3, 1), "EUR", 1, 0, D(10), D("1000.00"), D("100.00"), D("1100.00"),
         D("1000.00") / 10),
        ("A", date(2026, 5, 1), "EUR", 1, 0, D(3), D("30.00"), D("3.00"), D("33.00"),
         D("30.00") / 3),
        ("A", date(2026, 6, 1), "EUR", 1, 0, D(4), D("40.00"), D("4.00"), D("44.00"),
         D("40.00") / 4),
        ("A", date(2026, 7, 1), "EUR", 1, 1, D(0), D(0), D(0), D(0), None),
        ("A", date(2026, 8, 1), "EUR", 1, 0, D(1), D("10.00"), D("1.00"), D("11.00"),
         D("10.00") / 1),
        ("B", date(2025, 12, 1), "USD", 1, 0, D(5), D("35.00"), D("3.50"), D("38.50"),
         D("35.00") / 5),
        ("B", date(2026, 1, 1), "USD", 1, 0, D(3), D("42.00"), D("4.20"), D("46.20"),
         D("42.00") / 3),
        ("B", date(2026, 2, 1), "USD", 1, 0, D(8), D("160.00"), D("16.00"), D("176.00"),
         D("160.00") / 8),
        ("B", date(2026, 3, 1), "USD", 1, 0, D(2), D("20.00"), D("2.00"), D("22.00"),
         D("20.00") / 2),
    ]
    # fmt: on


def test_offset_link_sales_per_link(views):
    got = by(views("offset_link_sales"), "account_id", "offset_link_id")
    columns = (
        "currency",
        "order_count",
        "tonnes_bought",
        "retired_tonnes",
        "gross_spend",
        "end_customer_count",
    )
    # L1: o1 + o7 (x@) and o2 (y@); the voided o12 on L1 counts toward nothing
    assert pick(got[("A", "L1")], *columns) == (
        "EUR",
        3,
        D(10) + D(4) + D(5),
        D(10) + D(0) + D(5),
        D("1100.00") + D("44.00") + D("55.00"),
        2,
    )
    assert list(got) == [("A", "L1")]


def test_accounts_lists_every_account_with_its_orders_not_voided(views):
    columns = ("account_id", "account_name", "account_currency", "account_scope", "order_count")
    got = [
        (*pick(r, *columns), r["first_order_at"], r["last_order_at"])
        for r in views("accounts", "account_id")
    ]
    assert got == [
        # o5 and o12 are cancelled: 6 of A's 8 orders count, o2 first, o11 last
        ("A", "Acme", "EUR", "account", 6, ts(CREATED["o2"]), ts(CREATED["o11"])),
        # B: o8 first, o10 (an unknown status, still an order) last
        ("B", "Beta", "USD", "client_account", 4, ts(CREATED["o8"]), ts(CREATED["o10"])),
    ]


def test_money_columns_sit_beside_a_currency(views):
    """Every mart with an amount column also has `currency` (amounts are never mixed)."""
    money = {
        "net_cost",
        "gross_cost",
        "net_spend",
        "gross_spend",
        "retired_net_cost",
        "commission",
        "requested_value",
        "net_unit_price",
        "affected_amount",
    }
    for view in (
        "credit_lines",
        "order_details",
        "retirements_monthly",
        "purchase_spend_monthly",
        "offset_link_sales",
        "portfolio_mix",
        "open_commitments",
        "certificate_register",
        "customer_overview",
        "data_quality_issues",
    ):
        columns = set(views(view)[0])
        assert columns & money, view
        assert "currency" in columns, view
    for view in ("esrs_e1_7_summary", "esrs_e1_7_summary_organisation", "data_quality_summary"):
        assert not set(views(view)[0]) & money, view
