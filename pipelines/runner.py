"""Runs the Lune source through a dlt pipeline: one job, safe to schedule and to rerun.

- One run at a time per pipeline (a lock file next to the pipeline's working directory).
- What a killed run left behind is finished, discarded or set aside before new data is read
  (`pipelines.leftovers`), so the sync state that travels with a package lands together with
  its data and a bad leftover cannot block every later run.
- Parquet load files where the warehouse takes them (far faster and leaner than INSERTs).
- The reporting project (dbt, `sql/`) is built after each successful load: models, seeds
  and data tests; a failing `error` test fails the run, `warn` tests are reported.
- A DuckDB file is always an absolute path, logged and in the summary; a pipeline that last
  loaded another file says so and takes its sync state from the file it loads now
  (`warehouse.py`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.configuration.resolve import inject_section
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination import Destination
from dlt.common.pipeline import PipelineContext, get_dlt_pipelines_dir

# RunError and describe_error live in pipelines.errors; importing them from here still works
from pipelines.errors import RunError, describe_error, log_error_chain
from pipelines.leftovers import LeftoverReport, finish_leftovers
from pipelines.memory import collecting_for_a_run, return_freed_memory
from pipelines.webhooks.loading import attach_webhooks
from sources.lune import RunReport, lune_source

from . import load_jobs, warehouse
from .telemetry import skip_events_while_telemetry_is_off

log = logging.getLogger("lune.pipeline")
# every process that runs the pipeline imports this module (CLI, Airflow, tests)
skip_events_while_telemetry_is_off()

PIPELINE_NAME = "lune_orders"
DATASET_NAME = "lune"


@dataclass
class RunOptions:
    destination: Any = "duckdb"  # a destination name or a dlt destination object
    dataset: str = DATASET_NAME
    pipeline_name: str = PIPELINE_NAME
    pipelines_dir: str | None = None
    account_ids: Sequence[str] | None = None
    since: str | None = None
    full_refresh: bool = False
    strict: bool = False
    transform: bool = True
    # dbt vars of the reporting project (sql/dbt_project.yml), e.g. customer_metadata_key
    transform_vars: dict[str, Any] = field(default_factory=dict)
    # another copy of the dbt project (an analyst's extension); default: the bundled sql/
    transform_project_dir: str | None = None
    progress: bool = False
    source_options: dict[str, Any] = field(default_factory=dict)
    # where a relative DuckDB path is resolved (the manifest's folder); None: the working dir
    warehouse_base: Path | None = None
    # the webhook receiver's spool to load into webhook_events; None: SOURCES__LUNE__WEBHOOK_SPOOL
    webhook_spool: str | None = None


@dataclass
class RunSummary:
    started_at: str
    finished_at: str = ""
    duration_seconds: float = 0.0
    outcome: str = "running"
    # the last step started: after a failure, the one that failed
    step: str = ""
    error: str | None = None
    pipeline_name: str = PIPELINE_NAME
    dataset: str = DATASET_NAME
    destination: str = "duckdb"
    # the DuckDB file's absolute path (None for other warehouses)
    warehouse: str | None = None
    personal_data: str = "keep"
    # sentences the user should read: a moved warehouse, personal data in an earlier form
    notices: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    resumed_pending_packages: int = 0
    # packages of interrupted runs dropped or set aside (see pipelines/leftovers.py)
    discarded_packages: list[dict[str, str]] = field(default_factory=list)
    set_aside_packages: list[dict[str, str]] = field(default_factory=list)
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    status_transitions: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)
    transform: dict[str, Any] = field(default_factory=dict)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def to_text(self) -> str:
        lines = [
            f"run {self.outcome} in {self.duration_seconds:.1f}s "
            f"({self.destination} dataset {self.dataset!r})",
        ]
        if self.warehouse:
            lines.append(f"warehouse: {self.warehouse}")
        lines += [
            "requests: " + _pairs(self.requests),
            "orders: " + _pairs(self.orders),
            "status transitions: " + (_pairs(self.status_transitions) or "none"),
            f"quarantined records: {self.quarantined}",
            "rows loaded: " + (_pairs(self.rows_loaded) or "none"),
            f"personal data: {self.personal_data}",
        ]
        if self.webhooks:
            lines.append("webhooks: " + _pairs(self.webhooks))
        if self.transform:
            lines.append(
                f"reporting: {self.transform['models']} models, {self.transform['tests_passed']} "
                f"tests passed, {len(self.transform['tests_warned'])} warning(s)"
            )
            lines += [f"  warning: {w}" for w in self.transform["tests_warned"]]
        lines += [f"note: {notice}" for notice in self.notices]
        if self.resumed_pending_packages:
            lines.append(f"finished {self.resumed_pending_packages} package(s) of an earlier run")
        if self.discarded_packages:
            lines.append(
                f"discarded {len(self.discarded_packages)} unfinished package(s) of an earlier "
                "run: " + ", ".join(p["kind"] for p in self.discarded_packages)
            )
        for package in self.set_aside_packages:
            lines.append(
                f"set aside package {package['load_id']} ({package['stage']}): {package['reason']}"
            )
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


# DuckDB's buffer pool defaults to 80% of RAM, and a merge fills what it is given: capped,
# a load leaves room for the rest of a shared Airflow worker. 128 MB ran out of memory merging
# a 1,000,000-order backfill; a first backfill is now appended (first_load.py), not merged,
# so 128 MB is the default (benchmarks/RESULTS.md has the peaks by N). Insertion order is not
# part of any table's meaning.
DUCKDB_GLOBAL_CONFIG = {"memory_limit": "128MB", "preserve_insertion_order": False}
_DUCKDB_GLOBAL_CONFIG_KEY = "destination.duckdb.credentials.global_config"


def apply_duckdb_defaults() -> None:
    """Sets DUCKDB_GLOBAL_CONFIG unless the user configured DuckDB's global config the dlt
    way (DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG, config.toml)."""
    if dlt.config.get(_DUCKDB_GLOBAL_CONFIG_KEY) is None:
        # dlt files everything under `credentials` as secret, so the default goes there too
        dlt.secrets[_DUCKDB_GLOBAL_CONFIG_KEY] = dict(DUCKDB_GLOBAL_CONFIG)


def make_destination(options: RunOptions) -> Destination[Any, Any]:
    """The run's dlt destination; a DuckDB file is resolved to an absolute path."""
    destination = options.destination
    if destination == "duckdb":
        # dlt would resolve the file against the first run's working directory: be explicit
        configured = os.environ.get("DESTINATION__DUCKDB__CREDENTIALS")
        return warehouse.duckdb_destination(
            configured or f"{options.pipeline_name}.duckdb",
            options.warehouse_base or Path.cwd(),
        )
    return Destination.from_reference(destination)


