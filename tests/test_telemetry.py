"""With dlt's telemetry off (as every test runs, and as a user may set it), a run leaves
nothing in dlt's machine-wide directory: dlt 1.31 would write `.anonymous_id` there on every
step, `/var/dlt` when the run is root's (pipelines/telemetry.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dlt.common.runtime import anon_tracker, run_context


@pytest.fixture
def global_dir(tmp_path, monkeypatch) -> Path:
    """dlt's global directory, moved into the test's own folder (root or not)."""
    moved = tmp_path / "dlt-global"
    monkeypatch.setattr(run_context, "global_dir", lambda: str(moved))
    return moved


def test_the_moved_global_directory_is_where_dlt_writes_its_id(global_dir):
    """The check below can fail: dlt's own id lookup writes into the moved directory."""
    anon_tracker.get_anonymous_id()
    assert (global_dir / ".anonymous_id").is_file()


def test_a_run_with_telemetry_off_writes_no_id(global_dir, loader, sandbox_world, monkeypatch):
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    summary = loader.run()

    assert summary.outcome == "succeeded"
    assert loader.differences(sandbox_world) == []
    assert not global_dir.exists()


def test_a_failed_run_with_telemetry_off_writes_no_id(global_dir, loader, monkeypatch):
    monkeypatch.setenv("SOURCES__LUNE__API_KEY", "sk_live_not_a_key_0123456789")
    with pytest.raises(Exception, match="rejected the API key"):
        loader.run()
    assert not global_dir.exists()
