"""`lune-pipeline status`: is last night's run fine, and what does the warehouse hold?"""

from __future__ import annotations

import json
import logging
from typing import Any

import dlt

from . import warehouse
from .leftovers import pending_packages, set_aside_packages
from .runner import RunOptions, describe_error, last_run_path, make_pipeline

log = logging.getLogger("lune.status")

_TABLES = (
    "orders",
    "orders__bundles",
    "orders__projects",
    "order_status_history",
    "client_accounts",
    "bundles",
    "projects",
    "quarantined_records",
)


def collect_status(options: RunOptions) -> dict[str, Any]:
    pipeline = make_pipeline(options)
    status: dict[str, Any] = {
        "pipeline": pipeline.pipeline_name,
        "dataset": pipeline.dataset_name,
        "warehouse": warehouse.location(pipeline),
        "last_run": None,
        "tables": {},
        "accounts": {},
        "quarantined_records": 0,
        # left by an interrupted run; the next run finishes or discards them
        "pending_packages": pending_packages(pipeline),
        # failed for good and moved out of the pipeline; their orders were read again
        "set_aside_packages": [
            {
                k: p.get(k)
                for k in ("load_id", "stage", "extracted_at", "set_aside_at", "reason", "path")
            }
            for p in set_aside_packages(pipeline)
        ],
        "healthy": False,
    }
    path = last_run_path(pipeline)
    if path.is_file():
        last = json.loads(path.read_text())
        status["last_run"] = {
            k: last.get(k)
            for k in (
                "started_at",
                "finished_at",
                "outcome",
                "error",
                "duration_seconds",
                "transform",
            )
        }
    try:
        _read_destination(pipeline, status)
    except Exception as e:
        status["destination_error"] = describe_error(e)
    last = status["last_run"]
    status["healthy"] = bool(last) and last.get("outcome") == "succeeded"
    return status


def _read_destination(pipeline: dlt.Pipeline, status: dict[str, Any]) -> None:
    # a runner with an empty disk still sees the state stored in the destination
    pipeline.sync_destination()
    accounts = (
        pipeline.state.get("sources", {})
        .get("lune", {})
        .get("resources", {})
        .get("orders", {})
        .get("accounts", {})
    )
    for account_id, account in accounts.items():
        status["accounts"][account_id] = {
            "high_water_mark": account.get("high_water"),
            "open_orders": len(account.get("open") or {}),
        }
    with pipeline.sql_client() as client:
        existing = {
            row[0]
            for row in client.execute_sql(
                "select table_name from information_schema.tables where table_schema = %s",
                client.dataset_name,
            )
        }
        for table in _TABLES:
            if table in existing:
                name = client.make_qualified_table_name(table)
                status["tables"][table] = client.execute_sql(f"select count(*) from {name}")[0][0]
        status["quarantined_records"] = status["tables"].get("quarantined_records", 0)
        if status["last_run"] is None and "_dlt_loads" in existing:
            loads = client.make_qualified_table_name("_dlt_loads")
            row = client.execute_sql(
                f"select load_id, status, inserted_at from {loads} "
                "order by inserted_at desc limit 1"
            )
            if row:
                status["last_run"] = {
                    "finished_at": str(row[0][2]),
                    "outcome": "succeeded" if row[0][1] == 0 else "failed",
                    "error": None,
                    "source": "destination load record (no local run record)",
                }


def print_status(options: RunOptions, *, as_json: bool) -> int:
    status = collect_status(options)
    if as_json:
        print(json.dumps(status, indent=2, default=str))
    else:
        if status["warehouse"]:
            print(f"warehouse: {status['warehouse']}")
        last = status["last_run"]
        if last:
            print(
                f"last run: {last.get('outcome')} at {last.get('finished_at')}"
                + (f" — {last['error']}" if last.get("error") else "")
            )
        else:
            print("last run: none recorded")
        transform = (last or {}).get("transform") or {}
        if transform:
            print(
                f"reporting: {transform.get('models')} models, {transform.get('tests_passed')} "
                f"tests passed, {len(transform.get('tests_warned') or [])} warning(s)"
            )
            for warning in transform.get("tests_warned") or []:
                print(f"  warning: {warning}")
        if status.get("destination_error"):
            print(f"destination: unreadable — {status['destination_error']}")
        for table, count in status["tables"].items():
            print(f"  {table:<24} {count:>10} rows")
        for account_id, account in status["accounts"].items():
            print(
                f"  account {account_id}: high-water {account['high_water_mark']}, "
                f"{account['open_orders']} open orders"
            )
        print(f"quarantined records: {status['quarantined_records']}")
        pending = status["pending_packages"]
        print(
            f"pending packages: {len(pending)}"
            + (" (the next run finishes or discards them)" if pending else "")
        )
        for package in pending:
            print(f"  {package['load_id']} {package['stage']}, extracted {package['extracted_at']}")
        set_aside = status["set_aside_packages"]
        print(f"set-aside packages: {len(set_aside)}")
        for package in set_aside:
            print(
                f"  {package['load_id']} ({package['stage']}, set aside {package['set_aside_at']}):"
                f" {package['reason']}"
            )
    return 0 if status["healthy"] else 1
