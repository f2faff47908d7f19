"""The product, run in-process in a worker: `pipelines.runner.run`, and the reporting marts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .memory import RssSampler

PIPELINE_NAME = "lune_bench"
DATASET = "lune"
# The benchmark measures processing, not Lune's 15 requests/s: the client limiter is off.
SOURCE_OPTIONS: dict[str, Any] = {"max_requests_per_second": 0}


def _options(
    warehouse: Path, full_refresh: bool = False, source_options: dict[str, Any] | None = None
) -> Any:
    import dlt

    from pipelines.runner import RunOptions

    return RunOptions(
        destination=dlt.destinations.duckdb(credentials=str(warehouse / "warehouse.duckdb")),
        dataset=DATASET,
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(warehouse / "pipelines"),
        transform=False,
        full_refresh=full_refresh,
        source_options=_source_options(source_options),
    )


def _source_options(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """SOURCE_OPTIONS with `overrides`; an override of None removes the option (so that
    `{"max_requests_per_second": None}` runs with the product's default limiter)."""
    options = {**SOURCE_OPTIONS, **(overrides or {})}
    return {k: v for k, v in options.items() if v is not None}


def _configure(base_url: str, api_key: str) -> None:
    os.environ["SOURCES__LUNE__API_KEY"] = api_key
    os.environ["SOURCES__LUNE__BASE_URL"] = base_url
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def warm_imports() -> None:
    """Imports what a run needs, so the timed section measures the run, not the imports
    (as the reference loaders import duckdb and pyarrow before their timers start).

    Besides the product's own modules, the ones dlt and httpx import only on first use: the
    DuckDB driver, pyarrow's parquet writer, httpx's transport (httpcore, h11) and the
    `requests` helpers dlt's runtime loads when the first source is configured.
    """
    import dlt
    import dlt.destinations.impl.duckdb.factory
    import dlt.sources.helpers.requests  # noqa: F401
    import duckdb  # noqa: F401
    import h11  # noqa: F401
    import httpcore  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import pipelines.runner  # noqa: F401


def run_product(
    base_url: str,
    api_key: str,
    warehouse: Path,
    full_refresh: bool = False,
    profile_to: Path | None = None,
    source_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One pipeline run into `warehouse` (a directory kept between runs)."""
    _configure(base_url, api_key)
    from pipelines.runner import run

    options = _options(warehouse, full_refresh, source_options)
    profiler = _start_profiler() if profile_to else None
    with RssSampler() as sampler:
        started = time.perf_counter()
        summary = run(options)
        wall = time.perf_counter() - started
    if profiler is not None and profile_to is not None:
        profiler.stop()
        profile_to.with_suffix(".txt").write_text(
            profiler.output_text(unicode=False, color=False, show_all=False)
        )
        profile_to.with_suffix(".html").write_text(profiler.output_html())
        profiler.last_session.save(str(profile_to.with_suffix(".pyisession")))
    requests = sum(v for k, v in summary.requests.items() if k != "retries")
    orders = summary.orders
    return {
        "wall": wall,
        "orders": sum(orders.values()),
        "requests": requests,
        "requests_by_kind": summary.requests,
        "orders_by_kind": orders,
        "rows_loaded": summary.rows_loaded,
        "timings": summary.timings,
        "phase_peak_rss_mb": sampler.peaks(list(summary.timings.items())),
        "accounts": summary.accounts,
        "warehouse_rows": _row_counts(warehouse),
    }


def _start_profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed in this venv: running without the profiler")
        return None
    profiler = Profiler(interval=0.005)
    profiler.start()
    return profiler


def _row_counts(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True) as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {DATASET}.{table}").fetchone()[0]
            for table in ("orders", "orders__bundles", "orders__projects", "order_status_history")
        }


def time_views(base_url: str, api_key: str, warehouse: Path, rounds: int = 3) -> dict[str, Any]:
    """Builds the reporting project (`dbt build`, tests included) and times each mart.

    Each mart of the reporting schema is read in full (`SELECT *` into Arrow) `rounds` times;
    the first (cold) and the best time are kept. A failed build is reported, not raised.
    """
    _configure(base_url, api_key)
    import duckdb

    from pipelines.runner import build_reporting, make_pipeline

    options = _options(warehouse)
    pipeline = make_pipeline(options)
    started = time.perf_counter()
    try:
        result = build_reporting(pipeline, options)
    except Exception as e:
        return {"available": False, "reason": f"dbt build failed: {_short(e)}"}
    build_seconds = time.perf_counter() - started
    built = [n.name for n in result.of_kind("model")]
    timings: dict[str, dict[str, Any]] = {}
    with duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True) as con:
        views = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            f"WHERE schema_name = '{DATASET}_reporting' ORDER BY table_name"
        ).fetchall()
        for schema, view in views:
            seconds: list[float] = []
            rows = 0
            error = None
            for _ in range(rounds):
                started = time.perf_counter()
                try:
                    rows = con.execute(f'SELECT * FROM "{schema}"."{view}"').to_arrow_table()
                    rows = rows.num_rows
                except Exception as e:
                    error = _short(e)
                    break
                seconds.append(time.perf_counter() - started)
            timings[f"{schema}.{view}"] = {
                "cold": seconds[0] if seconds else None,
                "best": min(seconds) if seconds else None,
                "rows": rows,
                "error": error,
            }
    return {
        "available": True,
        "built": built,
        "tests": result.to_dict(),
        "build_seconds": build_seconds,
        "views": timings,
    }


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= 300 else text[:297] + "..."


def warm_report_imports() -> None:
    """Imports the report needs (altair, Jinja2, vl-convert), outside the timed section;
    vl-convert's engine itself starts inside it, as it does for a user."""
    import altair  # noqa: F401
    import jinja2  # noqa: F401
    import vl_convert  # noqa: F401

    import reports.writer  # noqa: F401

    warm_imports()


def time_report(base_url: str, api_key: str, warehouse: Path, scope: str) -> dict[str, Any]:
    """`lune-pipeline report` of every account (`scope` all) or of the account with the most
    orders (one), the latest complete reporting year, from the warehouse's marts (built
    here, untimed, if the views contender did not build them)."""
    _configure(base_url, api_key)
    import duckdb

    import reports
    from pipelines.runner import build_reporting, make_pipeline

    options = _options(warehouse)
    pipeline = make_pipeline(options)
    database = warehouse / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        built = con.execute(
            "select count(*) from information_schema.tables "
            f"where table_schema = '{DATASET}_reporting' and table_name = 'accounts'"
        ).fetchone()[0]
    if not built:
        try:
            build_reporting(pipeline, options)
        except Exception as e:  # data tests may fail; the marts are built before the tests run
            print(f"dbt build: {_short(e)}")
    account_ids = None
    if scope == "one":
        with duckdb.connect(str(database), read_only=True) as con:
            account_ids = [
                con.execute(
                    f"select account_id from {DATASET}_reporting.accounts "
                    "order by order_count desc, account_id limit 1"
                ).fetchone()[0]
            ]
    out = warehouse / f"reports-{scope}"
    cpu_before = os.times()
    started = time.perf_counter()
    written = reports.write_for_pipeline(
        pipeline, reports.ReportRequest(account_ids=account_ids, out=out)
    )
    wall = time.perf_counter() - started
    cpu_after = os.times()
    sizes = {path.name: path.stat().st_size for path in written}
    return {
        "wall": wall,
        # CPU seconds of all the process's threads (DuckDB's, vl-convert's): on a machine
        # shared with other work, wall time grows with the load, CPU time much less
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "scope": scope,
        "files": len(written),
        "sizes": sizes,
        "max_bytes": max(sizes.values()),
        "total_bytes": sum(sizes.values()),
    }
