"""An open order the API stops returning (404 by id, gone from the list) is marked on its
stored row (`orders.vanished_at`), which otherwise stays as it was, and the run summary counts
it; on DuckDB and PostgreSQL, in an incremental run and in a full refresh. The sandbox forgets
the order through its admin endpoint, as a test driving a separate sandbox process would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dlt
import httpx
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from pipelines.runner import RunOptions, RunSummary, run
from tests.support.env import environment
from tests.support.warehouse import actual_rows, differences, expected_rows

OPEN = ("received", "placed", "paid", "retiring")
LINE_TABLES = ("orders__bundles", "orders__projects")


def _forget_an_open_order(server: SandboxServer, world: SandboxWorld) -> tuple[str, str]:
    """Picks an open order that has lines and makes the sandbox forget it."""
    for account_id in world.account_ids():
        for order in world.orders(account_id):
            if order["status"] in OPEN and order.get("bundles"):
                response = httpx.post(
                    f"{server.base_url}/_sandbox/forget",
                    json={"account_id": account_id, "order_id": order["id"]},
                )
                assert response.status_code == 200, response.text
                return account_id, order["id"]
    raise AssertionError("the sandbox has no open order with lines")


def _rows(cursor: Any, dataset: str, table: str, where: str = "true") -> list[dict[str, Any]]:
    """Rows as dicts, without dlt's bookkeeping columns (they change with every merge)."""
    cursor.execute(f"select * from {dataset}.{table} where {where}")
    names = [d[0] for d in cursor.description]
    return sorted(
        (
            {k: v for k, v in zip(names, row, strict=True) if not k.startswith("_dlt_")}
            for row in cursor.fetchall()
        ),
        key=repr,
    )


def _of(account_id: str, order_id: str, key: str = "id") -> str:
    return f"account_id = '{account_id}' and {key} = '{order_id}'"


def _check_vanished_flow(
    load, cursor_factory, dataset: str, world: SandboxWorld, server: SandboxServer
) -> None:
    """First load, forget an open order, load again: marked, counted, nothing else changed."""
    first = load()
    assert first.orders["vanished"] == 0
    with cursor_factory() as cursor:
        types = {
            name: data_type
            for name, data_type in _columns(cursor, dataset, "orders")
            if name == "vanished_at"
        }
        assert types == {"vanished_at": "timestamp with time zone"}  # typed, even all null
        cursor.execute(f"select count(*), count(vanished_at) from {dataset}.orders")
        total, marked = cursor.fetchone()
        assert total > 0 and marked == 0

    account_id, order_id = _forget_an_open_order(server, world)
    with cursor_factory() as cursor:
        before = _rows(cursor, dataset, "orders", _of(account_id, order_id))
        lines_before = {
            t: _rows(cursor, dataset, t, _of(account_id, order_id, "order_id")) for t in LINE_TABLES
        }
        others_before = _rows(cursor, dataset, "orders", f"not ({_of(account_id, order_id)})")
    assert len(before) == 1 and before[0]["vanished_at"] is None
    world.advance(new_orders=5, transitions=5)

    second = load()

    assert second.orders["vanished"] == 1
    assert [
        a["vanished_open_orders"] for a in second.accounts if a["account_id"] == account_id
    ] == [1]
    assert "vanished 1" in second.to_text()
    with cursor_factory() as cursor:
        after = _rows(cursor, dataset, "orders", _of(account_id, order_id))
        lines_after = {
            t: _rows(cursor, dataset, t, _of(account_id, order_id, "order_id")) for t in LINE_TABLES
        }
        cursor.execute(f"select count(*) from {dataset}.orders where vanished_at is not null")
        assert cursor.fetchone()[0] == 1
        # the rest is the sandbox exactly; the forgotten order's rows are the only extras
        problems = differences(expected_rows(world), actual_rows(cursor, dataset))
    vanished_at = after[0].pop("vanished_at")
    assert isinstance(vanished_at, datetime)
    started = datetime.fromisoformat(second.started_at)
    finished = datetime.fromisoformat(second.finished_at)
    assert started <= vanished_at <= finished
    before[0].pop("vanished_at")
    assert after == before  # every other column as it was stored
    assert lines_after == lines_before and lines_before["orders__bundles"]
    assert sorted(problems) == sorted(
        [f"orders: extra (stale or orphaned) {(account_id, order_id)}"]
        + [
            f"{t}: extra (stale or orphaned) {(account_id, order_id, line['line_idx'])}"
            for t in LINE_TABLES
            for line in lines_before[t]
            if line["line_idx"] >= 0
        ]
    )

    third = load()
    assert third.orders["vanished"] == 0  # counted once
    with cursor_factory() as cursor:
        again = _rows(cursor, dataset, "orders", _of(account_id, order_id))
        others_after = _rows(cursor, dataset, "orders", f"not ({_of(account_id, order_id)})")
    assert again[0]["vanished_at"] == vanished_at
    assert all(row["vanished_at"] is None for row in others_after)
    assert len(others_after) == len(others_before) + 5


