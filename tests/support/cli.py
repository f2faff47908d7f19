"""Runs `lune-pipeline` as a user would: a subprocess with its own environment and folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# configuration a developer's shell might carry must not leak into these runs
_SCRUB = ("SOURCES__LUNE__", "DESTINATION__", "LUNE_", "RUNTIME__")


def run_cli(
    args: list[str], workdir: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    clean.setdefault("DESTINATION__DUCKDB__CREDENTIALS", str(workdir / "warehouse.duckdb"))
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=workdir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