def make_pipeline(
    options: RunOptions, destination: Destination[Any, Any] | None = None
) -> dlt.Pipeline:
    kwargs: dict[str, Any] = {}
    if options.pipelines_dir:
        kwargs["pipelines_dir"] = options.pipelines_dir
    return dlt.pipeline(
        pipeline_name=options.pipeline_name,
        destination=destination or make_destination(options),
        dataset_name=options.dataset,
        progress="log" if options.progress else dlt.common.runtime.collector.NULL_COLLECTOR,
        **kwargs,
    )


def pipelines_dir(options: RunOptions) -> Path:
    """The folder of the pipeline's working directory, as `dlt.pipeline` chooses it."""
    return Path(options.pipelines_dir or get_dlt_pipelines_dir())


# Destinations that list parquet but load it only through an optional driver (PostgreSQL
# needs ADBC): CSV loads with COPY and needs nothing extra.
_PARQUET_NEEDS_EXTRA_DRIVER = {"postgres": "csv"}


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """Parquet where the destination loads it natively; otherwise dlt's default for it."""
    destination = pipeline.destination
    if destination.destination_name in _PARQUET_NEEDS_EXTRA_DRIVER:
        return _PARQUET_NEEDS_EXTRA_DRIVER[destination.destination_name]
    caps = destination.capabilities()
    return "parquet" if "parquet" in caps.supported_loader_file_formats else None


