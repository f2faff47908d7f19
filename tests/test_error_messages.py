"""Every failed run says, in one line, which step failed, on which package, and why.

dlt's own message starts "Pipeline execution failed at `step=normalize` ... with exception:"
and puts the cause on later lines; a run that printed only that first line (as before issue
#18) told nobody anything. One test per step that can fail, each provoking a real failure of
that step and checking the line carries the underlying reason, not just dlt's first line.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

import transforms
from pipelines.runner import RunError
from tests.support.cli import run_cli
from tests.support.loader import Loader

DLT_FIRST_LINE = re.compile(r"Pipeline execution failed at `step=\w+`")
PACKAGE = r"the package extracted at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(load id [\d.]+\)"


def _assert_names_the_cause(message: str, step: str, cause: str) -> None:
    assert "\n" not in message
    assert message.startswith(f"{step} failed"), message
    assert cause in message, message
    assert not DLT_FIRST_LINE.search(message), message  # dlt's wrapper text is gone


def _fail(loader: Loader) -> str:
    with pytest.raises(RunError) as failed:
        loader.run()
    return str(failed.value)


def test_sync_failure_names_the_cause(tmp_path):
    """The warehouse file is not a DuckDB database: the run stops at its first step."""
    (tmp_path / "warehouse.duckdb").write_bytes(b"not a database " * 1000)
    result = run_cli(
        ["run", "--destination", "duckdb", "--no-views", "--log-level", "DEBUG",
         "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {"SOURCES__LUNE__API_KEY": "sk_live_sync_failure_0123456789"},
    )  # fmt: skip
    assert result.returncode == 1
    [line] = [x for x in result.stderr.splitlines() if x.startswith("lune-pipeline:")]
    message = line.removeprefix("lune-pipeline: ")
    _assert_names_the_cause(message, "sync", "not a valid DuckDB database file")
    # the whole chain is in the debug log, the key nowhere
    assert "full error chain" in result.stderr and "Traceback" in result.stderr
    assert "sk_live_sync_failure_0123456789" not in result.stdout + result.stderr


def test_extract_failure_names_the_cause(loader, monkeypatch):
    import sources.lune as source

    def broken(*args, **kwargs):
        raise ValueError("an order batch could not be converted")

    monkeypatch.setattr(source, "order_tables", broken)
    message = _fail(loader)
    _assert_names_the_cause(message, "extract", "ValueError: an order batch could not be converted")


def test_normalize_failure_names_the_package_and_the_cause(loader, sandbox_world, monkeypatch):
    """The run's own extracted file is cut short: normalize fails on it and says so; the
    next run sets the package aside and reads its orders again."""
    from dlt.extract.storage import ExtractStorage

    loader.run()
    created = sandbox_world.advance(new_orders=7, transitions=10)["created"]
    commit = ExtractStorage.commit_new_load_package

    def commit_truncated(self, load_id, schema):
        [orders] = Path(self.new_packages.storage.make_full_path(load_id)).glob(
            "new_jobs/orders.*.parquet"
        )
        orders.write_bytes(orders.read_bytes()[:100])
        commit(self, load_id, schema)

    with monkeypatch.context() as patched:
        patched.setattr(ExtractStorage, "commit_new_load_package", commit_truncated)
        message = _fail(loader)
    _assert_names_the_cause(message, "normalize", "ArrowInvalid: Parquet magic bytes not found")
    assert re.match(rf"normalize failed on {PACKAGE}: job orders\.\w+\.parquet: ", message)

    summary = loader.run()
    assert [p["stage"] for p in summary.set_aside_packages] == ["extracted"]
    assert summary.orders["new"] == len(created)
    assert loader.differences(sandbox_world) == []


def test_load_failure_names_the_package_and_the_cause(loader, sandbox_world):
    """Someone replaced a warehouse table by a view: the merge into it fails."""
    loader.run()
    with duckdb.connect(str(loader.db_path)) as con:
        con.execute("alter table lune.orders rename to orders_moved")
        con.execute("create view lune.orders as select * from lune.orders_moved")
    sandbox_world.advance(new_orders=3, transitions=3)
    message = _fail(loader)
    _assert_names_the_cause(message, "load", "Can only delete from base table")
    assert re.match(rf"load failed on {PACKAGE}: job orders\.\w+\.sql: BinderException", message)


def test_transform_failure_names_the_model_and_the_cause(loader, tmp_path):
    """A model of the reporting project reads a table that does not exist."""
    project = tmp_path / "project"
    shutil.copytree(transforms.DBT_PROJECT_DIR, project)
    (project / "models" / "marts" / "zz_broken.sql").write_text("select * from no_such_table\n")
    loader.transform = True
    with pytest.raises(RunError) as failed:
        loader.run(transform_project_dir=str(project))
    message = str(failed.value)
    _assert_names_the_cause(message, "transform", "zz_broken")


def test_leftover_failure_names_the_package_and_the_cause(loader, sandbox_world, monkeypatch):
    """The disk is full: the run's normalize fails, then the next run cannot finish the
    package either and says it keeps it (tests/test_leftovers.py: the run after finishes)."""
    import dlt.normalize.normalize as dlt_normalize

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    loader.run()
    sandbox_world.advance(new_orders=3, transitions=3)
    monkeypatch.setattr(dlt_normalize, "w_normalize_files", disk_full)
    first = _fail(loader)
    _assert_names_the_cause(first, "normalize", "OSError: [Errno 28] No space left on device")

    message = _fail(loader)
    assert "\n" not in message and not DLT_FIRST_LINE.search(message)
    assert re.match(
        rf"could not finish {PACKAGE} left by an interrupted run, and it stays pending for "
        r"the next run: normalize failed: OSError: \[Errno 28\] No space left on device",
        message,
    ), message


@pytest.mark.postgres
def test_unreachable_postgres_names_the_cause_and_hides_the_password(tmp_path, postgres_dsn):
    wrong = postgres_dsn.replace("lune_test_pw", "wrong_pw_5f3a9c")
    result = run_cli(
        ["run", "--destination", "postgres", "--no-views", "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {
            "SOURCES__LUNE__API_KEY": "sk_live_pg_failure_0123456789",
            "DESTINATION__POSTGRES__CREDENTIALS": wrong,
        },
    )
    assert result.returncode == 1
    [line] = [x for x in result.stderr.splitlines() if x.startswith("lune-pipeline:")]
    message = line.removeprefix("lune-pipeline: ")
    _assert_names_the_cause(message, "sync", "password authentication failed")
    assert "wrong_pw_5f3a9c" not in result.stdout + result.stderr
