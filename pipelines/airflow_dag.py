"""Airflow DAG: load Lune orders, then build the reporting project (dbt), as two tasks;
optionally a third writes the carbon-credit report (`report.enabled` in the manifest).

Copy or symlink this file into the DAG folder of an Airflow that has this package installed
(`pip install -r requirements-airflow.lock` then `pip install --no-deps .`). Schedule,
retries and the profile come from dlt_project.yml (LUNE_MANIFEST points at it; LUNE_PROFILE
picks the profile). The Lune key and warehouse credentials come from the worker's
environment or an Airflow-provided secrets backend, as dlt config (SOURCES__LUNE__API_KEY,
DESTINATION__<NAME>__CREDENTIALS). With `report.enabled: true` the report of every account
for the latest complete reporting year goes to `report.out` (relative to the manifest) after
each build, as `lune-pipeline report` would write it.

dlt's PipelineTasksGroup is not used: it calls `pipeline.run()` directly, bypassing this
product's runner (one run at a time, finishing packages of a killed run first, the run
summary). Its main benefit, a worker with an empty disk resuming from the destination's
state, the runner has already, since dlt keeps the sync state in the destination.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from pipelines.manifest import load_settings

SETTINGS = load_settings()


def _options(**overrides: Any):
    from pipelines.cli import destination_for
    from pipelines.runner import RunOptions

    options = RunOptions(
        destination=destination_for(SETTINGS),
        dataset=SETTINGS.dataset,
        pipeline_name=SETTINGS.pipeline_name,
        account_ids=SETTINGS.account_ids or None,
        since=SETTINGS.since,
        transform=False,
        transform_vars=dict(SETTINGS.transform_vars),
        transform_project_dir=SETTINGS.transforms_project_dir,
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@dag(
    dag_id="lune_orders",
    schedule=SETTINGS.cron,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": timedelta(minutes=SETTINGS.retry_delay_minutes),
    },
    tags=["lune", "dlt", "carbon-credits"],
)
def lune_orders():
    @task
    def load(**context: Any) -> dict[str, Any]:
        from pipelines.runner import run

        pipelines_dir = context.get("params", {}).get("pipelines_dir")
        summary = run(_options(pipelines_dir=pipelines_dir))
        if summary.outcome != "succeeded":
            raise RuntimeError(summary.error)
        return {"orders": summary.orders, "rows_loaded": summary.rows_loaded}

    @task
    def transform(_loaded: dict[str, Any], **context: Any) -> dict[str, Any]:
        """`dbt build` of the reporting project; a failing `error` test fails the task."""
        from pipelines.runner import build_reporting, make_pipeline

        pipelines_dir = context.get("params", {}).get("pipelines_dir")
        options = _options(pipelines_dir=pipelines_dir)
        return build_reporting(make_pipeline(options), options).to_dict()

    @task
    def report(_built: dict[str, Any], **context: Any) -> list[str]:
        """The carbon-credit report of every account, from the marts just built."""
        from pathlib import Path

        from pipelines.runner import last_run_path, make_pipeline
        from reports import ReportRequest, write_for_pipeline

        pipelines_dir = context.get("params", {}).get("pipelines_dir")
        pipeline = make_pipeline(_options(pipelines_dir=pipelines_dir))
        request = ReportRequest(
            out=Path(SETTINGS.report_dir),
            format=SETTINGS.report_format,
            fiscal_year_start_month=SETTINGS.transform_vars.get("fiscal_year_start_month", 1),
        )
        return [
            str(p)
            for p in write_for_pipeline(pipeline, request, run_record=last_run_path(pipeline))
        ]

    built = transform(load())
    if SETTINGS.report_enabled:
        report(built)


dag_object = lune_orders()
