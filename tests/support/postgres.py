"""A throwaway PostgreSQL server on loopback for the tests (session-scoped).

Finds the server binaries (PATH or /usr/lib/postgresql/*/bin), initialises a cluster in a
temporary folder, starts it on a free 127.0.0.1 port and yields a DSN. initdb refuses to run
as root, so as root the cluster belongs to the `postgres` system user (run with runuser).
Skips, saying why, when no binaries are installed; `.ci/run` installs them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["postgres_dsn"]

PASSWORD = "lune_test_pw"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="lune-pg-"))
    data = root / "data"
    (root / "pw").write_text(PASSWORD + "\n")
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "lune",
            "-E",
            "UTF8",
            "--auth=scram-sha-256",
            f"--pwfile={root / 'pw'}",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {root}",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=port, user="lune", password=PASSWORD, dbname="postgres"
        )
        con.autocommit = True
        con.cursor().execute("create database lune_test")
        con.close()
        yield f"postgresql://lune:{PASSWORD}@127.0.0.1:{port}/lune_test"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
