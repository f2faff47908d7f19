"""What a killed run leaves in the pipeline's working directory, and what becomes of it.

A run is extract -> normalize -> load -> transform; dlt keeps each step's output on disk
(`<pipelines_dir>/<pipeline>/normalize/extracted/<load id>`, `load/normalized/<load id>`) and
the pipeline state - the per-account sync positions of `sources.lune.sync` - travels inside
the package as a `_dlt_pipeline_state` row. The destination only counts that state once the
package's load completed, so "the sync state moves with its data" holds exactly when every
package is either loaded whole or removed *and* the local state is rewound to what the
destination holds. Before a run reads anything new, `finish_leftovers` brings the working
directory back to that point:

- an unfinished extract (dlt's temporary `normalize/<16 hex>/` folder; it never reaches
  `extracted/`) is discarded: the local state is saved only after an extract completes;
- an extracted package whose schema dlt never saved (killed between committing the package
  and saving the pipeline's schema and state) is discarded for the same reason;
- an extracted copy of a package that is already normalized or loaded is discarded: dlt's
  normalize renames the finished package into `load/normalized` and *then* deletes the
  extracted copy, so a kill between the two left both, and normalizing the copy again failed
  with "Directory not empty" on every later run - the wedge of issue #18;
- an extracted package is normalized and a normalized package is loaded (with its state);
- a package that fails to normalize, or to load while the destination answers, will fail the
  same way next time: it is moved aside to `<pipelines_dir>/.<pipeline>.set_aside/<load id>/`
  with a `set_aside.json` giving the reason, together with any newer pending package (their
  state was built on it). A failure that says the machine or the destination is unavailable
  (disk full, out of memory, the destination does not answer) fails the run instead and the
  package waits for the next one;
- a normalized package killed mid-load is resumed by dlt, which runs again every job that had
  started but whose completion it had not recorded - including one whose rows were already
  committed. Merged tables deduplicate that by key; tables that keep every row (the status
  history's insert-only merge, appended quarantine rows) would hold those rows twice, so
  before resuming such a package the tables at risk are noted in
  `<pipelines_dir>/.<pipeline>.repair.json`, and once the package is loaded the duplicate
  rows carrying its load id are removed (the note survives a kill in between);
- finally the local sync state is compared with the destination's and rewound to it when they
  differ: with nothing pending, the destination's state is the truth, so orders of a package
  that was set aside (or of one whose rewind a kill interrupted) are read again from the API.

Every step is safe to interrupt: a set-aside is recorded before the package moves (by an
atomic rename) and marked complete only after the state rewind, and an incomplete record is
finished by the next run before anything else.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.storages import LoadStorage, NormalizeStorage
from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.state_sync import load_pipeline_state_from_destination

from pipelines import first_load, load_jobs
from pipelines.errors import StepFailed, describe_error, error_chain, package_label

log = logging.getLogger("lune.pipeline")

RECORD_FILE = "set_aside.json"
PACKAGE_DIR = "package"
# dlt's extract writes into normalize/<uniq_id(8)>/ and renames the package into extracted/
_UNFINISHED_EXTRACT = re.compile(r"[0-9a-f]{16}")
# failures that say the machine is short of something, not that the package is bad
_RESOURCE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE, errno.ENFILE}


@dataclass
class LeftoverReport:
    """What `finish_leftovers` did, for the run summary; filled as it goes, so a run that
    fails half way still reports what was done."""

    finished: list[str] = field(default_factory=list)
    discarded: list[dict[str, str]] = field(default_factory=list)
    set_aside: list[dict[str, str]] = field(default_factory=list)
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    state_rewound: bool = False


def set_aside_root(pipeline: dlt.Pipeline) -> Path:
    """Next to the run lock and the last-run record, outside the working directory that dlt
    may wipe (`sync_destination` does when the dataset is gone)."""
    return Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.set_aside"


def finish_leftovers(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """Brings the working directory to "nothing pending, local state = destination state".

    Raises `StepFailed` when a package cannot be finished for a reason that may pass (the
    package stays for the next run).
    """
    _finish_interrupted_set_asides(pipeline, report)
    _repair_rerun_jobs(pipeline, report)
    _discard_unfinished_extracts(pipeline, report)
    _discard_stale_extracted_copies(pipeline, report)
    _finish_pending(pipeline, report)
    _rewind_state_to_destination(pipeline, report)
    _mark_set_asides_complete(pipeline)


def pending_packages(pipeline: dlt.Pipeline) -> list[dict[str, str]]:
    """Packages waiting in the working directory (for `status`), oldest first."""
    pending = [
        {"load_id": load_id, "stage": "extracted", "extracted_at": _extracted_at(load_id)}
        for load_id in pipeline.list_extracted_load_packages()
    ] + [
        {"load_id": load_id, "stage": "normalized", "extracted_at": _extracted_at(load_id)}
        for load_id in pipeline.list_normalized_load_packages()
    ]
    normalize_dir = Path(pipeline.working_dir) / "normalize"
    if normalize_dir.is_dir():
        for folder in sorted(normalize_dir.iterdir()):
            if _UNFINISHED_EXTRACT.fullmatch(folder.name) and folder.is_dir():
                for package in sorted(p.name for p in folder.iterdir() if p.is_dir()):
                    pending.append(
                        {
                            "load_id": package,
                            "stage": "unfinished extract",
                            "extracted_at": _extracted_at(package),
                        }
                    )
    return sorted(pending, key=lambda p: p["load_id"])


def set_aside_packages(pipeline: dlt.Pipeline) -> list[dict[str, Any]]:
    """The set-aside records, oldest first (for `status`)."""
    root = set_aside_root(pipeline)
    if not root.is_dir():
        return []
    records = []
    for entry in sorted(root.iterdir()):
        record_file = entry / RECORD_FILE
        if entry.is_dir() and record_file.is_file():
            record = json.loads(record_file.read_text())
            record["path"] = str(entry)
            records.append(record)
    return records


# --- the steps -------------------------------------------------------------------------------


def _finish_interrupted_set_asides(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """A kill during a set-aside left its record incomplete: remove whatever of the package
    and its successors is still pending (the state rewind follows in any case)."""
    for record in set_aside_packages(pipeline):
        if not record.get("complete"):
            log.warning(
                "finishing the set-aside of %s interrupted by a kill",
                package_label(record["load_id"]),
            )
            _remove_from_storage(pipeline, record["load_id"], Path(record["path"]))


def _discard_unfinished_extracts(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """dlt extracts into a temporary folder and renames the finished package into
    `extracted/`; a folder still there belongs to an extract that never finished (killed, or
    failed and never cleaned up by dlt). The local state is saved only after an extract
    completes, so its orders are read again."""
    normalize_dir = Path(pipeline.working_dir) / "normalize"
    if not normalize_dir.is_dir():
        return
    for folder in sorted(normalize_dir.iterdir()):
        if not (_UNFINISHED_EXTRACT.fullmatch(folder.name) and folder.is_dir()):
            continue
        for load_id in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            _discarded(report, load_id, "an unfinished extract", "its extract never completed")
        shutil.rmtree(folder)


def _discard_stale_extracted_copies(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """Normalize commits a package by renaming it into `load/normalized`, then deletes the
    extracted copy; a kill in between (or during the deletion) leaves a copy that would be
    normalized again and fail on the existing package."""
    done = set(pipeline.list_normalized_load_packages()) | set(
        pipeline.list_completed_load_packages()
    )
    for load_id in pipeline.list_extracted_load_packages():
        if load_id in done:
            _storages(pipeline)[0].extracted_packages.delete_package(load_id)
            _discarded(
                report,
                load_id,
                "a stale extracted copy",
                "normalize had finished it before the kill; the normalized package is kept",
            )


def _finish_pending(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """Loads normalized packages, normalizes extracted ones, oldest first, setting aside a
    package that fails for good. Each round finishes or removes at least one package."""
    rounds = 0
    while True:
        normalized = list(pipeline.list_normalized_load_packages())
        extracted = list(pipeline.list_extracted_load_packages())
        if not normalized and not extracted:
            return
        rounds += 1
        if rounds > 4 * (len(normalized) + len(extracted)) + 8:
            raise StepFailed(
                "leftovers",
                f"finishing packages left by an interrupted run made no progress on "
                f"{package_label((normalized or extracted)[0])}.",
            )
        if normalized:
            _load_pending(pipeline, normalized, report)
        else:
            _normalize_pending(pipeline, extracted, report)


def _load_pending(pipeline: dlt.Pipeline, normalized: list[str], report: LeftoverReport) -> None:
    log.warning(
        "loading %d package(s) left by an interrupted run, oldest %s",
        len(normalized),
        package_label(normalized[0]),
    )
    _note_rerun_jobs(pipeline, normalized)
    # a first backfill's appended order tables: rows of a job dlt will run again go first
    first_load.repair_resumed_jobs(pipeline)
    try:
        info = load_jobs.load(pipeline)
    except Exception as e:  # classified below, re-raised when it may pass
        load_id = _failed_load_id(e) or normalized[0]
        reason = describe_error(e, "load", with_package=False)
        if _machine_short_of_resources(e) or not _destination_answers(pipeline):
            raise _cannot_finish(load_id, reason) from e
        _set_aside(pipeline, report, load_id, "normalized", reason)
        return
    if info is not None:
        report.finished.extend(info.loads_ids)
    _repair_rerun_jobs(pipeline, report)


def _normalize_pending(
    pipeline: dlt.Pipeline, extracted: list[str], report: LeftoverReport
) -> None:
    normalize_storage, _ = _storages(pipeline)
    known_schemas = set(pipeline.schema_names)
    for load_id in extracted:
        try:
            schema_name = normalize_storage.extracted_packages.schema_name(load_id)
        except Exception:  # a package without a readable schema is corrupt
            continue  # normalize fails on it and it is set aside with dlt's reason
        if schema_name not in known_schemas:
            # killed after the package was committed but before dlt saved the pipeline's
            # schema and state, so nothing of this extract counts locally (on a first run
            # dlt's sync wipes such a working directory already; this covers the rest, as
            # dlt would not normalize a package of a schema it does not have)
            normalize_storage.extracted_packages.delete_package(load_id)
            _discarded(
                report,
                load_id,
                "an unfinished extract",
                "the extract was killed before the pipeline's schema and state were saved",
            )
    if len(pipeline.list_extracted_load_packages()) != len(extracted):
        return
    log.warning(
        "normalizing %d package(s) left by an interrupted run, oldest %s",
        len(extracted),
        package_label(extracted[0]),
    )
    try:
        pipeline.normalize()
    except Exception as e:  # classified below, re-raised when it may pass
        load_id = _failed_load_id(e) or extracted[0]
        reason = describe_error(e, "normalize", with_package=False)
        if _machine_short_of_resources(e):
            raise _cannot_finish(load_id, reason) from e
        if pipeline.list_normalized_load_packages():
            return  # older packages normalized before this one failed: load those first
        _set_aside(pipeline, report, load_id, "extracted", reason)


def _rewind_state_to_destination(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """With nothing pending, the sync state must be the one the destination committed with
    the last load. It differs after a set-aside (the package's extract had advanced the local
    state) and after a kill between a package's commit and the local state save (then the
    destination is ahead); either way the destination's state is the one that matches the
    data."""
    if pipeline.default_schema_name is None:
        return  # nothing was ever extracted here, so there is no local state to rewind
    remote = _destination_state(pipeline)
    remote_sources = (remote or {}).get("sources", {})
    if pipeline.state.get("sources", {}) == remote_sources:
        return
    log.warning(
        "the local sync state differs from the one loaded with the last package; "
        "taking the destination's, so the next extract reads from where the data is"
    )
    with pipeline.managed_state() as state:
        state["sources"] = remote_sources
    report.state_rewound = True


def _mark_set_asides_complete(pipeline: dlt.Pipeline) -> None:
    for record in set_aside_packages(pipeline):
        if not record.get("complete"):
            path = Path(record.pop("path"))
            record["complete"] = True
            _write_json(path / RECORD_FILE, record)


# --- setting a package aside -------------------------------------------------------------------


def _set_aside(
    pipeline: dlt.Pipeline, report: LeftoverReport, load_id: str, stage: str, reason: str
) -> None:
    """Records why, then moves the package out of dlt's storage (one rename) and deletes the
    pending packages newer than it: their state was extracted on top of this package's."""
    root = set_aside_root(pipeline)
    entry = root / load_id
    newer = sorted(
        {
            other
            for other in [
                *pipeline.list_extracted_load_packages(),
                *pipeline.list_normalized_load_packages(),
            ]
            if other > load_id
        }
    )
    record = {
        "load_id": load_id,
        "stage": stage,
        "reason": reason,
        "extracted_at": _extracted_at(load_id),
        "set_aside_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dropped_with_it": newer,
        "complete": False,
    }
    if not (entry / RECORD_FILE).is_file():
        root.mkdir(parents=True, exist_ok=True)
        partial = root / f"{load_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        _write_json(partial / RECORD_FILE, record)
        os.rename(partial, entry)
    log.warning(
        "set aside %s: %s; its orders are read again from the API%s",
        package_label(load_id),
        reason,
        f" (with {len(newer)} newer package(s) built on it)" if newer else "",
    )
    _remove_from_storage(pipeline, load_id, entry)
    _repair_rerun_jobs(pipeline, report)  # rows it loaded before failing stay; twice, no
    report.set_aside.append(
        {"load_id": load_id, "stage": stage, "reason": reason, "path": str(entry)}
    )


