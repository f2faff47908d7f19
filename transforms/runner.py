"""Runs the dbt project in `sql/` for a dlt pipeline and reads its results.

dbt runs in a child process (`python -m dbt.cli.main`, from this environment): the
connection settings, password included, exist only in the child's environment; the DuckDB
file is released when dbt exits, so the pipeline can open it again with its own settings;
and dbt's global state (logging, adapter caches) stays out of the pipeline. It is not dlt's
dbt package runner: that one runs `dbt deps` before every command (several seconds) and its
bundled DuckDB profile downloads extensions. Everything dbt writes (compiled SQL, run
results, the partial-parse cache, its log) goes to the pipeline's working directory, never
into the project folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connection import dbt_environment
from .errors import TransformError

log = logging.getLogger("lune.transforms")

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "sql"
# Variables the project declares in dbt_project.yml; the pipeline may set these.
PROJECT_VARS = ("customer_metadata_key", "fiscal_year_start_month", "open_order_max_days")


@dataclass(frozen=True)
class NodeOutcome:
    """One model, seed or test of a dbt invocation."""

    name: str
    kind: str  # model / seed / test
    status: str  # success / pass / warn / fail / error / skipped
    failures: int | None = None
    message: str | None = None

    def describe(self) -> str:
        rows = f" ({self.failures} row(s))" if self.failures else ""
        text = f"{self.kind} {self.name} {self.status}{rows}"
        if self.status in ("error", "fail") and self.message:
            text += f": {_first_line(self.message)}"
        return text


@dataclass
class TransformResult:
    """What a dbt build did: models and seeds built, tests passed, warnings raised."""

    command: str
    seconds: float = 0.0
    nodes: list[NodeOutcome] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.kind == kind]

    @property
    def warnings(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.status == "warn"]

    @property
    def failures(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.status in ("error", "fail")]

    def to_dict(self) -> dict[str, Any]:
        tests = self.of_kind("test")
        return {
            "command": self.command,
            "seconds": round(self.seconds, 3),
            "models": len(self.of_kind("model")),
            "seeds": len(self.of_kind("seed")),
            "tests_passed": sum(1 for t in tests if t.status == "pass"),
            "tests_warned": [n.describe() for n in self.warnings],
        }

    def to_text(self) -> str:
        summary = self.to_dict()
        text = (
            f"dbt {self.command}: {summary['models']} models, {summary['seeds']} seeds, "
            f"{summary['tests_passed']} tests passed, {len(self.warnings)} warning(s) "
            f"in {self.seconds:.1f}s"
        )
        return "\n".join([text, *(f"  warning: {w}" for w in summary["tests_warned"])])


def build(
    pipeline: Any,
    *,
    variables: Mapping[str, Any] | None = None,
    command: str = "build",
    select: str | None = None,
    threads: int | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
    timeout: float = 3600.0,
) -> TransformResult:
    """Runs `dbt <command>` (build: seeds, models and their tests) for `pipeline`.

    Raises TransformError naming the failing models or tests when anything errors or an
    `error`-severity test fails; `warn` tests are returned in `TransformResult.warnings`.
    """
    work_dir = Path(pipeline.working_dir) / "dbt"
    unknown = sorted(set(variables or {}) - set(PROJECT_VARS))
    if unknown:
        raise TransformError(f"Unknown reporting project variable(s): {', '.join(unknown)}.")
    dbt_vars = {"lune_dataset": pipeline.dataset_name, **(variables or {})}
    args = [
        "--no-use-colors",
        "--quiet",
        "--log-level-file",
        os.environ.get("LUNE_DBT_LOG_LEVEL_FILE", "info"),
        "--no-send-anonymous-usage-stats",
        command,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        "--vars",
        json.dumps(dbt_vars, sort_keys=True),
    ]
    if select:
        args += ["--select", select]
    results_file = work_dir / "target" / "run_results.json"
    results_file.unlink(missing_ok=True)  # a stale file must not pass for this run's results
    env = {**os.environ, **dbt_environment(pipeline, threads=threads), "DO_NOT_TRACK": "1"}
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "dbt.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TransformError(
            f"dbt {command} of the reporting project did not finish within {timeout:.0f}s "
            f"(log: {work_dir / 'logs' / 'dbt.log'})."
        ) from None
    result = TransformResult(command=command, seconds=time.monotonic() - started)
    result.nodes = _outcomes(results_file)
    if not result.nodes and completed.returncode != 0:
        raise TransformError(
            f"dbt {command} of the reporting project could not run: "
            f"{_dbt_error(completed.stdout + completed.stderr)}"
        )
    if result.failures or completed.returncode != 0:
        failed = result.failures
        named = "; ".join(n.describe() for n in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise TransformError(
            f"dbt {command} of the reporting project failed: "
            f"{named or _dbt_error(completed.stdout + completed.stderr)}{more} "
            f"(log: {work_dir / 'logs' / 'dbt.log'})."
        )
    for warning in result.warnings:
        log.warning("reporting data test: %s", warning.describe())
    return result


def _outcomes(results_file: Path) -> list[NodeOutcome]:
    """The nodes of `run_results.json`, or none when dbt did not get to write it."""
    try:
        results = json.loads(results_file.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    return [
        NodeOutcome(
            name=r["unique_id"].split(".")[2] if r["unique_id"].count(".") >= 2 else r["unique_id"],
            kind=r["unique_id"].split(".")[0],
            status=str(r["status"]),
            failures=r.get("failures"),
            message=r.get("message"),
        )
        for r in results
    ]


def _dbt_error(output: str) -> str:
    """The lines of dbt's output that say what went wrong (dbt prints them last)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            return _first_line(" ".join(lines[i : i + 4]))
    return _first_line(" ".join(lines[-3:])) if lines else "dbt printed nothing"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = " ".join(lines[:2]) if lines else "no message"
    return line if len(line) <= 400 else line[:397] + "..."
