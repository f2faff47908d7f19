"""Shared fixtures: the sandbox (a real HTTP server on loopback), PostgreSQL, the loader."""

from __future__ import annotations

import pytest

from tests.support.loader import Loader
from tests.support.postgres import *  # noqa: F403
from tests.support.sandbox import *  # noqa: F403


@pytest.fixture
def lune_env(monkeypatch: pytest.MonkeyPatch, sandbox_server, sandbox_world):
    """Points the source at the running sandbox through dlt's standard config variables."""
    monkeypatch.setenv("SOURCES__LUNE__API_KEY", sandbox_world.api_key)
    monkeypatch.setenv("SOURCES__LUNE__BASE_URL", sandbox_server.base_url)
    return sandbox_server


@pytest.fixture
def loader(tmp_path, lune_env) -> Loader:
    return Loader(workdir=tmp_path)
