"""End to end: the sandbox (real HTTP on loopback) → the dlt source → DuckDB, compared row by
row with the sandbox's own records."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.runner import RunError


def test_full_load_equals_the_sandbox(loader, sandbox_world):
    summary = loader.run()

    assert loader.differences(sandbox_world) == []
    total = sum(len(sandbox_world.orders(a)) for a in sandbox_world.account_ids())
    assert summary.orders["new"] == total
    assert summary.outcome == "succeeded"


@pytest.mark.parametrize(("per_yield", "hold_seconds"), [(3, 3600.0), (1000, 0.0)])
def test_a_load_in_many_small_items_equals_the_sandbox(
    loader, sandbox_world, monkeypatch, per_yield, hold_seconds
):
    """Orders become Arrow tables a few at a time and are yielded as one item per table when
    enough of them wait (`per_yield` conversions) or when they waited long enough: a backfill
    and an incremental run still land every order exactly once."""
    import sources.lune as source

    monkeypatch.setattr(source, "BATCH_ORDERS", 7)
    monkeypatch.setattr(source, "BATCHES_PER_YIELD", per_yield)
    monkeypatch.setattr(source, "MAX_HOLD_SECONDS", hold_seconds)
    loader.run()
    assert loader.differences(sandbox_world) == []
    sandbox_world.advance(new_orders=30, transitions=40)
    summary = loader.run()
    assert summary.orders["new"] == 30
    assert loader.differences(sandbox_world) == []


def test_status_history_holds_what_each_run_saw(loader, sandbox_world):
    """A backfill writes one row per order (no status before it); the next run one per order
    whose status changed in between, from the status the first run saw. The rows expected
    come from the sandbox's records, read before each run."""

    def orders() -> dict[tuple[str, str], tuple[str, datetime]]:
        return {
            (account, order["id"]): (order["status"], datetime.fromisoformat(order["created_at"]))
            for account in sandbox_world.account_ids()
            for order in sandbox_world.orders(account)
        }

    first = orders()
    loader.run()
    sandbox_world.advance(new_orders=20, transitions=60)
    second = orders()
    loader.run()

    expected = [(*key, status, None, created) for key, (status, created) in first.items()]
    for key, (status, created) in second.items():
        if key not in first:
            expected.append((*key, status, None, created))
        elif status != first[key][0]:
            expected.append((*key, status, first[key][0], created))
    assert sum(1 for key in second if key in first and second[key][0] != first[key][0]) > 0
    with loader.connect() as con:
        actual = con.execute(
            "select account_id, order_id, status, previous_status, order_created_at "
            "from lune.order_status_history"
        ).fetchall()
    assert sorted(actual) == sorted(expected)


def test_columns_have_exact_types(loader):
    loader.run()
    with loader.connect() as con:
        types = {
            (table, column): data_type
            for table, column, data_type in con.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'lune'"
            ).fetchall()
        }
    for column in (
        "offset_cost",
        "commission",
        "total_cost",
        "quantity",
        "requested_quantity",
        "requested_value",
    ):
        assert types[("orders", column)] == "DECIMAL(38,9)", column
    for column in ("quantity", "unit_price", "gross_unit_price", "offset_cost"):
        assert types[("orders__bundles", column)] == "DECIMAL(38,9)", column
    for column in ("quantity", "unit_price", "offset_cost"):
        assert types[("orders__projects", column)] == "DECIMAL(38,9)", column
    assert types[("orders", "created_at")] == "TIMESTAMP WITH TIME ZONE"
    assert types[("orders", "metadata")] == "JSON"
    assert types[("bundles", "unit_price")] == "DECIMAL(38,9)"


