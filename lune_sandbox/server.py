"""The sandbox over HTTP/1.1 (keep-alive), with faults, the rate limit and a request log."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .api import API_VERSION, KNOWN_VERSIONS, LuneApi, Reply, json_reply
from .errors import error_body
from .faults import Faults, RateLimiter
from .orders import iso_ms
from .world import SandboxWorld

MAX_BODY = 100 * 1024  # Lune answers 413 above 100 kB


@dataclass(frozen=True)
class LogRecord:
    """One API request as the sandbox saw it (never its headers, so never the API key).

    `account_id` is the Lune-Account header, or the own account's id without one; `status` is
    0 when a reset fault closed the connection unanswered; `cause` is None, "rate_limit" (the
    per-key limit refused it) or "fault" (a fault switch changed or delayed the answer).
    """

    ts: float
    method: str
    path: str
    query: str
    account_id: str | None
    status: int
    cause: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SandboxServer:
    """Serves a SandboxWorld on `host:port` (port 0: a free one) in a background thread.

    `rate_limit` requests per second per API key (None or 0: unlimited). Use `start()` /
    `stop()` or `with SandboxServer(world) as server:`. While it runs, webhooks registered
    with the world are delivered from background threads (`webhook_settings`: backoff,
    timeout, batch size, duplicates; see lune_sandbox.webhooks.DeliverySettings).
    """

    def __init__(
        self,
        world: SandboxWorld,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = 15,
        fault_seed: int = 0,
        log_limit: int = 200_000,
        webhook_settings: dict[str, Any] | None = None,
    ) -> None:
        self.world = world
        if webhook_settings:
            world.webhooks.configure(**webhook_settings)
        self.host = host
        self.requested_port = port
        self.faults = Faults(fault_seed)
        self.limiter = RateLimiter(rate_limit or None)
        self.api = LuneApi(world)
        self._log: deque[LogRecord] = deque(maxlen=log_limit)
        self._log_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.requested_port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"lune-sandbox:{self.port}",
                daemon=True,
            )
            self._thread.start()
            self.world.webhooks.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.world.webhooks.stop()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()  # handler threads blocked on keep-alive reads end now
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """e.g. http://127.0.0.1:54321 (clients append /v1/...)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- request log -----------------------------------------------------------------------

    @property
    def request_log(self) -> list[LogRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def record(self, entry: LogRecord) -> None:
        with self._log_lock:
            self._log.append(entry)

    # --- one API request -------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: str, headers: dict[str, str | None], body: bytes
    ) -> tuple[Reply | None, bool]:
        """The reply to an API request (None: reset the connection) and whether to truncate."""
        received = time.time()
        account_id = headers["Lune-Account"] or self.world.account_ids()[0]
        plan = self.faults.plan()
        cause = "fault" if plan.faulted else None
        if plan.reset:
            self.record(LogRecord(received, method, path, query, account_id, 0, cause))
            return None, False
        if plan.delay:
            time.sleep(plan.delay)
        if plan.status == 429:
            reply = Reply(429, error_body("rate_limit_exceeded", "Too many requests."))
        elif plan.status is not None:
            message = "The service is temporarily unavailable. You may retry."
            reply = Reply(plan.status, error_body("service_unavailable", message))
        elif not self.api.authenticate(headers["Authorization"]):
            reply = Reply(401, error_body("unauthorised", "The API key is missing or invalid."))
        elif not self.limiter.admit(self.world.api_key):
            # Lune sends no Retry-After with its 429s
            reply = Reply(429, error_body("rate_limit_exceeded", "Too many requests."))
            cause = "rate_limit"
        else:
            params = parse_qs(query, keep_blank_values=True)
            reply = self.api.handle(method, path, params, headers_without_key(headers), body)
        truncate = 200 <= reply.status < 300 and self.faults.take_truncate()
        if truncate:
            cause = "fault"
        self.record(LogRecord(received, method, path, query, account_id, reply.status, cause))
        return reply, truncate

    def admin(self, method: str, route: str, body: bytes) -> Reply:
        """/_sandbox/<route>: drive the world and the faults from another process."""
        try:
            kwargs = orjson.loads(body) if body.strip() else {}
            if not isinstance(kwargs, dict):
                raise ValueError("the body must be a JSON object")
            match method, route:
                case "POST", "advance":
                    return json_reply(self.world.advance(**kwargs))
                case "POST", "faults":
                    self.faults.set(**kwargs)
                    return json_reply(self.faults.snapshot())
                case "GET", "faults":
                    return json_reply(self.faults.snapshot())
                case "GET", "log":
                    return json_reply([r.as_dict() for r in self.request_log])
                case "DELETE", "log":
                    self.clear_log()
                    return json_reply({"cleared": True})
                case "POST", "accounts":
                    return json_reply(self.world.add_client_account(**kwargs))
                case "POST", "malformed":
                    record = self.world.inject_malformed(kwargs["account_id"], kwargs["kind"])
                    return json_reply(record)
                case "POST", "estimates":
                    return json_reply(self.world.add_estimate(kwargs["account_id"], kwargs["mass"]))
                case "POST", "forget":
                    record = self.world.forget_order(kwargs["account_id"], kwargs["order_id"])
                    return json_reply(record)
                case "GET", "state":
                    return json_reply(self._state())
                case "GET", "webhooks":
                    return json_reply(self.world.webhooks.snapshot())
                case "POST", "webhooks":
                    self.world.webhooks.configure(**kwargs)
                    return json_reply(self.world.webhooks.snapshot())
                case "GET", "webhook-events":
                    return json_reply(self.world.webhooks.events)
                case "GET", "webhook-attempts":
                    return json_reply(self.world.webhooks.attempts_json())
            return Reply(404, error_body("not_found", f"No admin endpoint {method} {route}."))
        except (TypeError, ValueError, KeyError, orjson.JSONDecodeError) as e:
            return Reply(400, error_body("validation_error", f"{type(e).__name__}: {e}"))

    def _state(self) -> dict[str, Any]:
        with self.world.lock:
            return {
                "now": iso_ms(int(self.world.now.timestamp() * 1000)),
                "accounts": [
                    {
                        "id": account_id,
                        "currency": self.world.account_state(account_id).currency,
                        "orders": self.world.account_state(account_id).book.valid_count,
                        # what POST /v1/orders/by-estimate accepts now
                        "open_estimates": [
                            e["id"] for e in self.world.estimates(account_id, include_ordered=False)
                        ],
                    }
                    for account_id in self.world.account_ids()
                ],
            }


