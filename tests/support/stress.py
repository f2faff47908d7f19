"""Crash stress: many runs against the sandbox, each successful run preceded by runs SIGKILLed
at moments chosen across the whole run, then the warehouse compared with the sandbox.

Each cycle: the sandbox's world moves on (new orders, lifecycle steps); one to five runs in a
row are killed, each at a kill point (see `tests.support.crash_points`: exact edges inside
dlt's steps, and stage points at a random moment of the sync, leftover handling, extract,
normalize or load) or at a random moment of the whole run, the world sometimes moving on
between them - so later kills land while an earlier kill's leftovers are being finished;
then a run must succeed. Runs skip the transform (a dbt build takes tens of seconds), except
in the transform cycle the first lane starts with: a run killed during the dbt build, then a
run with the transform that must succeed. A run that fails instead of being killed, or a failed run
after the kills, stops the stress with its log. Every few cycles and at the end the
warehouse must equal the sandbox row by row and the status history must hold every status a
successful run saw, chained without gaps or repeats.

`python -m tests.support.stress --kills 1000` is the long variant (`make stress`); the test
suite runs a shorter one (tests/test_crash_stress.py). Runs are forked from a pre-imported
server (`tests.support.forkserver`), so a cycle costs what its runs cost, and independent
lanes (own sandbox, own warehouse) run side by side to use both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.forkserver import Child, ForkServer
from tests.support.warehouse import actual_rows, differences, expected_rows

# where kills land; "random" is a moment of the whole run chosen by the parent
KILL_POINTS = (
    "extract-first-file",
    "extract",
    "extract-committed",
    "normalize",
    "normalize-committed",
    "normalize-deleting",
    "load",
    "load-job",
    "job-committed",
    "in-load",
    "load-completed",
    "sync",
    "random",
    "random",
    "random",
)
# later kills of a cycle also aim at the leftover handling of the kill before
FOLLOW_UP_POINTS = (*KILL_POINTS, "leftovers", "leftovers", "leftovers")
STAGE_TIMING = {
    "sync": "sync_state",
    "leftovers": "leftovers",
    "extract": "extract",
    "normalize": "normalize",
    "load": "load",
}


@dataclass
class StressConfig:
    workdir: Path
    kills: int = 200
    seed: int = 18
    client_accounts: int = 2
    orders_per_account: int = 25
    max_kills_per_cycle: int = 5
    # cycles killing a run during the dbt build, then building it again, run by the first
    # lane before its world moves: once orders have moved on, the reporting project's own
    # data test unique_combination_data_quality_issues can fail without any kill (two
    # not_retired_within_12_months rows for one retiring order, some of its lines retired)
    transform_cycles: int = 1
    # the kill lands this many seconds into the dbt build (uniformly)
    transform_kill_window: tuple[float, float] = (1.0, 10.0)
    lanes: int = 2
    check_every: int = 10
    # a run that takes longer has hung (a dbt build on a busy 2-core machine takes ~2 min)
    run_timeout: float = 300.0
    transform_timeout: float = 1200.0


@dataclass
class StressReport:
    kills: Counter[str] = field(default_factory=Counter)
    finished_before_kill: Counter[str] = field(default_factory=Counter)
    successful_runs: int = 0
    checks: int = 0
    set_aside: int = 0
    discarded: int = 0
    finished_leftovers: int = 0
    duplicates_removed: int = 0
    seconds: float = 0.0
    killed_run_seconds: float = 0.0
    successful_run_seconds: float = 0.0
    stage_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def add(self, other: StressReport) -> None:
        self.kills.update(other.kills)
        self.finished_before_kill.update(other.finished_before_kill)
        for name in (
            "successful_runs",
            "checks",
            "set_aside",
            "discarded",
            "finished_leftovers",
            "duplicates_removed",
            "killed_run_seconds",
            "successful_run_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for stage, values in other.stage_seconds.items():
            self.stage_seconds[stage].extend(values)

    def to_text(self) -> str:
        by_point = ", ".join(f"{p} {n}" for p, n in sorted(self.kills.items()))
        return (
            f"{self.total_kills} kills in {self.seconds:.0f}s ({by_point}); "
            f"{self.successful_runs} runs to succeed after kills, all did; "
            f"{sum(self.finished_before_kill.values())} runs finished before their kill; "
            f"leftovers: finished {self.finished_leftovers}, discarded {self.discarded}, "
            f"set aside {self.set_aside}, duplicate rows removed {self.duplicates_removed}; "
            f"warehouse compared with the sandbox {self.checks} times; time in killed runs "
            f"{self.killed_run_seconds:.0f}s, in successful runs {self.successful_run_seconds:.0f}s"
            "; median seconds per step of a successful run: "
            + ", ".join(
                f"{stage} {statistics.median(values):.2f}"
                for stage, values in self.stage_seconds.items()
                if values
            )
        )


class KillBudget:
    """The kills still to do, shared by the lanes, so a lane busy with a slow dbt build
    leaves more of them to the others."""

    def __init__(self, kills: int) -> None:
        self._left = kills
        self._lock = threading.Lock()

    def left(self) -> bool:
        with self._lock:
            return self._left > 0

    def spend(self) -> None:
        with self._lock:
            self._left -= 1

    def stop(self) -> None:
        """Another lane failed: the others finish their cycle and stop."""
        with self._lock:
            self._left = 0


class Stress:
    def __init__(self, config: StressConfig, server: SandboxServer, world: SandboxWorld) -> None:
        self.config = config
        self.world = world
        self.rng = random.Random(config.seed)
        self.report = StressReport()
        self.workdir = config.workdir
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "warehouse.duckdb"
        self.env = {
            "SOURCES__LUNE__API_KEY": world.api_key,
            "SOURCES__LUNE__BASE_URL": server.base_url,
            "SOURCES__LUNE__MAX_REQUESTS_PER_SECOND": "1000",
            "DESTINATION__DUCKDB__CREDENTIALS": str(self.db_path),
        }
        self.budget = KillBudget(0)
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.walls: list[float] = []
        self.runs = 0
        # every status each run started with saw: required (successful runs) and allowed (all)
        self.required: set[tuple[str, str, str]] = set()
        self.allowed: set[tuple[str, str, str]] = set()

    def args(self, views: bool, summary: Path | None = None) -> list[str]:
        args = ["run", "--destination", "duckdb", "--pipelines-dir", str(self.workdir / "p")]
        if not views:
            args.append("--no-views")
        if summary:
            args += ["--summary-json", str(summary)]
        return args

    def run(self, fork: ForkServer, budget: KillBudget, transform_cycles: int) -> StressReport:
        for _ in range(3):  # calibration: how long each stage takes here, now
            self.succeed(fork, views=False, after="calibration")
        self.budget = budget
        for _ in range(transform_cycles):
            self.kill(fork, "transform")
            self.succeed(fork, views=True, after="transform")
        cycle = 0
        while budget.left():
            cycle += 1
            self.move_world()
            points = [self.rng.choice(KILL_POINTS)]
            for _ in range(self.rng.randint(1, self.config.max_kills_per_cycle) - 1):
                points.append(self.rng.choice(FOLLOW_UP_POINTS))
            for index, point in enumerate(points):
                if index and self.rng.random() < 0.3:
                    self.move_world()
                self.kill(fork, point)
            self.succeed(fork, views=False, after="+".join(points))
            if cycle % self.config.check_every == 0:
                self.check()
        self.check()
        self.nothing_pending(fork)
        return self.report

    def move_world(self) -> None:
        self.world.advance(
            new_orders=self.rng.randint(0, 5),
            transitions=self.rng.randint(0, 8),
            late_orders=self.rng.choice((0, 0, 0, 1)),
            seconds=self.rng.choice((60.0, 3600.0)),
        )

    def kill(self, fork: ForkServer, point: str) -> None:
        views = point == "transform"
        self.observe(required=False)
        log = self.logs / f"{self.runs:05d}-kill-{point}.log"
        self.runs += 1
        if point == "random":
            child = fork.start(self.args(views), cwd=self.workdir, env=self.env, log=log)
            at = self.rng.uniform(0.0, statistics.median(self.walls[-20:]) * 1.1)
            code = fork.wait_or_kill(child, at)
        else:
            delay = 0.0
            if point == "transform":
                delay = self.rng.uniform(*self.config.transform_kill_window)
            elif point in STAGE_TIMING:
                durations = self.timings[STAGE_TIMING[point]][-20:] or [0.2]
                delay = self.rng.uniform(0.0, statistics.median(durations))
            child = fork.start(
                self.args(views),
                cwd=self.workdir,
                env=self.env,
                log=log,
                point=point,
                delay=delay,
                nth=self.rng.randint(1, 4),
            )
            code = self.wait(fork, child, log, views)
        self.report.killed_run_seconds += time.monotonic() - child.started
        if code == -9:
            self.report.kills[point] += 1
            self.budget.spend()
        elif code == 0:
            self.report.finished_before_kill[point] += 1
        else:
            raise AssertionError(
                f"a run to be killed at {point!r} failed first (exit {code}):\n{_tail(log)}"
            )

    def succeed(self, fork: ForkServer, views: bool, after: str) -> None:
        self.observe(required=True)
        log = self.logs / f"{self.runs:05d}-run.log"
        summary_path = self.workdir / "summary.json"
        summary_path.unlink(missing_ok=True)
        self.runs += 1
        child = fork.start(self.args(views, summary_path), cwd=self.workdir, env=self.env, log=log)
        code = self.wait(fork, child, log, views)
        wall = time.monotonic() - child.started
        self.report.successful_run_seconds += wall
        if code != 0:
            raise AssertionError(
                f"the run after a kill at {after!r} failed (exit {code}):\n{_tail(log)}"
            )
        summary = json.loads(summary_path.read_text())
        if after != "calibration":
            self.report.successful_runs += 1
        self.report.set_aside += len(summary.get("set_aside_packages") or [])
        self.report.discarded += len(summary.get("discarded_packages") or [])
        self.report.finished_leftovers += summary.get("resumed_pending_packages") or 0
        self.report.duplicates_removed += sum((summary.get("duplicates_removed") or {}).values())
        for name, seconds in summary["timings"].items():
            self.timings[name].append(seconds)
            self.report.stage_seconds[name].append(seconds)
        self.report.stage_seconds["run (wall)"].append(wall)
        if not views:
            self.walls.append(wall)

    def wait(self, fork: ForkServer, child: Child, log: Path, views: bool) -> int:
        timeout = self.config.transform_timeout if views else self.config.run_timeout
        try:
            return fork.wait(child, timeout=timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}; it was killed:\n{_tail(log)}") from None

    def observe(self, required: bool) -> None:
        """Remembers each order's status as a run about to start will see it."""
        for account_id in self.world.account_ids():
            for order in self.world.orders(account_id):
                if isinstance(order.get("id"), str) and "created_at" in order:
                    key = (account_id, order["id"], order["status"])
                    self.allowed.add(key)
                    if required:
                        self.required.add(key)

    def nothing_pending(self, fork: ForkServer) -> None:
        """`lune-pipeline status` shows no package waiting and none set aside."""
        args = ["status", "--json", "--destination", "duckdb"]
        args += ["--pipelines-dir", str(self.workdir / "p")]
        out = self.workdir / "status.json"
        log = self.logs / f"{self.runs:05d}-status.log"
        child = fork.start(args, cwd=self.workdir, env=self.env, log=log, stdout=out)
        code = fork.wait(child, timeout=self.config.run_timeout)
        status = json.loads(out.read_text())
        assert code == 0, _tail(log)
        assert status["pending_packages"] == [], status["pending_packages"]
        assert status["set_aside_packages"] == [], status["set_aside_packages"]

    def check(self) -> None:
        with duckdb.connect(str(self.db_path), read_only=True) as con:
            problems = differences(expected_rows(self.world), actual_rows(con.cursor(), "lune"))
            history = con.execute(
                "select account_id, order_id, status, previous_status, observed_at "
                "from lune.order_status_history order by observed_at"
            ).fetchall()
        problems += history_problems(history, self.required, self.allowed)
        self.report.checks += 1
        if problems:
            raise AssertionError(
                f"after {self.report.total_kills} kills the warehouse differs from the sandbox:\n"
                + "\n".join(problems[:20])
            )


