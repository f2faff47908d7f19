"""Shared fixtures: the sandbox (a real HTTP server on loopback), PostgreSQL, the loader, and
the isolation every test runs in.

Isolation: tests touch nothing outside their temporary directories. dlt keeps pipelines in a
machine-wide data directory unless told otherwise, and resolves relative paths against the
working directory, so for the whole session (module- and session-scoped fixtures included)
and again for each test:
- `DLT_DATA_DIR` points at a directory of the session's, then of the test's own;
- the working directory, `HOME` and the XDG directories are temporary ones;
- dlt's telemetry is off (it would write an id into dlt's global directory and phone home);
- configuration a developer's shell may carry (`SOURCES__LUNE__*`, `DESTINATION__*`,
  `LUNE_*`, `RUNTIME__*`) is removed, so it can neither change a test nor reach a warehouse.
Subprocesses inherit this environment (tests/support/cli.py keeps it). `.ci/leak_check.py`
proves the result: it fails CI when the suite left anything in the checkout or changed dlt's
global directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import SCRUBBED_PREFIXES
from tests.support.loader import Loader
from tests.support.postgres import *  # noqa: F403
from tests.support.sandbox import *  # noqa: F403


def _isolate(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for name, folder in {
        "DLT_DATA_DIR": "dlt",
        "HOME": "home",
        "XDG_DATA_HOME": "home/.local/share",
        "XDG_CONFIG_HOME": "home/.config",
        "XDG_CACHE_HOME": "home/.cache",
    }.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(root / folder))
    (root / "cwd").mkdir(exist_ok=True)
    monkeypatch.chdir(root / "cwd")


@pytest.fixture(scope="session", autouse=True)
def isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's own dlt data directory, home and working directory (see the module
    docstring); session- and module-scoped fixtures run inside it."""
    root = tmp_path_factory.mktemp("session")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, root)
        yield root


@pytest.fixture(autouse=True)
def isolated_test(
    isolated_session: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch
) -> Path:
    """Each test's own dlt data directory, home and working directory."""
    root = tmp_path_factory.mktemp("isolated")
    _isolate(monkeypatch, root)
    return root


@pytest.fixture
def lune_env(monkeypatch: pytest.MonkeyPatch, sandbox_server, sandbox_world):
    """Points the source at the running sandbox through dlt's standard config variables."""
    monkeypatch.setenv("SOURCES__LUNE__API_KEY", sandbox_world.api_key)
    monkeypatch.setenv("SOURCES__LUNE__BASE_URL", sandbox_server.base_url)
    return sandbox_server


@pytest.fixture
def loader(tmp_path, lune_env) -> Loader:
    return Loader(workdir=tmp_path)