def test_every_account_lands_under_its_own_id(loader, sandbox_world):
    assert len(sandbox_world.account_ids()) >= 5  # own account + 4 client accounts
    loader.run()
    with loader.connect() as con:
        loaded = dict(
            con.execute("select account_id, count(*) from lune.orders group by 1").fetchall()
        )
        for table in ("orders__bundles", "orders__projects", "order_status_history"):
            leaked = con.execute(
                f"select count(*) from lune.{table} c left join lune.orders o "
                "on o.account_id = c.account_id and o.id = c.order_id where o.id is null"
            ).fetchone()[0]
            assert leaked == 0, table
    expected = {a: len(sandbox_world.orders(a)) for a in sandbox_world.account_ids()}
    assert loaded == {a: n for a, n in expected.items() if n}
    assert any(n == 0 for n in expected.values()), "the sandbox should have an empty account"


def test_client_account_added_between_runs_is_backfilled(loader, sandbox_world):
    loader.run()
    newcomer = sandbox_world.add_client_account(name="Newco", currency="EUR", orders=30)
    summary = loader.run()

    assert loader.differences(sandbox_world) == []
    new_account = next(a for a in summary.accounts if a["account_id"] == newcomer["id"])
    assert new_account["orders"]["new"] == 30
    with loader.connect() as con:
        scope = con.execute(
            "select scope from lune.client_accounts where id = ?", [newcomer["id"]]
        ).fetchone()
    assert scope == ("client_account",)


def test_catalogue_matches_and_every_line_finds_its_catalogue_row(loader, sandbox_world):
    loader.run()
    with loader.connect() as con:
        bundles = {
            row[0]: row[1:]
            for row in con.execute(
                "select id, offset_type, carbon_permanence, currency, disabled from lune.bundles"
            ).fetchall()
        }
        projects = {
            row[0]: row[1:]
            for row in con.execute(
                "select id, project_type, registry_name, country_code from lune.projects"
            ).fetchall()
        }
        orphan_bundles = con.execute(
            "select count(*) from lune.orders__bundles l "
            "left join lune.bundles b on b.id = l.bundle_id where b.id is null"
        ).fetchone()[0]
        orphan_projects = con.execute(
            "select count(*) from lune.orders__projects l "
            "left join lune.projects p on p.id = l.project_id where p.id is null"
        ).fetchone()[0]
    assert bundles == {
        b["id"]: (b.get("offset_type"), b.get("carbon_permanence"), b["currency"], b["disabled"])
        for b in sandbox_world.bundles
    }
    assert projects == {
        p["id"]: (p["project_type"], p.get("registry_name"), p.get("country_code"))
        for p in sandbox_world.projects
    }
    assert orphan_bundles == 0
    assert orphan_projects == 0


def test_sandbox_sees_no_429_caused_by_the_client(loader, sandbox_server, sandbox_world):
    sandbox_server.clear_log()
    loader.run()
    log = sandbox_server.request_log
    assert len(log) > 10
    assert [r for r in log if r.status == 429] == []


def test_only_configured_accounts_are_loaded(loader, sandbox_world, monkeypatch):
    chosen = sandbox_world.account_ids()[1:3]
    loader.run(account_ids=chosen)

    assert loader.differences(sandbox_world, chosen) == []
    with loader.connect() as con:
        loaded = {
            r[0] for r in con.execute("select distinct account_id from lune.orders").fetchall()
        }
    assert loaded <= set(chosen)


def test_unknown_configured_account_is_a_clear_error(loader):
    with pytest.raises(RunError, match="acc_nope are not accounts of this API key"):
        loader.run(account_ids=["acc_nope"])


def test_account_list_longer_than_one_page(tmp_path):
    from lune_sandbox import SandboxServer, SandboxWorld
    from tests.support.env import environment
    from tests.support.loader import Loader

    world = SandboxWorld.generate(
        seed=4, client_accounts=105, orders_per_account={0: 20, 57: 15, 105: 12}
    )
    loader = Loader(workdir=tmp_path, source_options={"max_requests_per_second": 0})
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        summary = loader.run()
        account_pages = [r for r in server.request_log if r.path == "/v1/accounts/client"]
    assert len(account_pages) == 2  # 105 client accounts at 100 per page
    assert len(summary.accounts) == 106
    assert loader.differences(world) == []
    with loader.connect() as con:
        assert con.execute("select count(*) from lune.client_accounts").fetchone()[0] == 106
