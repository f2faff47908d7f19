"""Kill points for crash tests: `arm(point)` makes this process SIGKILL itself - with its
process group when it leads one, as an OOM killer or a pod eviction would - at one moment of
a `lune-pipeline run`.

Used by `crash_driver` (one subprocess per run) and `forkserver` (one forked child per run).

Two kinds of points:
- edges that dlt's own crash safety has to get right, hit exactly by patching the dlt
  function that crosses them (`normalize-committed` is the one issue #18 was about: the
  normalized package renamed into place, its extracted copy not yet deleted);
- stage timers (`sync`, `leftovers`, `extract`, `normalize`, `load`, `transform`) that kill
  `delay` seconds after the stage starts, so a stress test spreads kills over a whole stage.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import dlt
from dlt.common.data_writers.buffered import BufferedDataWriter
from dlt.common.storages.file_storage import FileStorage
from dlt.common.storages.load_package import PackageStorage
from dlt.common.storages.load_storage import LoadStorage
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.extract.storage import ExtractStorage

EDGE_POINTS = (
    "mid-extract",
    "extract-first-file",
    "extract-committed",
    "after-extract",
    "normalize-committed",
    "normalize-deleting",
    "after-normalize",
    "load-job",
    "job-committed",
    "history-committed",
    "after-orders-commit",
    "in-load",
    "load-completed",
    "set-aside-moved",
)
STAGE_POINTS = ("sync", "leftovers", "extract", "normalize", "load", "transform")
POINTS = EDGE_POINTS + STAGE_POINTS


def die(*_args: Any, **_kwargs: Any) -> None:
    """SIGKILL now: the process group when this process leads one (a forked run does), else
    only this process (a subprocess shares its group with the test runner)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, delay: float = 0.0, nth: int = 1) -> None:
    """Arms `point`; `delay` (seconds into the stage) is for stage points, `nth` picks the
    call (extract batch, completed load job, files deleted) for the edges that count."""
    if point in STAGE_POINTS:
        _arm_stage(point, delay)
    elif point == "mid-extract":
        _arm_mid_extract(nth)
    elif point == "extract-first-file":
        BufferedDataWriter._open_writer = _then_die(BufferedDataWriter._open_writer)
    elif point == "extract-committed":  # package in extracted/, pipeline state not yet saved
        ExtractStorage.commit_new_load_package = _then_die(ExtractStorage.commit_new_load_package)
    elif point == "after-extract":
        dlt.Pipeline.normalize = die
    elif point == "normalize-committed":  # normalized package in place, extracted copy kept
        LoadStorage.commit_new_load_package = _then_die(LoadStorage.commit_new_load_package)
    elif point == "normalize-deleting":
        _arm_partial_delete(nth)
    elif point == "after-normalize":
        dlt.Pipeline.load = die
    elif point == "load-job":
        PackageStorage.complete_job = _then_die(PackageStorage.complete_job, nth)
    elif point == "job-committed":  # a job's rows committed, its completion not yet recorded
        DuckDbCopyJob.run = _then_die(DuckDbCopyJob.run, nth)
    elif point == "history-committed":  # the same for the status history's staging rows
        original = DuckDbCopyJob.run

        def run(job: DuckDbCopyJob) -> None:
            original(job)
            if job.load_table_name == "order_status_history":
                die()

        DuckDbCopyJob.run = run
    elif point == "after-orders-commit":  # the `orders` job committed, its marker not written
        original_marker = PackageStorage.save_pending_transition

        def save_pending_transition(
            self: PackageStorage, load_id: str, file_name: str, state: str, *args: Any, **kw: Any
        ) -> None:
            if file_name.startswith("orders.") and state == "completed":
                die()
            original_marker(self, load_id, file_name, state, *args, **kw)

        PackageStorage.save_pending_transition = save_pending_transition
    elif point == "in-load":  # all table jobs done, the load not yet marked complete
        DuckDbClient.complete_load = die
    elif point == "load-completed":  # marked complete in the destination, package not moved
        LoadStorage.complete_load_package = die
    elif point == "set-aside-moved":  # a bad leftover moved aside, the sync state not rewound
        import pipelines.leftovers as leftovers

        leftovers._remove_from_storage = _then_die(leftovers._remove_from_storage)
    else:
        raise SystemExit(f"unknown crash point {point!r} (known: {', '.join(POINTS)})")


def _then_die(original: Callable[..., Any], nth: int = 1) -> Callable[..., Any]:
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] >= nth:
            die()
        return result

    return wrapper


def _start_timer(delay: float) -> None:
    timer = threading.Timer(max(delay, 0.0), die)
    timer.daemon = True
    timer.start()


def _on_first_call(original: Callable[..., Any], delay: float) -> Callable[..., Any]:
    started = {"done": False}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not started["done"]:
            started["done"] = True
            _start_timer(delay)
        return original(*args, **kwargs)

    return wrapper


def _arm_stage(stage: str, delay: float) -> None:
    if stage == "transform":
        arm_transform_kill(delay)
    elif stage == "leftovers":
        import pipelines.runner as runner

        runner.finish_leftovers = _on_first_call(runner.finish_leftovers, delay)
    elif stage == "sync":
        dlt.Pipeline.sync_destination = _on_first_call(dlt.Pipeline.sync_destination, delay)
    else:
        setattr(dlt.Pipeline, stage, _on_first_call(getattr(dlt.Pipeline, stage), delay))


def arm_transform_kill(delay: float) -> None:
    """THE transform hook: kills `delay` seconds into the one call `pipelines.runner` makes
    for the transform step, `build_reporting` (the dbt build, a child process that the kill
    of the process group takes too). Re-point this one patch if that call changes."""
    import pipelines.runner as runner

    runner.build_reporting = _on_first_call(runner.build_reporting, delay)


def _arm_mid_extract(nth: int) -> None:
    """Kills at the `nth + 2`-th batch of orders (batches shrunk to 50 orders, each yielded
    on its own, so a small world has several): some of the extract's files are written, the
    package is not."""
    import sources.lune as source_module
    import sources.lune.records as records

    source_module.BATCH_ORDERS = 50
    source_module.BATCHES_PER_YIELD = 1
    original = records.order_tables
    calls = {"n": 0}

    def order_tables(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == nth + 2:
            die()
        return original(*args, **kwargs)

    records.order_tables = order_tables
    source_module.order_tables = order_tables


def _arm_partial_delete(nth: int) -> None:
    """Kills after `nth` files of an extracted package were deleted - normalize deletes the
    extracted copy after committing the normalized one, file by file."""
    original = FileStorage.delete_folder

    def delete_folder(self: FileStorage, relative_path: str, *args: Any, **kwargs: Any) -> None:
        full = self.make_full_path(relative_path)
        if f"{os.sep}normalize{os.sep}extracted{os.sep}" in full + os.sep:
            files = sorted(
                os.path.join(root, name) for root, _, names in os.walk(full) for name in names
            )
            for path in files[:nth]:
                os.remove(path)
            die()
        original(self, relative_path, *args, **kwargs)

    FileStorage.delete_folder = delete_folder