def _remove_from_storage(pipeline: dlt.Pipeline, load_id: str, entry: Path) -> None:
    """Moves `load_id` into `entry/package` (or deletes it when a copy is already there) and
    deletes every pending package newer than it; idempotent, so a rerun finishes it."""
    normalize_storage, load_storage = _storages(pipeline)
    target = entry / PACKAGE_DIR
    stores = (
        (load_storage.normalized_packages, pipeline.list_normalized_load_packages()),
        (normalize_storage.extracted_packages, pipeline.list_extracted_load_packages()),
    )
    for packages, listed in stores:
        if load_id in listed:
            if target.exists():
                packages.delete_package(load_id)
            else:
                source = packages.storage.make_full_path(packages.get_package_path(load_id))
                os.rename(source, target)
        for other in listed:
            if other > load_id:
                packages.delete_package(other)
    if load_storage.is_storage_ready():  # a half-normalized copy of it
        load_storage.new_packages.delete_package(load_id, not_exists_ok=True)


# --- rows a re-run job may have loaded twice ----------------------------------------------------


def repair_notes_path(pipeline: dlt.Pipeline) -> Path:
    return Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.repair.json"


def _note_rerun_jobs(pipeline: dlt.Pipeline, normalized: list[str]) -> None:
    """Before resuming packages: which tables that keep every row have a job that started
    but whose completion dlt never recorded (it will run again, and may have committed)."""
    _, load_storage = _storages(pipeline)
    packages = load_storage.normalized_packages
    keep_every_row = _tables_keeping_every_row(pipeline)
    notes = _read_notes(pipeline)
    for load_id in normalized:
        at_risk = set(notes.get(load_id, []))
        for job_path in packages.list_started_jobs(load_id):
            file_name = os.path.basename(job_path)
            table = ParsedLoadJobFileName.parse(file_name).table_name
            if (
                table in keep_every_row
                and packages.load_pending_transition(load_id, file_name) is None
            ):
                at_risk.add(table)
        if at_risk:
            notes[load_id] = sorted(at_risk)
    if notes:
        _write_json(repair_notes_path(pipeline), notes)


