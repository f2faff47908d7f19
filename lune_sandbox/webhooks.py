"""Lune's webhooks in the sandbox: registered endpoints, the events the world's changes
produce, and signed deliveries with the behaviour Lune documents.

What Lune documents (docs.lune.co "Webhooks", and the OpenAPI description's `Webhook*`,
`WebhookRequest`, `WebhookEvent`, `OrderAllocation`), and what the sandbox does for it:

- `POST /v1/webhooks {"url", "account_ids"?}` registers an endpoint and answers its full
  `secret` once (WebhookFullSecret); `GET /v1/webhooks[/{id}]` shows the last 4 characters;
  `DELETE /v1/webhooks/{id}`. Lune takes only https:// URLs; the sandbox also takes plain
  http:// to a loopback address, where a local receiver listens (it cannot present a trusted
  certificate for one).
- An event for every lifecycle change: `order.<status>` (`order.completed` for `complete`)
  with a snapshot of the order, and per project line of an order `allocation.new` when its
  projects are allocated (the order enters `retiring`) and `allocation.retired` when a line
  is retired, with an OrderAllocation snapshot. `sequence` strictly increases per account.
- Delivery: `POST {"events": [...]}` batches (1..`max_batch` events), one request at a time
  per endpoint, signed `Lune-HMAC: timestamp=TS,organisation=ORG,v1=base64(HMAC-SHA256(
  secret, TS + "." + body))` with TS the real Unix time of signing. Unacknowledged batches
  (no 2xx, an error, a timeout) are redelivered unchanged until acknowledged, after an
  exponential backoff with jitter, holding up later events (head-of-line blocking). Events
  of one account keep their order; events of different accounts interleave at random. Now
  and then an acknowledged event is delivered again (`duplicate_rate`), as when Lune misses
  an acknowledgement.

Randomness here never touches the world's generator: ids and secrets come from a generator
seeded from the world's seed, delivery jitter, batching and duplicates from another one, so
registering a webhook or delivering changes none of the orders a seed generates. `events`
and `attempts` are the sandbox's own record of what it emitted and sent, for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .errors import ApiError, not_found, validation_error
from .orders import OrderEntry, iso_ms
from .pricing import tonnes
from .validation import check_id

# CreateWebhookRequest.url (the Url schema's pattern)
URL_RE = re.compile(
    r"^https:\/\/[-a-zA-Z0-9@:%._\+~#=]{2,256}\.[a-z]{2,6}\b([-a-zA-Z0-9@:%_\+.~#?&\/\/=]*)$"
)
WEBHOOK_LIMIT = 10  # the sandbox's answer for webhook_limit_reached
ORDER_EVENTS = {
    "received": "order.received",
    "placed": "order.placed",
    "paid": "order.paid",
    "retiring": "order.retiring",
    "complete": "order.completed",
    "cancelled": "order.cancelled",
    "failed": "order.failed",
}
_SHOWS_ALLOCATIONS = frozenset({"retiring", "complete"})
_ID_TRANSLATION = str.maketrans({"+": "x", "/": "Q", "=": "z"})

Lifecycle = tuple[str, str, int]  # an order's (status, stage, retired lines)


@dataclass
class DeliverySettings:
    """How the sandbox delivers (switchable at run time: `configure`, POST /_sandbox/webhooks).

    Lune's own backoff is unpublished; these defaults are of its order, and tests make them
    fast (e.g. backoff_initial=0.05, backoff_max=0.5).
    """

    backoff_initial: float = 1.0  # seconds before the first redelivery
    backoff_max: float = 60.0  # cap of the exponential backoff
    timeout: float = 30.0  # Lune: the receiver must answer within 30 s
    max_batch: int = 10  # events per delivery at most (1..max_batch, at random)
    duplicate_rate: float = 0.05  # share of acknowledged deliveries whose tail comes again
    pace: float = 0.0  # seconds between two deliveries to one endpoint
    paused: bool = False  # hold every delivery (events queue up)

    def update(self, **values: Any) -> None:
        known = {f.name: f.type for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown delivery setting {name!r}")
            if name == "paused":
                if not isinstance(value, bool):
                    raise ValueError("paused must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            setattr(self, name, int(value) if name == "max_batch" else value)
        if self.max_batch < 1 or self.duplicate_rate > 1:
            raise ValueError("max_batch must be at least 1 and duplicate_rate at most 1")


@dataclass
class Attempt:
    """One delivery attempt as the sandbox made it (never the secret or the signature)."""

    webhook_id: str
    started: float  # Unix time the request started
    signed_at: int  # the Lune-HMAC timestamp
    event_ids: list[str]
    status: int | None  # None: no answer (refused connection, reset, timeout)
    error: str | None = None
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Registration:
    """A registered endpoint and its queue of events not yet acknowledged."""

    id: str
    url: str
    secret: str
    account_ids: list[str] | None
    created_at: str
    enabled: bool = True
    queues: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    in_flight: list[dict[str, Any]] | None = None  # redelivered unchanged until acknowledged
    failures: int = 0
    next_attempt: float = 0.0  # time.monotonic()
    acknowledged: int = 0

    def listens_to(self, account_id: str) -> bool:
        return self.enabled and (not self.account_ids or account_id in self.account_ids)

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values()) + len(self.in_flight or [])

    def json(self, full_secret: bool = False) -> dict[str, Any]:
        """WebhookFullSecret (`full_secret`) or Webhook (the secret's last 4 characters)."""
        return {
            "id": self.id,
            "url": self.url,
            "enabled": self.enabled,
            "account_type": "live",
            "account_ids": list(self.account_ids or []),
            "created_at": self.created_at,
            "secret": self.secret if full_secret else self.secret[-4:],
        }


def signature_header(secret: str, timestamp: int, body: bytes, organisation: str) -> str:
    """`Lune-HMAC` as Lune sends it: base64 of HMAC-SHA256(secret, TS + "." + body)."""
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).digest()
    return (
        f"timestamp={timestamp},organisation={organisation},v1={base64.b64encode(digest).decode()}"
    )


