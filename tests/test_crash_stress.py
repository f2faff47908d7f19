"""Crash stress: 200 SIGKILLs spread over every step of a run, and not one failed run after
them nor one row different from the sandbox (`make stress` kills 1,000 times).

See tests/support/stress.py for the cycle: the world moves on, one to five runs are killed
at kill points chosen across the whole run (the first extract file, mid-extract,
mid-normalize, mid-load, dlt's crash edges, the leftover handling of the previous kill, and
random moments), then a run must succeed; one cycle kills a run during the dbt build of the
reporting project and then builds it; the warehouse is compared with the sandbox every ten
cycles and at the end, with the status history, and `status` must show nothing pending or
set aside. LUNE_STRESS_KILLS=<n> shortens it while working on it.
"""

from __future__ import annotations

import os

import pytest

from tests.support.stress import StressConfig, run_stress

KILLS = int(os.environ.get("LUNE_STRESS_KILLS", "200"))
# the kill moments issue #18 asks for, each of which must have been hit
REQUIRED_POINTS = (
    "extract-first-file",
    "extract",
    "normalize",
    "normalize-committed",
    "load",
    "job-committed",
    "transform",
    "leftovers",
    "random",
)


@pytest.mark.slow
def test_killed_runs_never_fail_the_next_run_nor_lose_a_row(tmp_path, capsys):
    report = run_stress(StressConfig(workdir=tmp_path, kills=KILLS))
    with capsys.disabled():
        print(f"\ncrash stress: {report.to_text()}")
    assert report.total_kills >= KILLS
    assert report.successful_runs > 0
    if KILLS >= 100:  # a shortened run (LUNE_STRESS_KILLS) need not reach every point
        missed = [p for p in REQUIRED_POINTS if not report.kills[p]]
        assert not missed, f"no kill landed at {missed}: {report.to_text()}"
    assert report.set_aside == 0  # a kill alone never makes a package unusable