def _repair_rerun_jobs(pipeline: dlt.Pipeline, report: LeftoverReport) -> None:
    """For each noted package that is no longer pending (loaded or set aside): rows of it
    that are exact duplicates are kept once. Idempotent; the note goes only when done."""
    notes = _read_notes(pipeline)
    if not notes:
        return
    pending = set(pipeline.list_normalized_load_packages())
    for load_id, tables in sorted(notes.items()):
        if load_id in pending:
            continue
        with pipeline.sql_client() as client:
            for table in tables:
                removed = _drop_duplicate_rows(client, table, load_id)
                if removed:
                    log.warning(
                        "removed %d duplicate row(s) of %s from %s: a job of it was re-run "
                        "after a kill",
                        removed,
                        package_label(load_id),
                        table,
                    )
                    report.duplicates_removed[table] = (
                        report.duplicates_removed.get(table, 0) + removed
                    )
        del notes[load_id]
        if notes:
            _write_json(repair_notes_path(pipeline), notes)
        else:
            repair_notes_path(pipeline).unlink(missing_ok=True)


def _drop_duplicate_rows(client: Any, table: str, load_id: str) -> int:
    """Keeps one of each set of identical rows carrying `load_id`, in one transaction."""
    if not client.has_dataset():
        return 0
    name = client.make_qualified_table_name(table)
    try:
        total, distinct = client.execute_sql(
            f"select (select count(*) from {name} where load_id = %s), "
            f"(select count(*) from (select distinct * from {name} where load_id = %s) d)",
            load_id,
            load_id,
        )[0]
    except DestinationUndefinedEntity:
        return 0  # the table was never created: nothing of it loaded
    if total == distinct:
        return 0
    with client.begin_transaction():
        client.execute_sql(
            f"create temporary table lune_dedup as select distinct * from {name} "
            "where load_id = %s",
            load_id,
        )
        client.execute_sql(f"delete from {name} where load_id = %s", load_id)
        client.execute_sql(f"insert into {name} select * from lune_dedup")
        client.execute_sql("drop table lune_dedup")
    return int(total - distinct)


