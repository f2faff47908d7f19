"""Runs `lune-pipeline` as a user would: a subprocess with its own environment and folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .env import subprocess_env


def run_cli(
    args: list[str],
    workdir: Path,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`lune-pipeline <args>` in `workdir`. The warehouse is `workdir/warehouse.duckdb` unless
    `env` sets DESTINATION__DUCKDB__CREDENTIALS (None: not set, so the manifest decides)."""
    overrides = {"DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "warehouse.duckdb")}
    overrides.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=workdir,
        env=subprocess_env(overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