@contextmanager
def run_lock(options: RunOptions) -> Iterator[None]:
    """Holds an exclusive lock for the pipeline; a second run fails fast instead of waiting,
    before it has made a request."""
    lock_path = pipelines_dir(options) / f".{options.pipeline_name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"Another run of pipeline {options.pipeline_name!r} is in progress "
                f"(lock {lock_path}); this run stopped without reading or loading anything."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(options: RunOptions) -> RunSummary:
    """Loads Lune into the destination and builds the reporting project. Raises RunError on
    failure."""
    started = time.monotonic()
    summary = RunSummary(
        started_at=datetime.now(UTC).isoformat(),
        pipeline_name=options.pipeline_name,
        dataset=options.dataset,
        destination=options.destination,
    )
    try:
        with run_lock(options), collecting_for_a_run():
            summary.step = "setup"
            destination = make_destination(options)
            summary.destination = destination.destination_name
            # The source comes first: its read-ahead requests (accounts, catalogue, each
            # account's newest page) go out while dlt builds the pipeline and syncs its state.
            # A configuration error here is reported as the extract's.
            summary.step = "extract"
            report = RunReport()
            source = _make_source(
                options, summary.destination, report, _nothing_loaded(options, destination)
            )
            try:
                _set_up_and_run(options, destination, source, report, summary)
            finally:
                # a run that failed before reading its orders leaves no reader behind
                report.stop_early_reads()
        summary.outcome = "failed" if options.strict and summary.quarantined else "succeeded"
        if summary.outcome == "failed":
            summary.error = (
                f"{summary.quarantined} record(s) broke the API contract and were quarantined "
                "(--strict)."
            )
    except Exception as e:
        summary.outcome = "failed"
        summary.error = describe_error(e, summary.step or None)
        log_error_chain(e, f"run failed: {summary.error}")
        raise RunError(summary.error) from e
    finally:
        summary.finished_at = datetime.now(UTC).isoformat()
        summary.duration_seconds = round(time.monotonic() - started, 3)
        _remember_last_run(options, summary)
    return summary


def _set_up_and_run(
    options: RunOptions,
    destination: Destination[Any, Any],
    source: Any,
    report: RunReport,
    summary: RunSummary,
) -> None:
    """Builds the pipeline and runs it; the source's early reads are under way meanwhile."""
    summary.step = "setup"
    if summary.destination == "duckdb":
        apply_duckdb_defaults()
    load_jobs.apply_writer_defaults()
    pipeline = make_pipeline(options, destination)
    summary.warehouse = warehouse.location(pipeline)
    if summary.warehouse:
        log.info("loading into the DuckDB file %s", summary.warehouse)
        # a configured `data/lune.duckdb` works on the first run too
        Path(summary.warehouse).parent.mkdir(parents=True, exist_ok=True)
    try:
        _follow_warehouse(pipeline, summary)
        _run_locked(pipeline, source, report, options, summary)
    finally:
        if summary.warehouse:
            warehouse.remember(pipeline, summary.warehouse)


def _nothing_loaded(options: RunOptions, destination: Destination[Any, Any]) -> bool:
    """True when no account can have saved sync state: the pipeline has no working folder
    here and its DuckDB file does not exist (other warehouses are not asked: False)."""
    file = warehouse.given_file(destination)
    if file is None or Path(file).exists():
        return False
    return not (pipelines_dir(options) / options.pipeline_name).exists()


def _make_source(
    options: RunOptions, destination_name: str, report: RunReport, nothing_loaded: bool
) -> Any:
    """The Lune source, configured as dlt configures it for this pipeline (its config
    sections named after the pipeline), before the pipeline exists."""
    # no other pipeline's name may stand in for this one's in the config sections
    Container()[PipelineContext].deactivate()
    with inject_section(ConfigSectionContext(pipeline_name=options.pipeline_name)):
        return lune_source(
            account_ids=list(options.account_ids) if options.account_ids else None,
            since=options.since,
            full_refresh=options.full_refresh,
            run_report=report,
            # the requests every run makes start now, while dlt sets the pipeline up; on a
            # first load, every page of every account is certain to be read
            read_ahead=True,
            no_saved_state=nothing_loaded,
            # a killed first backfill is repaired before it loads again (first_load.py)
            append_first_load=destination_name == "duckdb",
            **options.source_options,
        )


def _follow_warehouse(pipeline: dlt.Pipeline, summary: RunSummary) -> None:
    """When the pipeline last loaded another DuckDB file, says so and drops the local state,
    so that the sync state comes from the file this run loads (dlt restores it from there,
    or starts afresh when the file has none). Packages a killed run left for the other file
    go too: their state was never committed there, so that file's next run reads them again.
    """
    current = summary.warehouse
    before = warehouse.remembered(pipeline, current) if current else None
    if before is None or before == current:
        return
    notice = (
        f"Pipeline {pipeline.pipeline_name!r} last loaded {before}; this run loads {current} "
        "and takes its sync state from there, not from the local working folder."
    )
    log.warning(notice)
    summary.notices.append(notice)
    if pipeline.has_pending_data:
        log.warning("discarding unloaded package(s) that were meant for %s", before)
    pipeline.drop()


