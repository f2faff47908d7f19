"""Helpers for tests that run outside per-test fixtures (hypothesis, subprocesses)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# configuration a developer's shell might carry: it must not reach the tests' runs
SCRUBBED_PREFIXES = ("SOURCES__LUNE__", "DESTINATION__", "LUNE_", "RUNTIME__")


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Sets environment variables for the duration of the block, then restores them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def subprocess_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment for a subprocess: the test's own (its isolated dlt data directory,
    home and working files, see tests/conftest.py) without the configuration the developer's
    shell might carry, dlt's telemetry off, then `overrides` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