def _columns(cursor: Any, dataset: str, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "select column_name, lower(data_type) from information_schema.columns "
        f"where table_schema = '{dataset}' and table_name = '{table}'"
    )
    return cursor.fetchall()


class _DuckCursor:
    def __init__(self, loader) -> None:
        self.loader = loader

    def __enter__(self):
        self.con = self.loader.connect()
        return self.con.cursor()

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def test_a_vanished_open_order_is_marked_and_counted(loader, sandbox_world, sandbox_server):
    _check_vanished_flow(
        loader.run, lambda: _DuckCursor(loader), "lune", sandbox_world, sandbox_server
    )


def test_a_full_refresh_notices_a_vanished_open_order_too(loader, sandbox_world, sandbox_server):
    loader.run()
    account_id, order_id = _forget_an_open_order(sandbox_server, sandbox_world)

    summary = loader.run(full_refresh=True)

    assert summary.orders["vanished"] == 1
    with loader.connect() as con:
        marked = con.execute(
            "select account_id, id from lune.orders where vanished_at is not null"
        ).fetchall()
    assert marked == [(account_id, order_id)]


@pytest.mark.postgres
def test_a_vanished_open_order_is_marked_on_postgres(tmp_path, postgres_dsn):
    import psycopg2

    world = SandboxWorld.generate(seed=12, client_accounts=2, orders_per_account=60, open_share=0.2)
    dataset = "vanished_pg"
    options = RunOptions(
        destination=dlt.destinations.postgres(credentials=postgres_dsn),
        dataset=dataset,
        pipeline_name="vanished_pg",
        pipelines_dir=str(tmp_path / "pipelines"),
        transform=False,
    )

    class _PgCursor:
        def __enter__(self):
            self.con = psycopg2.connect(postgres_dsn)
            return self.con.cursor()

        def __exit__(self, *exc: object) -> None:
            self.con.close()

    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        with _PgCursor() as cursor:
            cursor.execute(f"drop schema if exists {dataset} cascade")
            cursor.connection.commit()

        def load() -> RunSummary:
            return run(options)

        _check_vanished_flow(load, _PgCursor, dataset, world, server)


def test_a_vanished_order_leaves_open_commitments_and_shows_in_data_quality(
    tmp_path, sandbox_world, sandbox_server, lune_env
):
    """Through the marts: out of open commitments and planned retirements, in data quality."""
    from tests.support.loader import Loader

    loader = Loader(workdir=tmp_path, transform=True)
    loader.run()
    account_id, order_id = _forget_an_open_order(sandbox_server, sandbox_world)
    with loader.connect() as con:
        [(planned_before, outstanding)] = con.execute(
            "select s.planned_future_retirement_tonnes, c.outstanding_tonnes "
            "from lune_reporting.open_commitments as c "
            "inner join lune_reporting.esrs_e1_7_summary as s "
            "on s.account_id = c.account_id and s.reporting_year = c.order_reporting_year "
            "where c.account_id = ? and c.order_id = ?",
            [account_id, order_id],
        ).fetchall()
        [(year,)] = con.execute(
            "select order_reporting_year from lune_reporting.order_details "
            "where account_id = ? and order_id = ?",
            [account_id, order_id],
        ).fetchall()

    loader.run()

    with loader.connect() as con:
        still_open = con.execute(
            "select count(*) from lune_reporting.open_commitments "
            "where account_id = ? and order_id = ?",
            [account_id, order_id],
        ).fetchone()[0]
        listed = con.execute(
            "select severity, affected_tonnes from lune_reporting.data_quality_issues "
            "where issue = 'vanished_open_order' and account_id = ? and order_id = ?",
            [account_id, order_id],
        ).fetchall()
        [(planned_after,)] = con.execute(
            "select planned_future_retirement_tonnes from lune_reporting.esrs_e1_7_summary "
            "where account_id = ? and reporting_year = ?",
            [account_id, year],
        ).fetchall()
    assert still_open == 0
    assert listed == [("warning", outstanding)]
    # nothing else changed between the runs: the year's planned tonnes lose exactly this order
    if planned_before is None:
        assert planned_after is None
    else:
        assert planned_after == planned_before - outstanding
