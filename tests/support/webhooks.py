"""Webhook helpers for the tests: Lune-shaped events, signed deliveries, a spool, and the
receiver as a user runs it (`lune-pipeline webhooks serve` in a subprocess).

Signatures here are computed with hashlib/hmac directly, not with the product's code, so a
test of the product's verifier compares it with an independent reading of Lune's rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from .env import subprocess_env

SECRET = "whsec_test_0123456789abcdef0123456789abcdef"


def lune_hmac(secret: str, timestamp: int, body: bytes, organisation: str = "org1") -> str:
    """The Lune-HMAC header Lune would send (base64 of HMAC-SHA256(secret, TS.body))."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return (
        f"timestamp={timestamp},organisation={organisation},v1={base64.b64encode(digest).decode()}"
    )


def order_event(
    event_id: str,
    account_id: str = "acct1",
    status: str = "placed",
    order_id: str = "order1",
    quantity: str | None = "1.5",
    sequence: str = "0001",
) -> dict[str, Any]:
    event_type = "order.completed" if status == "complete" else f"order.{status}"
    order = {"id": order_id, "status": status, "quantity": quantity, "currency": "EUR"}
    return {
        "api_version": "v1",
        "event_id": event_id,
        "account_id": account_id,
        "event_type": event_type,
        "sequence": sequence,
        "data": {"order": order},
    }


def allocation_event(
    event_id: str,
    account_id: str = "acct1",
    status: str = "retired",
    order_id: str = "order1",
    project_id: str = "project1",
    quantity: str = "0.75",
    sequence: str = "0002",
    allocation_id: str = "alloc1",
) -> dict[str, Any]:
    return {
        "api_version": "v1",
        "event_id": event_id,
        "account_id": account_id,
        "event_type": f"allocation.{status}",
        "sequence": sequence,
        "data": {
            "allocation": {
                "id": allocation_id,
                "order_id": order_id,
                "project_id": project_id,
                "quantity": quantity,
                "status": status,
                "created_at": "2026-11-01T00:00:00.000Z",
            }
        },
    }


def body_of(events: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"events": list(events)})


def spool_delivery(
    spool: Path, events: Sequence[dict[str, Any]], signed_at: int, received_at: float | None = None
) -> str:
    """Stores a delivery in `spool` as the receiver does; returns the file name."""
    from sources.lune.webhooks.spool import Spool

    store = Spool(str(spool))
    store.prepare()
    return store.store(body_of(events), signed_at, received_at).name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Receiver:
    """A running `lune-pipeline webhooks serve` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    spool: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_receiver(
    workdir: Path,
    spool: Path,
    secret: str = SECRET,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    log_name: str = "receiver.log",
) -> Receiver:
    """Starts the receiver from the CLI and waits until /healthz answers."""
    port = port or free_port()
    env = subprocess_env(
        {
            "SOURCES__LUNE__WEBHOOK_SECRET": secret,
            "SOURCES__LUNE__WEBHOOK_SPOOL": str(spool),
            **(extra_env or {}),
        }
    )
    log_path = workdir / log_name
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    receiver = Receiver(process, port, spool, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the receiver exited with {process.returncode}: {receiver.log()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return receiver
        except httpx.HTTPError:
            time.sleep(0.05)
    receiver.kill()
    raise RuntimeError(f"the receiver did not come up: {receiver.log()}")


@contextmanager
def running_receiver(workdir: Path, spool: Path, **kwargs: Any) -> Iterator[Receiver]:
    receiver = start_receiver(workdir, spool, **kwargs)
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class Captured:
    """What a capture endpoint received: (Lune-HMAC header, raw body, path) per request."""

    url: str
    requests: list[tuple[str, bytes, str]]

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body, _ in self.requests]


@contextmanager
def capture_endpoint(answer: Any = None) -> Iterator[Captured]:
    """A plain HTTP endpoint on loopback that records every POST.

    `answer(n)` gives the status for the n-th request (0-based) and may sleep; default 200.
    Only answered requests with a 2xx status are the ones a receiver would have stored.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[tuple[str, bytes, str]] = []
    lock = threading.Lock()
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                number = counter[0]
                counter[0] += 1
            status = answer(number) if answer else 200
            if 200 <= status < 300:
                with lock:
                    requests.append((self.headers.get("Lune-HMAC") or "", body, self.path))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up (a timeout)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Captured(f"http://127.0.0.1:{httpd.server_address[1]}/hook", requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
