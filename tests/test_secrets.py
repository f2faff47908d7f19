"""The API key never reaches any output of a run that failed on purpose: stdout, stderr, logs,
the run summary, dlt's trace and state, or the DuckDB file."""

from __future__ import annotations

from pathlib import Path

from lune_sandbox import SandboxServer, SandboxWorld
from tests.support.cli import run_cli


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_api_key_appears_in_no_output(tmp_path):
    key = "sk_live_SECRET_d41d8cd98f00b204e980"
    world = SandboxWorld.generate(seed=3, client_accounts=2, orders_per_account=80, api_key=key)
    args = [
        "run",
        "--destination",
        "duckdb",
        "--no-views",
        "--log-level",
        "DEBUG",
        "--pipelines-dir",
        str(tmp_path / "pipelines"),
        "--summary-json",
        str(tmp_path / "summary.json"),
    ]
    with SandboxServer(world, port=0, rate_limit=None) as server:
        env = {
            "SOURCES__LUNE__API_KEY": key,
            "SOURCES__LUNE__BASE_URL": server.base_url,
            "SOURCES__LUNE__MAX_ATTEMPTS": "2",
        }
        ok = run_cli(args, tmp_path, env)
        assert ok.returncode == 0, ok.stderr
        world.advance(new_orders=20, transitions=20)
        server.faults.set(error_rate=1.0)  # every request fails from here on
        failed = run_cli(args, tmp_path, env)
    assert failed.returncode != 0
    assert "still failed after 2 attempts" in failed.stderr

    outputs = ok.stdout + ok.stderr + failed.stdout + failed.stderr
    assert key not in outputs
    assert _files_containing(tmp_path, key.encode()) == []
    # and the files we grepped are the ones that matter
    assert (tmp_path / "warehouse.duckdb").is_file()
    assert any((tmp_path / "pipelines").rglob("state.json"))
    assert any((tmp_path / "pipelines").rglob("trace.pickle"))