def allocation_id(order_id: str, line_idx: int) -> str:
    """A stable 32-character id for an order's project line allocation (no randomness)."""
    digest = hashlib.sha256(f"lune-sandbox allocation {order_id} {line_idx}".encode()).digest()
    return base64.b64encode(digest).decode().translate(_ID_TRANSLATION)[:32]


class WebhookHub:
    """The registered webhooks of one world, their event queues and their delivery threads.

    The world calls `order_changed` under its lock; delivery threads take only the hub's
    lock (never the world's), so the two cannot deadlock.
    """

    def __init__(
        self,
        seed: int,
        organisation_id: str,
        new_id: Callable[[random.Random], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.organisation_id = organisation_id
        self.settings = DeliverySettings()
        self.clock = clock  # what signatures are timestamped with (Unix seconds)
        self._new_id = new_id
        self._ids = random.Random(f"lune-sandbox webhooks {seed}")
        self._delivery_rng = random.Random(f"lune-sandbox webhook deliveries {seed}")
        self._cond = threading.Condition()
        self._webhooks: dict[str, Registration] = {}
        self._sequences: dict[str, int] = {}
        self._allocated_at: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []  # every event emitted, in emission order
        self.attempts: list[Attempt] = []
        self._threads: dict[str, threading.Thread] = {}
        self._running = False

    # --- the API -----------------------------------------------------------------------------

    def create(self, body: dict[str, Any], known_accounts: list[str], now_ms: int) -> dict:
        """POST /v1/webhooks: validates CreateWebhookRequest; answers WebhookFullSecret."""
        url = body.get("url")
        if not isinstance(url, str) or not _deliverable(url):
            raise validation_error("`url` must be an https:// URL.")
        account_ids = body.get("account_ids")
        if account_ids is not None:
            if not isinstance(account_ids, list) or not account_ids:
                raise validation_error("`account_ids` must be a non-empty array of account ids.")
            for account_id in account_ids:
                if not isinstance(account_id, str):
                    raise validation_error("`account_ids` must hold strings.")
                check_id(account_id, "account")
                if account_id not in known_accounts:
                    raise validation_error(f"{account_id!r} is not an account of this API key.")
        with self._cond:
            if len(self._webhooks) >= WEBHOOK_LIMIT:
                raise ApiError(
                    400, "webhook_limit_reached", f"At most {WEBHOOK_LIMIT} webhooks per key."
                )
            registration = Registration(
                id=self._new_id(self._ids),
                url=url,
                secret="whsec_" + self._ids.randbytes(24).hex(),
                account_ids=list(dict.fromkeys(account_ids)) if account_ids else None,
                created_at=iso_ms(now_ms),
            )
            self._webhooks[registration.id] = registration
            if self._running:
                self._spawn(registration.id)
            return registration.json(full_secret=True)

    def list_json(self, account_ids: list[str] | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                w.json()
                for w in self._webhooks.values()
                if not account_ids or set(account_ids) & set(w.account_ids or [])
            ]

    def get_json(self, webhook_id: str) -> dict[str, Any]:
        with self._cond:
            return self._get(webhook_id).json()

    def delete(self, webhook_id: str) -> None:
        with self._cond:
            self._get(webhook_id)
            del self._webhooks[webhook_id]
            self._cond.notify_all()

    def _get(self, webhook_id: str) -> Registration:
        found = self._webhooks.get(check_id(webhook_id, "webhook"))
        if found is None:
            raise not_found(f"The webhook {webhook_id!r}")
        return found

    # --- events ------------------------------------------------------------------------------

    def listening(self, account_id: str) -> bool:
        """Whether any endpoint takes this account's events (else the world skips the work)."""
        with self._cond:
            return any(w.listens_to(account_id) for w in self._webhooks.values())

    def order_changed(self, entry: OrderEntry, before: Lifecycle | None, now_ms: int) -> None:
        """The events of one change of `entry` (`before`: its lifecycle before, None for a new
        order): allocation.new when its project lines appear, allocation.retired per line
        retired, then order.<status> when the status moved. Called under the world's lock."""
        status_before, stage_before, retired_before = before or (None, None, 0)
        account_id = entry.account_id
        order_id = entry.id or ""
        if entry.stage in _SHOWS_ALLOCATIONS:
            had_lines = stage_before in _SHOWS_ALLOCATIONS
            lines = entry.plan.projects
            if not had_lines:
                for index in range(len(lines)):
                    self._allocated_at[allocation_id(order_id, index)] = iso_ms(now_ms)
                    self._emit(
                        account_id, "allocation.new", self._allocation(entry, index, "new"), now_ms
                    )
            for index in range(len(lines)):
                was = had_lines and _retired(status_before, retired_before, index)
                if _retired(entry.status, entry.retired, index) and not was:
                    data = self._allocation(entry, index, "retired")
                    self._emit(account_id, "allocation.retired", data, now_ms)
        if entry.status != status_before and entry.status in ORDER_EVENTS:
            snapshot = {"order": orjson.loads(entry.blob)}
            self._emit(account_id, ORDER_EVENTS[entry.status], snapshot, now_ms)

    def _allocation(self, entry: OrderEntry, index: int, status: str) -> dict[str, Any]:
        line = entry.plan.projects[index]
        identifier = allocation_id(entry.id or "", index)
        return {
            "allocation": {
                "id": identifier,
                "order_id": entry.id,
                "project_id": line.project.id,
                "quantity": tonnes(line.quantity),
                "status": status,
                "created_at": self._allocated_at.get(identifier, entry.facts["created_at"]),
            }
        }

    def _emit(self, account_id: str, event_type: str, data: dict[str, Any], now_ms: int) -> None:
        with self._cond:
            listeners = [w for w in self._webhooks.values() if w.listens_to(account_id)]
            if not listeners:
                return
            number = self._sequences.get(account_id, 0) + 1
            self._sequences[account_id] = number
            event = {
                "api_version": "v1",
                "event_id": self._new_id(self._ids),
                "account_id": account_id,
                "event_type": event_type,
                # opaque, strictly increasing per account (Lune: compare lexicographically)
                "sequence": f"{iso_ms(now_ms)}-{number:012d}",
                "data": data,
            }
            self.events.append(event)
            for webhook in listeners:
                webhook.queues.setdefault(account_id, deque()).append(event)
            self._cond.notify_all()

    # --- delivery ----------------------------------------------------------------------------

    def configure(self, **values: Any) -> dict[str, Any]:
        with self._cond:
            self.settings.update(**values)
            self._cond.notify_all()
            return asdict(self.settings)

    def start(self) -> None:
        """Starts one delivery thread per endpoint (and for endpoints registered later)."""
        with self._cond:
            self._running = True
            for webhook_id in self._webhooks:
                self._spawn(webhook_id)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._running = False
            threads = list(self._threads.values())
            self._threads.clear()
            self._cond.notify_all()
        for thread in threads:
            thread.join(timeout)

    def _spawn(self, webhook_id: str) -> None:
        if webhook_id in self._threads:
            return
        thread = threading.Thread(
            target=self._deliver_forever,
            args=(webhook_id,),
            name=f"lune-sandbox-webhook:{webhook_id[:8]}",
            daemon=True,
        )
        self._threads[webhook_id] = thread
        thread.start()

    def _deliver_forever(self, webhook_id: str) -> None:
        with httpx.Client(follow_redirects=False) as client:
            while True:
                with self._cond:
                    job = self._next_job(webhook_id)
                if job is None:
                    return
                self._deliver(client, webhook_id, *job)

    def _next_job(self, webhook_id: str) -> tuple[str, str, list[dict[str, Any]]] | None:
        """Waits (holding the condition) until this endpoint has a batch due; None to stop."""
        while True:
            webhook = self._webhooks.get(webhook_id)
            if (
                not self._running
                or webhook is None
                or threading.current_thread() is not (self._threads.get(webhook_id))
            ):
                return None
            wait = webhook.next_attempt - time.monotonic()
            if not self.settings.paused and webhook.pending() and wait <= 0:
                if webhook.in_flight is None:
                    webhook.in_flight = self._next_batch(webhook)
                return webhook.url, webhook.secret, list(webhook.in_flight)
            self._cond.wait(min(max(wait, 0.01), 0.5) if webhook.pending() else 0.5)

    def _next_batch(self, webhook: Registration) -> list[dict[str, Any]]:
        """Up to 1..max_batch events: each account's in order, accounts interleaved at random."""
        rng = self._delivery_rng
        size = rng.randint(1, self.settings.max_batch)
        batch: list[dict[str, Any]] = []
        while len(batch) < size:
            ready = [q for q in webhook.queues.values() if q]
            if not ready:
                break
            batch.append(rng.choice(ready).popleft())
        return batch

    def _deliver(
        self, client: httpx.Client, webhook_id: str, url: str, secret: str, batch: list[dict]
    ) -> None:
        body = orjson.dumps({"events": batch})
        signed_at = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "Lune-HMAC": signature_header(secret, signed_at, body, self.organisation_id),
        }
        started = time.time()
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(
                url, content=body, headers=headers, timeout=self.settings.timeout
            )
            status = response.status_code
        except httpx.HTTPError as e:
            error = type(e).__name__
        attempt = Attempt(
            webhook_id,
            started,
            signed_at,
            [e["event_id"] for e in batch],
            status,
            error,
            round(time.time() - started, 4),
        )
        with self._cond:
            self.attempts.append(attempt)
            webhook = self._webhooks.get(webhook_id)
            if webhook is None:
                return
            if attempt.acknowledged:
                self._acknowledged(webhook, batch)
            else:
                webhook.failures += 1
                backoff = self.settings.backoff_initial * 2 ** (webhook.failures - 1)
                delay = min(self.settings.backoff_max, backoff)
                # full jitter on the upper half: spreads retries, keeps the backoff growing
                delay *= 0.5 + 0.5 * self._delivery_rng.random()
                webhook.next_attempt = time.monotonic() + delay
            self._cond.notify_all()

    def _acknowledged(self, webhook: Registration, batch: list[dict[str, Any]]) -> None:
        webhook.in_flight = None
        webhook.failures = 0
        webhook.acknowledged += len(batch)
        webhook.next_attempt = time.monotonic() + self.settings.pace
        if self._delivery_rng.random() < self.settings.duplicate_rate:
            # as if the acknowledgement were lost: the batch's last events come again, ahead
            # of their accounts' later events (so each account's order holds)
            again = batch[-self._delivery_rng.randint(1, len(batch)) :]
            for event in reversed(again):
                webhook.queues.setdefault(event["account_id"], deque()).appendleft(event)

    # --- the record ----------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Waits until every endpoint has acknowledged all its events; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(w.pending() for w in self._webhooks.values() if w.enabled):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))
            return True

    def pending(self, webhook_id: str | None = None) -> int:
        with self._cond:
            return sum(
                w.pending()
                for w in self._webhooks.values()
                if webhook_id is None or w.id == webhook_id
            )

    def snapshot(self) -> dict[str, Any]:
        """GET /_sandbox/webhooks: settings, endpoints (no secrets), counts."""
        with self._cond:
            return {
                "settings": asdict(self.settings),
                "events": len(self.events),
                "attempts": len(self.attempts),
                "acknowledged_attempts": sum(a.acknowledged for a in self.attempts),
                "webhooks": [
                    {
                        "id": w.id,
                        "url": w.url,
                        "pending": w.pending(),
                        "acknowledged_events": w.acknowledged,
                        "consecutive_failures": w.failures,
                    }
                    for w in self._webhooks.values()
                ],
            }

    def attempts_json(self) -> list[dict[str, Any]]:
        with self._cond:
            return [asdict(a) for a in self.attempts]


def _retired(status: str | None, retired: int, index: int) -> bool:
    """Whether project line `index` shows as retired in an order of this lifecycle."""
    return status == "complete" or index < retired


def _deliverable(url: str) -> bool:
    """Lune's Url pattern, or (the sandbox's addition) http(s) to a loopback address."""
    if URL_RE.match(url):
        return True
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in (
        "localhost",
        "127.0.0.1",
        "::1",
    )
