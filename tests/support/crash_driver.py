"""Runs `lune-pipeline run` and SIGKILLs itself at a chosen point of the dlt pipeline.

Usage: python -m tests.support.crash_driver <point> <cli args...>
Points: mid-extract (third batch of orders; batches shrunk to 50 orders so a small world has
several), after-extract, after-normalize, in-load (all table jobs done, the load not yet
marked complete).
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
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