def history_problems(
    rows: list[tuple[Any, ...]],
    required: set[tuple[str, str, str]],
    allowed: set[tuple[str, str, str]],
) -> list[str]:
    """The status history holds each status a successful run saw, nothing no run saw, no
    status twice, and each order's rows chain: the first has no previous status, every later
    one names the status of the row before it."""
    problems: list[str] = []
    by_order: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    keys: Counter[tuple[str, str, str]] = Counter()
    for account_id, order_id, status, previous, observed_at in rows:
        by_order[(account_id, order_id)].append((status, previous, observed_at))
        keys[(account_id, order_id, status)] += 1
    problems += [f"history: {k} recorded {n} times" for k, n in keys.items() if n > 1]
    problems += [f"history: missing {k}" for k in sorted(required - set(keys))]
    problems += [f"history: {k} was never served" for k in sorted(set(keys) - allowed)]
    for order, entries in by_order.items():
        expected_previous = None
        for status, previous, _ in entries:
            if previous != expected_previous:
                problems.append(
                    f"history: {order} {status} follows {previous!r}, "
                    f"expected {expected_previous!r}"
                )
            expected_previous = status
    return problems


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_stress(config: StressConfig) -> StressReport:
    """`config.kills` kills spread over `config.lanes` independent lanes run side by side."""
    started = time.monotonic()
    reports: list[StressReport] = []
    errors: list[BaseException] = []
    budget = KillBudget(config.kills)

    def lane(index: int) -> None:
        try:
            lane_config = replace(
                config, workdir=config.workdir / f"lane{index}", seed=config.seed * 100 + index
            )
            world = SandboxWorld.generate(
                seed=lane_config.seed,
                client_accounts=config.client_accounts,
                orders_per_account=config.orders_per_account,
                open_share=0.4,
            )
            lane_config.workdir.mkdir(parents=True, exist_ok=True)
            with (
                SandboxServer(world, port=0, rate_limit=None) as server,
                ForkServer(cwd=lane_config.workdir) as fork,
            ):
                stress = Stress(lane_config, server, world)
                reports.append(
                    stress.run(fork, budget, config.transform_cycles if index == 0 else 0)
                )
        except BaseException as e:  # reported by the caller's thread
            budget.stop()
            errors.append(e)

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(config.lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    total = StressReport()
    for report in reports:
        total.add(report)
    total.seconds = time.monotonic() - started
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--transform-cycles", type=int, default=1)
    parser.add_argument("--workdir", help="keep the run folder here (default: a temporary one)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lune-stress-") as tmp:
        workdir = Path(options.workdir or tmp)
        # as in the test suite: dlt's own files go to the run folder, not the machine's
        os.environ["DLT_DATA_DIR"] = str(workdir / "dlt")
        report = run_stress(
            StressConfig(
                workdir=workdir,
                kills=options.kills,
                seed=options.seed,
                lanes=options.lanes,
                transform_cycles=options.transform_cycles,
            )
        )
    print(report.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
