"""A process that has imported the pipeline once and forks one `lune-pipeline` run per request.

A crash stress test kills hundreds of runs; starting Python and importing dlt, DuckDB and
pyarrow costs about a second per run, a fork a few milliseconds. The server is itself a
subprocess with no threads (forking a multi-threaded pytest process, with the sandbox's server
thread, would not be safe). Each child starts its own session, so a kill of its process group
takes the run and anything it started, and nothing else.

Protocol, one JSON object per line: the parent writes {"args", "cwd", "env", "log",
"stdout", "point", "delay", "nth"}; the server answers {"pid"} at once and {"pid", "exit"}
when the child ended (`exit` as `os.waitstatus_to_exitcode`: -9 for a SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.env import SCRUBBED_PREFIXES, subprocess_env

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    pid: int
    started: float
    log: Path


class ForkServer:
    """Parent side: starts the server, forks runs through it, kills and waits for them."""

    def __init__(self, cwd: Path) -> None:
        """`cwd`: the server's working folder (a test's own; the repository is put on the
        path). The environment is the test's isolated one (dlt data dir, home) with dlt's
        telemetry off: it would also start a thread, which forking must not copy."""
        env = subprocess_env({"PYTHONPATH": str(REPO_ROOT)})
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.forkserver"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._buffer = b""
        ready = self._read(timeout=120)
        if not ready.get("ready"):
            raise RuntimeError(f"fork server did not start: {ready}")

    def start(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        log: Path,
        stdout: Path | None = None,
        point: str | None = None,
        delay: float = 0.0,
        nth: int = 1,
    ) -> Child:
        """Forks a run of `lune-pipeline <args>`; its stderr (and stdout unless `stdout` is
        given) goes to `log`; `point` arms a kill point in it."""
        request = {
            "args": args,
            "cwd": str(cwd),
            "env": env,
            "log": str(log),
            "stdout": str(stdout) if stdout else None,
            "point": point,
            "delay": delay,
            "nth": nth,
        }
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(request) + "\n").encode())
        started = time.monotonic()
        reply = self._read(timeout=30)
        return Child(pid=reply["pid"], started=started, log=log)

    def wait(self, child: Child, timeout: float = 120) -> int:
        """The child's exit code (-9 when killed); kills it first if `timeout` passes."""
        try:
            reply = self._read(timeout=timeout)
        except TimeoutError:
            self.kill(child)
            reply = self._read(timeout=30)
            raise TimeoutError(f"run {child.pid} took longer than {timeout}s") from None
        assert reply["pid"] == child.pid, reply
        return int(reply["exit"])

    def wait_or_kill(self, child: Child, at: float) -> int:
        """Kills the child's process group `at` seconds after it started unless it ended
        before; returns its exit code."""
        remaining = child.started + at - time.monotonic()
        try:
            reply = self._read(timeout=max(remaining, 0.0))
        except TimeoutError:
            self.kill(child)
            reply = self._read(timeout=60)
        assert reply["pid"] == child.pid, reply
        return int(reply["exit"])

    @staticmethod
    def kill(child: Child) -> None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # not yet its own group leader, or already gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self, timeout: float) -> dict[str, Any]:
        """One reply line; raw reads, so a line never hides in a buffer `select` cannot see."""
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"no answer from the fork server within {timeout:.1f}s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"fork server exited ({self._process.poll()})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)


# --- server side -------------------------------------------------------------------------------


def _prewarm() -> None:
    """Imports what a run imports lazily and runs a throwaway pipeline once (extract,
    normalize, merge load into DuckDB), so each child starts with dlt's caches warm: a
    first run in a fresh process costs about 0.4 s more than the next one."""
    import tempfile
    import threading

    import dlt
    import duckdb  # noqa: F401
    import pyarrow as pa
    import pyarrow.parquet
    from dlt.common.runtime.collector import NULL_COLLECTOR

    import pipelines.cli
    import pipelines.runner
    import pipelines.status  # noqa: F401
    import tests.support.crash_points  # noqa: F401
    import transforms  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="lune-forkserver-") as tmp:
        pipeline = dlt.pipeline(
            pipeline_name="warm_up",
            pipelines_dir=f"{tmp}/p",
            destination=dlt.destinations.duckdb(credentials=f"{tmp}/warm.duckdb"),
            dataset_name="warm_up",
            progress=NULL_COLLECTOR,
        )
        table = pa.table({"id": [1, 2], "value": ["a", "b"]})
        resource = dlt.resource(
            lambda: (yield table),
            name="rows",
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key="id",
        )
        for _ in range(2):
            pipeline.sync_destination()
            pipeline.extract(resource, loader_file_format="parquet")
            pipeline.normalize()
            pipeline.load()
    # forking is only safe without other threads (dlt's telemetry thread is switched off)
    assert threading.active_count() == 1, threading.enumerate()


def _child(request: dict[str, Any]) -> int:
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    out = (
        os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if request.get("stdout")
        else log
    )
    os.dup2(out, 1)
    os.dup2(log, 2)
    os.close(log)
    if out != log:
        os.close(out)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    os.chdir(request["cwd"])
    for key in [k for k in os.environ if k.startswith(SCRUBBED_PREFIXES)]:
        del os.environ[key]
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ.update(request["env"])
    from pipelines.cli import main
    from tests.support.crash_points import arm

    if request.get("point"):
        arm(request["point"], delay=request.get("delay", 0.0), nth=request.get("nth", 1))
    return main(request["args"])


def serve() -> None:
    _prewarm()
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            except BaseException as e:  # the child must never return into this loop
                print(f"forked run crashed: {e!r}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        out.write((json.dumps({"pid": pid}) + "\n").encode())
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(
            (json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}) + "\n").encode()
        )
        out.flush()


if __name__ == "__main__":
    serve()