def _tables_keeping_every_row(pipeline: dlt.Pipeline) -> set[str]:
    """Tables a re-run job would fill twice: appended, or merged insert-only, and carrying
    the package's `load_id` (our tables that can; dlt's own are left alone)."""
    if pipeline.default_schema_name is None:
        return set()
    tables = set()
    for name, table in pipeline.default_schema.tables.items():
        if name.startswith("_dlt") or "load_id" not in table.get("columns", {}):
            continue
        disposition = table.get("write_disposition")
        if disposition == "append" or (
            disposition == "merge" and table.get("x-merge-strategy") == "insert-only"
        ):
            tables.add(name)
    return tables


def _read_notes(pipeline: dlt.Pipeline) -> dict[str, list[str]]:
    path = repair_notes_path(pipeline)
    return json.loads(path.read_text()) if path.is_file() else {}


# --- helpers -----------------------------------------------------------------------------------


def _storages(pipeline: dlt.Pipeline) -> tuple[NormalizeStorage, LoadStorage]:
    """dlt's own storage objects for the pipeline's working directory (dlt 1.31 exposes them
    only through these getters); their package APIs do the deleting."""
    return pipeline._get_normalize_storage(), pipeline._get_load_storage()


def _destination_state(pipeline: dlt.Pipeline) -> dict[str, Any] | None:
    """The pipeline state stored with the last completed load, or None before the first."""
    with pipeline.destination_client() as client:
        if not isinstance(client, WithStateSync):
            return None
        try:
            return load_pipeline_state_from_destination(pipeline.pipeline_name, client)
        except DestinationUndefinedEntity:
            return None


