"""Runs `lune-pipeline run` and SIGKILLs itself at a chosen point of the run.

Usage: python -m tests.support.crash_driver <point>[:<delay or nth>] <cli args...>
Points: see `tests.support.crash_points` (e.g. mid-extract, after-extract, after-normalize,
in-load, normalize-committed, load:0.2).
"""

from __future__ import annotations

import sys

from pipelines.cli import main
from tests.support.crash_points import STAGE_POINTS, arm


def arm_spec(spec: str) -> None:
    """`point` or `point:<number>`: a delay in seconds for stage points, else the nth call."""
    point, _, number = spec.partition(":")
    if point in STAGE_POINTS:
        arm(point, delay=float(number or 0))
    else:
        arm(point, nth=int(number or 1))


if __name__ == "__main__":
    arm_spec(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
