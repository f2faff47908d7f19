"""The webhook receiver: a small ASGI app that takes Lune's deliveries at `/`.

For each POST it reads the raw body (refusing it past a size limit), checks the `Lune-HMAC`
signature on exactly those bytes (constant-time, and the signed timestamp within a
tolerance so a captured delivery cannot be replayed later), checks the envelope, stores the
body durably in the spool, and only then answers 2xx. Anything refused is stored nowhere:

    413  body over the size limit          401  missing / malformed / wrong signature, or a
    400  not a WebhookRequest                   timestamp outside the tolerance
    503  the spool failed (Lune redelivers) 405 / 404  another method / path

It never logs the secret, a signature or a body: a refused delivery is logged with its
reason, size and client address only. The work per delivery is small (one HMAC, one JSON
parse, one fsynced file) so that it answers in milliseconds, well inside Lune's 30 s.

`GET /healthz` answers 200 for load balancers and container health checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from sources.lune.webhooks.events import MalformedDelivery, parse_delivery
from sources.lune.webhooks.signature import DEFAULT_TOLERANCE_SECONDS, SignatureError, verify
from sources.lune.webhooks.spool import Spool

log = logging.getLogger("lune.webhooks.receiver")

# Lune's deliveries are batches of order snapshots (~2 kB an event): 4 MiB is far above any
# batch seen, and small enough that a flood of large bodies cannot exhaust memory.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# Identical signed deliveries (same timestamp and signature) within the tolerance are
# answered from memory: the first one is stored already.
_REPLAY_CACHE_LIMIT = 200_000
# `webhooks serve --workers N`: each worker process builds its app with this factory
FACTORY = "pipelines.webhooks.app:create_app"
LOG_FORMAT_ENV = "LUNE_WEBHOOK_LOG_FORMAT"
LOG_LEVEL_ENV = "LUNE_WEBHOOK_LOG_LEVEL"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class WebhookReceiver:
    """The ASGI application. `clock` returns Unix time (tests move it)."""

    def __init__(
        self,
        secret: str,
        spool: Spool,
        *,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
        store_threads: int = 8,
    ) -> None:
        if not secret:
            raise ValueError("the webhook receiver needs a secret")
        self._secret = secret
        self.spool = spool
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        # fsync blocks: it runs in threads, so the event loop keeps reading other requests
        self._executor = ThreadPoolExecutor(store_threads, thread_name_prefix="lune-spool")
        self._seen: dict[tuple[str, bytes], float] = {}
        self.stats = {"stored": 0, "replayed": 0, "refused": 0, "events": 0}

    def __repr__(self) -> str:  # never the secret
        return f"WebhookReceiver(spool={self.spool.description!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _reply(send, 200, {"status": "ok"})
            return
        if path != "/":
            await _reply(send, 404, {"error": "Not found: Lune deliveries go to /."})
            return
        if method != "POST":
            await _reply(send, 405, {"error": "Deliveries are POSTed."}, [(b"allow", b"POST")])
            return
        await self._delivery(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._executor.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _delivery(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = (scope.get("client") or ("?",))[0]
        headers = _headers(scope)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            size = declared.decode("latin-1")
            await self._refuse(send, client, 413, "The body is over the size limit.", size)
            return
        body = await _read_body(receive, self.max_body_bytes)
        if body is _DISCONNECTED:
            return  # the sender went away mid-body: nothing to answer, nothing stored
        if body is None:
            await self._refuse(send, client, 413, "The body is over the size limit.", "more")
            return
        signature = headers.get(b"lune-hmac")
        try:
            header = verify(
                self._secret,
                signature.decode("latin-1") if signature is not None else None,
                body,
                self.clock(),
                self.tolerance_seconds,
            )
        except SignatureError as e:
            await self._refuse(send, client, 401, str(e), len(body))
            return
        try:
            events = parse_delivery(body)
        except MalformedDelivery as e:
            await self._refuse(send, client, 400, str(e), len(body))
            return
        key = (header.timestamp, signature or b"")
        if not events:  # nothing to keep
            await _reply(send, 200, {"received": 0})
            return
        if key in self._seen:  # this very delivery (same signed bytes) is stored already
            self.stats["replayed"] += 1
            await _reply(send, 200, {"received": len(events)})
            return
        received_at = time.time()
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(
                self._executor, self.spool.store, body, header.signed_at, received_at
            )
        except Exception as e:  # the spool is down or full: Lune redelivers on a non-2xx
            log.error(
                "could not store a delivery of %d events in %s: %s: %s",
                len(events),
                self.spool.description,
                type(e).__name__,
                e,
            )
            await _reply(send, 503, {"error": "The delivery could not be stored; redeliver."})
            return
        self._remember(key, header.signed_at)
        self.stats["stored"] += 1
        self.stats["events"] += len(events)
        log.debug("stored %d events from %s as %s", len(events), client, stored.name)
        await _reply(send, 200, {"received": len(events)})

    def _remember(self, key: tuple[str, bytes], signed_at: int) -> None:
        expires = signed_at + self.tolerance_seconds
        if len(self._seen) >= _REPLAY_CACHE_LIMIT:
            now = self.clock()
            self._seen = {k: v for k, v in self._seen.items() if v >= now}
            if len(self._seen) >= _REPLAY_CACHE_LIMIT:
                self._seen.clear()
        self._seen[key] = expires

    async def _refuse(self, send: Send, client: str, status: int, reason: str, size: Any) -> None:
        self.stats["refused"] += 1
        log.warning("refused a delivery from %s (%s bytes): %d %s", client, size, status, reason)
        extra = [(b"connection", b"close")] if status == 413 else []
        await _reply(send, status, {"error": reason}, extra)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers") or []}


_DISCONNECTED: Any = object()


async def _read_body(receive: Receive, limit: int) -> Any:
    """The whole body; None as soon as it passes `limit` bytes; `_DISCONNECTED` (compare
    with `is`) when the client went away before sending all of it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(
    send: Send, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = orjson.dumps(payload)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> WebhookReceiver:
    """The receiver of one worker process of `webhooks serve --workers N` (uvicorn spawns
    each worker fresh: logging, masking and settings are set up again here)."""
    import os

    from pipelines.logs import register_secret, setup_logging

    from . import receiver_settings

    setup_logging(os.environ.get(LOG_FORMAT_ENV, "text"), os.environ.get(LOG_LEVEL_ENV, "INFO"))
    settings = receiver_settings()
    register_secret(settings.secret)
    return WebhookReceiver(
        settings.secret,
        Spool(settings.spool),
        tolerance_seconds=settings.tolerance_seconds,
        max_body_bytes=settings.max_body_bytes,
    )
