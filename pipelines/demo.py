"""`lune-pipeline demo`: the whole product on one machine, no API key, no network.

Starts the bundled Lune sandbox on a free loopback port, loads it into a fresh DuckDB file,
moves the sandbox's clock forward (new orders, open orders advancing), runs again to show
the incremental sync, prints what landed and how to query it, and ends by writing the
carbon-credit report of every account (`lune_reports/` next to the DuckDB file) and printing
where the files are.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from .runner import RunError, RunOptions, run

DEMO_PIPELINE = "lune_demo"
DEMO_DATASET = "lune"
# The sandbox the demo serves, and how it moves on between the two runs (tests rebuild both).
DEMO_SEED = 7
DEMO_WORLD = {"client_accounts": 4, "orders_per_account": 250}
DEMO_ADVANCE = {"new_orders": 25, "transitions": 60}


def run_demo(path: str, seed: int = DEMO_SEED) -> int:
    import dlt

    from lune_sandbox import SandboxServer, SandboxWorld

    db_path = Path(path).resolve()
    work_dir = db_path.parent / "pipelines"
    reports_dir = db_path.parent / "lune_reports"
    # the sandbox starts from its seed every time, so the warehouse must too
    shutil.rmtree(work_dir, ignore_errors=True)
    for leftover in (db_path, db_path.with_suffix(db_path.suffix + ".wal")):
        leftover.unlink(missing_ok=True)
    db_path.parent.mkdir(parents=True, exist_ok=True)

    print("Starting the Lune sandbox and generating accounts and orders ...")
    world = SandboxWorld.generate(seed=seed, **DEMO_WORLD)
    with SandboxServer(world, port=0, rate_limit=15) as server:
        os.environ["SOURCES__LUNE__API_KEY"] = world.api_key
        os.environ["SOURCES__LUNE__BASE_URL"] = server.base_url
        options = RunOptions(
            destination=dlt.destinations.duckdb(credentials=str(db_path)),
            dataset=DEMO_DATASET,
            pipeline_name=DEMO_PIPELINE,
            pipelines_dir=str(work_dir),
        )
        try:
            print(f"\n1. Full load from the sandbox at {server.base_url}")
            print(_indent(run(options).to_text()))
            world.advance(**DEMO_ADVANCE)
            print(
                f"\n2. The sandbox moved on ({DEMO_ADVANCE['new_orders']} new orders, "
                f"{DEMO_ADVANCE['transitions']} lifecycle steps); incremental run"
            )
            print(_indent(run(options).to_text()))
        except RunError as e:
            print(f"lune-pipeline demo: {e}")
            return 1
    _describe(db_path)
    return _write_reports(options, reports_dir)


def _write_reports(options: RunOptions, folder: Path) -> int:
    """The report of every account for the latest complete reporting year."""
    from reports import ReportError, ReportRequest, write_for_pipeline

    from .runner import make_pipeline

    try:
        written = write_for_pipeline(make_pipeline(options), ReportRequest(out=folder))
    except ReportError as e:
        print(f"lune-pipeline demo: {e}")
        return 1
    print("\nCarbon-credit reports (one per account, open them in a browser):")
    for report in written:
        print(f"  {report}")
    return 0


def _describe(db_path: Path) -> None:
    schemas = (DEMO_DATASET, f"{DEMO_DATASET}_reporting")
    with duckdb.connect(str(db_path), read_only=True) as con:
        for schema, what in zip(schemas, ("loaded tables", "reporting marts"), strict=True):
            rows = con.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = ? and table_name not like '\\_dlt%' escape '\\' "
                "order by table_type, table_name",
                [schema],
            ).fetchall()
            print(f"\n{what.capitalize()} in {db_path} (schema {schema!r}):")
            for name, kind in rows:
                count = con.execute(f'select count(*) from {schema}."{name}"').fetchone()[0]
                label = "view " if kind == "VIEW" else "table"
                print(f"  {label} {name:<32} {count:>8} rows")
    query = (
        "select reporting_year, retired_tonnes, removal_pct, planned_future_retirement_tonnes "
        f"from {DEMO_DATASET}_reporting.esrs_e1_7_summary order by reporting_year"
    )
    print("\nQuery it, for example:")
    print(f"  .venv/bin/python -c \"import duckdb; duckdb.connect('{db_path}').sql(")
    print(f"      '{query}').show()\"")
    print(
        "Every mart and column is described in the warehouse itself (DuckDB: duckdb_columns()"
        ".comment) and in sql/models/marts/_lune__marts.yml."
    )


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
