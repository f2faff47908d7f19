"""Runs `lune-pipeline run` and SIGKILLs itself at a chosen point of the dlt pipeline.

Usage: python -m tests.support.crash_driver <point> <cli args...>
Points: mid-extract (third batch of orders; batches shrunk to 50 orders so a small world has
several), after-extract, after-normalize, in-load (all table jobs done, the load not yet
marked complete), after-orders-commit (the `orders` load job committed in the warehouse,
dlt not yet told: the one moment a job runs twice).
"""

from __future__ import annotations

import os
import signal
import sys

import dlt
from dlt.destinations.impl.duckdb.duck import DuckDbClient

import sources.lune.records as records
from pipelines.cli import main


def _die(*_args, **_kwargs):
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    if point == "mid-extract":
        import sources.lune as source_module

        source_module.BATCH_ORDERS = 50
        original = records.order_tables
        calls = {"n": 0}

        def order_tables(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                _die()
            return original(*args, **kwargs)

        records.order_tables = order_tables
        source_module.order_tables = order_tables
    elif point == "after-extract":
        dlt.Pipeline.normalize = _die
    elif point == "after-normalize":
        dlt.Pipeline.load = _die
    elif point == "in-load":
        DuckDbClient.complete_load = _die
    elif point == "after-orders-commit":
        from dlt.common.storages.load_package import PackageStorage

        original_marker = PackageStorage.save_pending_transition

        def save_pending_transition(self, load_id, file_name, state, *args, **kwargs):
            if file_name.startswith("orders.") and state == "completed":
                _die()
            return original_marker(self, load_id, file_name, state, *args, **kwargs)

        PackageStorage.save_pending_transition = save_pending_transition
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