def _run_locked(
    pipeline: dlt.Pipeline,
    source: Any,
    report: RunReport,
    options: RunOptions,
    summary: RunSummary,
) -> None:
    file_format = loader_file_format(pipeline)
    # As dlt's own run() does: a runner with an empty disk (CI, a fresh Airflow worker) takes
    # the sync state stored in the destination; a newer local state (a killed run's) is kept
    # until its package is settled below.
    summary.step = "sync"
    step = time.monotonic()
    pipeline.sync_destination()
    summary.timings["sync_state"] = round(time.monotonic() - step, 3)
    # A killed run's packages: each finished, discarded or set aside by what it is, and the
    # local sync state left equal to the destination's; the fresh extract starts from there.
    summary.step = "leftovers"
    step = time.monotonic()
    leftovers = LeftoverReport()
    try:
        finish_leftovers(pipeline, leftovers)
    finally:
        summary.resumed_pending_packages = len(leftovers.finished)
        summary.discarded_packages = leftovers.discarded
        summary.set_aside_packages = leftovers.set_aside
        summary.duplicates_removed = leftovers.duplicates_removed
        summary.timings["leftovers"] = round(time.monotonic() - step, 3)

    summary.step = "extract"
    webhooks = attach_webhooks(source, options.webhook_spool, options.source_options)
    step = time.monotonic()
    pipeline.extract(source, loader_file_format=file_format)
    summary.timings["extract"] = round(time.monotonic() - step, 3)
    _collect(report, summary)
    log.info("extract done in %.2fs: %s", summary.timings["extract"], _pairs(summary.orders))

    summary.step = "normalize"
    step = time.monotonic()
    pipeline.normalize()
    summary.timings["normalize"] = round(time.monotonic() - step, 3)
    normalize_info = pipeline.last_trace.last_normalize_info
    if normalize_info:
        summary.rows_loaded = {
            table: count
            for table, count in sorted(normalize_info.row_counts.items())
            if not table.startswith("_dlt")
        }
    log.info("normalize done in %.2fs", summary.timings["normalize"])

    summary.step = "load"
    # the extract's freed memory goes back before DuckDB's buffer pool comes on top of it
    return_freed_memory(orders_read=sum(summary.orders.values()))
    step = time.monotonic()
    load_info = load_jobs.load(pipeline)
    summary.timings["load"] = round(time.monotonic() - step, 3)
    summary.load_ids = list(load_info.loads_ids)
    log.info("load done in %.2fs: load ids %s", summary.timings["load"], summary.load_ids)
    if webhooks is not None:
        # the load holding these events is complete: only now do their files leave incoming/
        summary.webhooks = webhooks.commit()
        summary.quarantined += len(webhooks.quarantined)

    if options.transform:
        summary.step = "transform"
        step = time.monotonic()
        summary.transform = build_reporting(pipeline, options).to_dict()
        summary.timings["transform"] = round(time.monotonic() - step, 3)
        log.info("built the reporting project in %.2fs", summary.timings["transform"])


def build_reporting(pipeline: dlt.Pipeline, options: RunOptions) -> Any:
    """`dbt build` of the reporting project against the pipeline's destination."""
    import transforms

    project_dir = options.transform_project_dir
    return transforms.build(
        pipeline,
        variables=options.transform_vars,
        project_dir=Path(project_dir) if project_dir else transforms.DBT_PROJECT_DIR,
    )


def _collect(report: RunReport, summary: RunSummary) -> None:
    orders: Counter[str] = Counter()
    transitions: Counter[str] = Counter()
    for account in report.accounts:
        orders.update({"new": account.new, "changed": account.changed})
        orders["unchanged"] += account.unchanged
        orders["vanished"] += account.vanished
        transitions.update(account.transitions)
        summary.quarantined += account.quarantined
        summary.accounts.append(account.to_dict())
    summary.orders = dict(orders)
    summary.status_transitions = dict(transitions)
    summary.requests = dict(sorted(report.requests.items()))
    summary.personal_data = report.personal_data
    if report.personal_data_notice:
        summary.notices.append(report.personal_data_notice)


def last_run_path(pipeline: dlt.Pipeline) -> Path:
    return _last_run_file(Path(pipeline.pipelines_dir), pipeline.pipeline_name)


def _last_run_file(folder: Path, pipeline_name: str) -> Path:
    return folder / f".{pipeline_name}.last_run.json"


def _remember_last_run(options: RunOptions, summary: RunSummary) -> None:
    try:
        summary.write(_last_run_file(pipelines_dir(options), options.pipeline_name))
    except OSError as e:  # the run's own outcome matters more than this record
        log.warning("could not record the run outcome: %s", e)