def _destination_answers(pipeline: dlt.Pipeline) -> bool:
    """Whether a trivial query succeeds: if it does, a failing load is the package's fault."""
    try:
        with pipeline.sql_client() as client:
            client.execute_sql("select 1")
        return True
    except Exception as e:  # any failure means "not reachable now"
        log.debug("the destination does not answer: %s", e)
        return False


def _machine_short_of_resources(error: BaseException) -> bool:
    return any(
        isinstance(e, MemoryError)
        or (isinstance(e, OSError) and e.errno in _RESOURCE_ERRNOS)
        or type(e).__name__ == "OutOfMemoryException"  # DuckDB's
        for e in error_chain(error)
    )


def _failed_load_id(error: BaseException) -> str | None:
    return next(
        (e.load_id for e in error_chain(error) if isinstance(e, PipelineStepFailed) and e.load_id),
        None,
    )


def _cannot_finish(load_id: str, reason: str) -> StepFailed:
    return StepFailed(
        "leftovers",
        f"could not finish {package_label(load_id)} left by an interrupted run, and it stays "
        f"pending for the next run: {reason}",
    )


def _discarded(report: LeftoverReport, load_id: str, kind: str, reason: str) -> None:
    log.warning("discarded %s, %s: %s", package_label(load_id), kind, reason)
    report.discarded.append({"load_id": load_id, "kind": kind, "reason": reason})


def _extracted_at(load_id: str) -> str:
    try:
        return datetime.fromtimestamp(float(load_id), UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError):
        return ""


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Written whole or not at all (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)
