"""Bad configuration ends the run with one clear sentence, a non-zero exit, and no key shown."""

from __future__ import annotations

import socket

from tests.support.cli import run_cli

RUN = ["run", "--destination", "duckdb", "--no-views"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_one_clear_line(result, expected: str, secret: str | None = None) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("lune-pipeline:")]
    assert len(error_lines) == 1, result.stderr
    assert expected in error_lines[0]
    if secret:
        assert secret not in result.stdout + result.stderr


def test_missing_api_key(tmp_path):
    result = run_cli([*RUN, "--pipelines-dir", str(tmp_path / "p")], tmp_path)
    _assert_one_clear_line(result, "No Lune API key is configured: set SOURCES__LUNE__API_KEY")


def test_unreachable_base_url(tmp_path):
    key = "sk_live_unreachable_0123456789"
    result = run_cli(
        [*RUN, "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {
            "SOURCES__LUNE__API_KEY": key,
            "SOURCES__LUNE__BASE_URL": f"http://127.0.0.1:{_closed_port()}",
            "SOURCES__LUNE__MAX_ATTEMPTS": "2",
        },
    )
    _assert_one_clear_line(result, "could not be reached", key)


def test_rejected_key(tmp_path, sandbox_server):
    key = "sk_live_wrong_key_9876543210"
    result = run_cli(
        [*RUN, "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {"SOURCES__LUNE__API_KEY": key, "SOURCES__LUNE__BASE_URL": sandbox_server.base_url},
    )
    _assert_one_clear_line(result, "Lune API rejected the API key", key)
    assert "HTTP 401" in result.stderr


def test_plain_http_beyond_loopback_is_refused(tmp_path):
    key = "sk_live_plain_http_1122334455"
    result = run_cli(
        [*RUN, "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {"SOURCES__LUNE__API_KEY": key, "SOURCES__LUNE__BASE_URL": "http://api.example.test"},
    )
    _assert_one_clear_line(result, "must use https://", key)


def test_bad_since_date(tmp_path, sandbox_server, sandbox_world):
    result = run_cli(
        [*RUN, "--since", "last tuesday", "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {
            "SOURCES__LUNE__API_KEY": sandbox_world.api_key,
            "SOURCES__LUNE__BASE_URL": sandbox_server.base_url,
        },
    )
    _assert_one_clear_line(result, "since='last tuesday' is not an ISO date")


def test_configuration_scoped_to_the_pipeline_wins(tmp_path, sandbox_world, sandbox_server):
    """dlt reads `<pipeline>.sources.lune.*` before `sources.lune.*`. The runner builds the
    source before the pipeline (to start its requests early): the pipeline's own section must
    still apply, so the right key there beats a wrong one outside it."""
    wrong = "sk_live_wrong_unscoped_key_0000"
    result = run_cli(
        [*RUN, "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        {
            "SOURCES__LUNE__API_KEY": wrong,
            "LUNE_ORDERS__SOURCES__LUNE__API_KEY": sandbox_world.api_key,
            "SOURCES__LUNE__BASE_URL": sandbox_server.base_url,
        },
    )
    assert result.returncode == 0, result.stderr
    assert "orders: new" in result.stdout
