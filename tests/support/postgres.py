"""A throwaway PostgreSQL server on loopback for the tests (session-scoped `postgres_dsn`).

Finds the server binaries (`initdb`, `pg_ctl`, `postgres` on PATH or under
/usr/lib/postgresql/*/bin), initialises a cluster in a temporary folder, starts it on a free
127.0.0.1 port with its unix socket in that folder, creates a database and yields
`postgresql://user:password@127.0.0.1:port/db`. The server is stopped and the folder removed
afterwards.

initdb refuses to run as root, so as root the cluster belongs to an unprivileged user (the
`postgres` system user, created when missing) and every server command runs via `runuser`.
Without server binaries the fixture skips, saying why; `.ci/run` installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["postgres_dsn"]

USER = "lune"
PASSWORD = "lune_test_pw"
DATABASE = "lune_test"
SERVER_OS_USER = "postgres"
_TOOLS = ("initdb", "pg_ctl", "postgres")


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (newest version first), or None."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    candidates.extend(Path(p).parent for p in found)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in _TOOLS):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str:
    """An unprivileged OS user to own the cluster (only needed when running as root)."""
    try:
        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_OS_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVER_OS_USER


def _run(command: list[str], what: str, log: Path | None = None, timeout: float = 120) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        server_log = log.read_text()[-2000:] if log and log.exists() else ""
        raise RuntimeError(
            f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{server_log}"
        )


def _wait_for_connection(port: int, deadline: float) -> None:
    import psycopg2

    while True:
        try:
            psycopg2.connect(
                host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres"
            ).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server started for this test session."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin: install the `postgresql` package to run these tests"
        )
    import psycopg2

    prefix: list[str] = []
    as_root = os.geteuid() == 0
    # as root, $TMPDIR may sit where the server's user cannot go (e.g. under /root)
    root = Path(tempfile.mkdtemp(prefix="lune-pg-", dir="/tmp" if as_root else None))
    data, log, pwfile = root / "data", root / "server.log", root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_root:
        user = _server_user()
        prefix = ["runuser", "-u", user, "--"]
        for path in (root, pwfile):
            shutil.chown(path, user)
    started = False
    try:
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "-E",
                "UTF8",
                "--no-locale",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            "initdb",
        )
        # a few attempts: another process may take the free port between probe and bind
        for attempt in range(3):
            port = _free_port()
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -k {root} "
                # durability is pointless for a throwaway cluster; this keeps tests fast
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=50 -c TimeZone=UTC"
            )
            try:
                _run(
                    [
                        *prefix,
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(log),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ],
                    "pg_ctl start",
                    log,
                )
                started = True
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        _wait_for_connection(port, time.monotonic() + 30)
        con = psycopg2.connect(
            host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres"
        )
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute(f"create database {DATABASE}")
        con.close()
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)
