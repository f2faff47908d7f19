"""`lune-pipeline demo` (what `make demo` runs) ends with a DuckDB file equal to the sandbox."""

from __future__ import annotations

import duckdb

from lune_sandbox import SandboxWorld
from pipelines.demo import DEMO_ADVANCE, DEMO_SEED, DEMO_WORLD
from tests.support.cli import run_cli
from tests.support.warehouse import actual_rows, differences, expected_rows


def test_demo_loads_exactly_the_sandbox(tmp_path):
    result = run_cli(["demo", "--path", str(tmp_path / "demo.duckdb")], tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Loaded tables in" in result.stdout and "Reporting marts in" in result.stdout
    assert "How to query it" in result.stdout or "Query it" in result.stdout

    # the same world, moved on the same way, is what the demo's sandbox served
    world = SandboxWorld.generate(seed=DEMO_SEED, **DEMO_WORLD)
    world.advance(**DEMO_ADVANCE)
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as con:
        assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []
        counts = dict(
            con.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = 'lune'"
            ).fetchall()
        )
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        marts = con.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'lune_reporting'"
        ).fetchall()
        blank_columns = con.execute(
            "select c.table_name, c.column_name from duckdb_columns() as c "
            "inner join duckdb_tables() as t on t.schema_name = c.schema_name "
            "and t.table_name = c.table_name "
            "where c.schema_name = 'lune_reporting' and coalesce(trim(c.comment), '') = ''"
        ).fetchall()
        raw = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'lune'"
            ).fetchall()
        }
    for table in ("orders", "orders__bundles", "orders__projects", "order_status_history"):
        assert counts[table] > 0, table
    assert {"lune", "lune_staging", "lune_reporting"} <= schemas
    assert len(marts) >= 10 and all((comment or "").strip() for _, comment in marts), marts
    assert blank_columns == []
    # the raw schema holds only what dlt loaded: no view, no seed
    assert all(not t.startswith(("stg_", "int_", "seed_")) for t in raw), raw
