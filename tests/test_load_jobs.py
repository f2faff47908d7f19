"""How a run's files are cut and loaded (`pipelines/load_jobs.py`): a backfill cut into many
parquet files and loaded into DuckDB one job at a time is as exact as one file per table;
small packages keep dlt's own settings; what the user configured is left alone."""

from __future__ import annotations

import dlt
import pytest

import sources.lune as lune_source_module
from lune_sandbox import SandboxServer, SandboxWorld
from pipelines import load_jobs
from tests.support.loader import Loader

ORDER_TABLES = {"orders", "orders__bundles", "orders__projects", "order_status_history"}


@pytest.fixture
def writer_unset():
    """No file size in dlt's config before or after (a run in this process sets one)."""
    dlt.config["data_writer.file_max_bytes"] = None
    yield
    dlt.config["data_writer.file_max_bytes"] = None


@pytest.fixture
def recorded_loads(monkeypatch):
    """The keyword arguments of every `Pipeline.load` call; the load itself runs as ever."""
    calls: list[dict] = []
    load = dlt.Pipeline.load

    def recording(self, *args, **kwargs):
        calls.append(kwargs)
        return load(self, *args, **kwargs)

    monkeypatch.setattr(dlt.Pipeline, "load", recording)
    return calls


def _jobs_by_table(summary_loader: Loader) -> dict[str, int]:
    pipeline = dlt.attach(
        pipeline_name=summary_loader.pipeline_name,
        pipelines_dir=str(summary_loader.pipelines_dir),
    )
    trace = pipeline.last_trace
    counts: dict[str, int] = {}
    for package in trace.last_load_info.load_packages:
        for job in package.jobs["completed_jobs"]:
            table = job.job_file_info.table_name
            counts[table] = counts.get(table, 0) + 1
    return counts


def _serve(monkeypatch, world: SandboxWorld) -> SandboxServer:
    server = SandboxServer(world, port=0, rate_limit=None).start()
    monkeypatch.setenv("SOURCES__LUNE__API_KEY", world.api_key)
    monkeypatch.setenv("SOURCES__LUNE__BASE_URL", server.base_url)
    return server


def test_a_backfill_in_many_files_loaded_one_at_a_time_is_exact(
    tmp_path, monkeypatch, writer_unset, recorded_loads
):
    # an item for dlt per page of orders, a new file after every write, every package "large"
    monkeypatch.setattr(lune_source_module, "BATCH_ORDERS", 100)
    monkeypatch.setattr(lune_source_module, "BATCHES_PER_YIELD", 1)
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "50")
    monkeypatch.setattr(load_jobs, "FILE_MAX_BYTES", 1)
    monkeypatch.setattr(load_jobs, "ONE_AT_A_TIME_BYTES", 1)
    world = SandboxWorld.generate(seed=21, client_accounts=2, orders_per_account=200)
    server = _serve(monkeypatch, world)
    try:
        loader = Loader(workdir=tmp_path)
        loader.run()
        jobs = _jobs_by_table(loader)
        assert recorded_loads == [{"workers": 1}]
        assert jobs["orders"] > 1 and jobs["orders__projects"] > 1, jobs
        assert loader.differences(world) == []

        world.advance(new_orders=40, transitions=60)
        loader.run()
        assert loader.differences(world) == []
    finally:
        server.stop()
    with loader.connect() as con:
        count, distinct = con.execute(
            "select count(*), count(distinct (account_id, id)) from lune.orders"
        ).fetchone()
    assert count == distinct == sum(len(world.orders(a)) for a in world.account_ids())


def test_a_small_backfill_keeps_one_file_per_table_and_dlts_workers(
    tmp_path, monkeypatch, writer_unset, recorded_loads
):
    world = SandboxWorld.generate(seed=22, client_accounts=1, orders_per_account=150)
    server = _serve(monkeypatch, world)
    try:
        loader = Loader(workdir=tmp_path)
        loader.run()
    finally:
        server.stop()
    jobs = _jobs_by_table(loader)
    assert recorded_loads == [{}]
    assert {table: jobs[table] for table in ORDER_TABLES} == dict.fromkeys(ORDER_TABLES, 1)
    assert dlt.config.get("data_writer.file_max_bytes") == load_jobs.FILE_MAX_BYTES
    assert loader.differences(world) == []


def test_what_the_user_configured_is_left_alone(tmp_path, monkeypatch, writer_unset):
    dlt.config["data_writer.file_max_bytes"] = 1_000_000
    load_jobs.apply_writer_defaults()
    assert dlt.config.get("data_writer.file_max_bytes") == 1_000_000

    monkeypatch.setattr(load_jobs, "ONE_AT_A_TIME_BYTES", -1)  # any package is large
    pipeline = dlt.pipeline(
        pipeline_name="workers_check",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(credentials=str(tmp_path / "w.duckdb")),
    )
    assert load_jobs.load_workers(pipeline) == 1
    monkeypatch.setenv("LOAD__WORKERS", "3")
    assert load_jobs.load_workers(pipeline) is None