def headers_without_key(headers: dict[str, str | None]) -> dict[str, str]:
    """The request headers the API layer reads (Authorization stays here)."""
    return {k: v for k, v in headers.items() if v is not None and k != "Authorization"}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (killed, timed out) is not the server's error;
        anything else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client pays one TCP handshake, not one a page
    server_version = "lune-sandbox"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this long
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # one write per response and no Nagle delay between requests on a kept-alive connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is the record, and nothing here may print the API key."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            # the body is not read, so this connection cannot carry another request
            self.close_connection = True
            status, code = (413, "validation_error") if length > 0 else (400, "validation_error")
            self._send(Reply(status, error_body(code, "The request body is invalid or too large.")))
            return
        body = self.rfile.read(length) if length else b""
        if parts.path.startswith("/_sandbox/"):
            if not ipaddress.ip_address(self.client_address[0].split("%")[0]).is_loopback:
                self._send(Reply(403, error_body("unauthorised", "Admin is loopback only.")))
            else:
                self._send(sandbox.admin(method, parts.path[len("/_sandbox/") :], body))
            return
        if not parts.path.startswith("/v1/"):
            self._send(Reply(404, error_body("not_found", "Lune's API lives under /v1/.")))
            return
        headers = {
            name: self.headers.get(name)
            for name in ("Authorization", "Lune-Account", "Lune-Version")
        }
        reply, truncate = sandbox.answer(method, parts.path, parts.query, headers, body)
        if reply is None:
            self._reset()
        else:
            self._send(reply, headers["Lune-Version"], truncate)

    def _send(self, reply: Reply, version: str | None = None, truncate: bool = False) -> None:
        """Status line, headers and body in one write; a truncated body closes the connection
        after half of what Content-Length announced."""
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            *([f"Content-Type: {reply.content_type}"] if reply.content_type else []),
            f"Content-Length: {len(reply.body)}",
            # the version that processed the request: the newest one when none (or an unknown
            # one, refused) was asked for
            f"Lune-Version: {version if version in KNOWN_VERSIONS else API_VERSION}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
        ]
        if truncate:
            self.close_connection = True
        if self.close_connection:
            lines.append("Connection: close")
        body = reply.body[: len(reply.body) // 2] if truncate else reply.body
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Closes the connection with a TCP RST and no response at all."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
