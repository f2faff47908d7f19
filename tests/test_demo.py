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
    assert "What landed in" in result.stdout
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
    for table in ("orders", "orders__bundles", "orders__projects", "order_status_history"):
        assert counts[table] > 0, table
