"""Where the DuckDB file lands: next to the manifest that configures it (a relative path is
the manifest's folder's), in the working directory without a manifest, the same on every run
wherever the command starts; the absolute path is printed at the start of a run, in the run
summary and in `status`. A pipeline that last loaded another file says so, and the data that
file receives is complete: its sync state comes from the file, not from the other one's."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.support.cli import run_cli
from tests.support.warehouse import actual_rows, differences, expected_rows

REPO = Path(__file__).resolve().parents[1]
RUN = ["run", "--no-views"]


@pytest.fixture
def env(sandbox_world, sandbox_server) -> dict[str, str | None]:
    """The sandbox, and no DESTINATION__DUCKDB__CREDENTIALS: the manifest or the default
    decides where the file goes."""
    return {
        "SOURCES__LUNE__API_KEY": sandbox_world.api_key,
        "SOURCES__LUNE__BASE_URL": sandbox_server.base_url,
        "DESTINATION__DUCKDB__CREDENTIALS": None,
    }


def _project(folder: Path, credentials: str | None = None) -> Path:
    """A folder with the product's manifest (its DuckDB path replaced when given)."""
    folder.mkdir(parents=True)
    manifest = (REPO / "dlt_project.yml").read_text()
    if credentials is not None:
        assert "credentials: lune_orders.duckdb" in manifest
        manifest = manifest.replace(
            "credentials: lune_orders.duckdb", f"credentials: {credentials}"
        )
    (folder / "dlt_project.yml").write_text(manifest)
    return folder


def _assert_complete(path: Path, world) -> None:
    with duckdb.connect(str(path), read_only=True) as con:
        assert differences(expected_rows(world), actual_rows(con.cursor(), "lune")) == []


def _run(args: list[str], workdir: Path, env, pipelines: Path):
    result = run_cli([*args, "--pipelines-dir", str(pipelines)], workdir, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_each_manifest_gets_its_own_file_next_to_it(tmp_path, env, sandbox_world):
    # one dlt data directory for both, as on a laptop where both share the default one
    pipelines = tmp_path / "dlt" / "pipelines"
    first = _project(tmp_path / "first")
    second = _project(tmp_path / "second")

    one = _run([*RUN, "--summary-json", "summary.json"], first, env, pipelines)
    two = _run(RUN, second, env, pipelines)

    first_file, second_file = first / "lune_orders.duckdb", second / "lune_orders.duckdb"
    assert one.stdout.splitlines()[0] == f"warehouse: {first_file}"
    assert two.stdout.splitlines()[0] == f"warehouse: {second_file}"
    assert f"warehouse: {second_file}" in two.stdout.splitlines()[2:]  # and in the summary
    assert json.loads((first / "summary.json").read_text())["warehouse"] == str(first_file)
    # the second run says where the pipeline loaded before, and reads its state from the
    # file it loads: a full first load there, not an increment on top of the other file
    notice = (
        f"Pipeline 'lune_orders' last loaded {first_file}; this run loads {second_file} and "
        "takes its sync state from there, not from the local working folder."
    )
    assert f"note: {notice}" in two.stdout
    assert "last loaded" not in one.stdout
    _assert_complete(first_file, sandbox_world)
    _assert_complete(second_file, sandbox_world)
    assert sorted(p.name for p in tmp_path.rglob("*.duckdb")) == [
        "lune_orders.duckdb",
        "lune_orders.duckdb",
    ]

    # back in the first project, after the sandbox moved on: its own state, an increment
    sandbox_world.advance(new_orders=7, transitions=5)
    again = _run([*RUN, "--summary-json", "again.json"], first, env, pipelines)
    assert f"last loaded {second_file}; this run loads {first_file}" in again.stdout
    summary = json.loads((first / "again.json").read_text())
    assert summary["orders"]["new"] == 7
    _assert_complete(first_file, sandbox_world)

    status = run_cli(["status", "--pipelines-dir", str(pipelines)], first, env)
    assert status.stdout.splitlines()[0] == f"warehouse: {first_file}", status.stdout
    status_json = run_cli(["status", "--json", "--pipelines-dir", str(pipelines)], second, env)
    assert json.loads(status_json.stdout)["warehouse"] == str(second_file)


def test_a_run_from_a_subfolder_writes_next_to_the_manifest(tmp_path, env, sandbox_world):
    project = _project(tmp_path / "project", credentials="data/orders.duckdb")
    below = project / "reports" / "2026"
    below.mkdir(parents=True)

    result = _run(RUN, below, env, tmp_path / "pipelines")

    expected = project / "data" / "orders.duckdb"
    assert result.stdout.splitlines()[0] == f"warehouse: {expected}"
    _assert_complete(expected, sandbox_world)
    assert list(below.iterdir()) == []


def test_without_a_manifest_the_file_lands_in_the_working_directory(tmp_path, env, sandbox_world):
    workdir = tmp_path / "no-manifest"
    workdir.mkdir()
    assert not any((folder / "dlt_project.yml").exists() for folder in workdir.parents)

    result = _run(RUN, workdir, env, tmp_path / "pipelines")

    assert result.stdout.splitlines()[0] == f"warehouse: {workdir / 'lune_orders.duckdb'}"
    _assert_complete(workdir / "lune_orders.duckdb", sandbox_world)


def test_a_relative_path_in_the_environment_is_the_manifests_folders_too(
    tmp_path, env, sandbox_world
):
    project = _project(tmp_path / "project")
    below = project / "sub"
    below.mkdir()

    result = _run(
        RUN,
        below,
        {**env, "DESTINATION__DUCKDB__CREDENTIALS": "env.duckdb"},
        tmp_path / "pipelines",
    )

    assert result.stdout.splitlines()[0] == f"warehouse: {project / 'env.duckdb'}"
    _assert_complete(project / "env.duckdb", sandbox_world)


def test_a_pipeline_from_before_remembers_its_first_working_directory(tmp_path, env, sandbox_world):
    """A pipeline created before the location was recorded loaded where dlt put it: the
    default file in its first run's working directory. Moving elsewhere is told, too."""
    pipelines = tmp_path / "pipelines"
    old = _project(tmp_path / "old")
    _run(RUN, old, env, pipelines)
    state_file = pipelines / "lune_orders" / "state.json"
    state = json.loads(state_file.read_text())
    del state["_local"]["lune_warehouse_location"]
    state["_local"]["initial_cwd"] = str(old)
    state_file.write_text(json.dumps(state))

    new = _project(tmp_path / "new")
    result = _run(RUN, new, env, pipelines)

    assert (
        f"last loaded {old / 'lune_orders.duckdb'}; this run loads {new / 'lune_orders.duckdb'}"
        in result.stdout
    )
    _assert_complete(new / "lune_orders.duckdb", sandbox_world)
