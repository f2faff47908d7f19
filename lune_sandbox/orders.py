"""One order: fixed facts, a priced plan, a status, and the JSON Lune serves for it."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from .catalogue import Catalogue
from .pricing import Plan, Purchase, price, tonnes

OPEN_STATUSES = ("received", "placed", "paid", "retiring")
TERMINAL_STATUSES = ("complete", "cancelled", "failed")
STATUSES = OPEN_STATUSES + TERMINAL_STATUSES
# How far an order got decides what it shows: bundles from `placed`, projects from `retiring`.
_SHOWS_BUNDLES = frozenset({"placed", "paid", "retiring", "complete"})
_SHOWS_PROJECTS = frozenset({"retiring", "complete"})
CERTIFICATE_URL = "https://api.lune.co/v1/orders/{id}/certificate"


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as Lune writes timestamps: 2023-01-04T15:00:27.349Z."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class OrderEntry:
    """An order of one account, with its served record and a cache of that record's JSON.

    `key` = (created_at, id) orders the account's list (newest first = descending key).
    `facts` are the fields that never change; the `plan` (lines and money) is revealed step
    by step as the status moves on. Plan and record are built lazily, because a generated
    history of 100,000 orders is mostly never read: the plan is priced from the order's
    own seed, so it is the same whenever it is first needed. Malformed records (`valid`
    False) carry only a raw `record` and never change.
    """

    __slots__ = (
        "_blob",
        "_catalogue",
        "_plan",
        "_purchase",
        "_record",
        "_seed",
        "account_id",
        "facts",
        "fingerprint",
        "id",
        "key",
        "public_url",
        "retired",
        "stage",
        "status",
        "valid",
    )

    def __init__(
        self,
        account_id: str,
        facts: dict[str, Any] | None,
        purchase: Purchase | None = None,
        seed: int = 0,
        catalogue: Catalogue | None = None,
        status: str = "received",
        public_url: str | None = None,
        fingerprint: bytes | None = None,
    ) -> None:
        self.account_id = account_id
        self.facts = facts or {}
        self._purchase = purchase
        self._seed = seed
        self._catalogue = catalogue
        self._plan: Plan | None = None
        self.status = status
        self.stage = status
        self.retired = 0
        self.public_url = public_url
        self.fingerprint = fingerprint
        self.valid = facts is not None
        self.id: str | None = self.facts.get("id")
        self.key: tuple[str, str] = (self.facts.get("created_at", ""), self.id or "")
        self._record: dict[str, Any] | None = None
        self._blob: bytes | None = None

    @classmethod
    def malformed(cls, account_id: str, record: dict[str, Any], key: tuple[str, str]):
        entry = cls(account_id, None)
        entry._record = record
        entry.key = key
        entry.id = record.get("id") if isinstance(record.get("id"), str) else None
        entry.status = str(record.get("status"))
        return entry

    # --- JSON ------------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            assert self._purchase is not None and self._catalogue is not None
            self._plan = price(self._catalogue, self._purchase, random.Random(self._seed))
        return self._plan

    @property
    def record(self) -> dict[str, Any]:
        """The order as served (do not mutate: it backs the JSON cache)."""
        if self._record is None:
            self._record = self._render()
        return self._record

    @property
    def blob(self) -> bytes:
        """The record as JSON bytes, serialized once per change (pages reuse it)."""
        if self._blob is None:
            self._blob = orjson.dumps(self.record)
        return self._blob

    def changed(self) -> None:
        self._record = None
        self._blob = None

    def _render(self) -> dict[str, Any]:
        """Builds the served record from facts, plan and status."""
        f, plan = self.facts, self.plan
        complete = self.status == "complete"  # every project line retired
        placed = self.stage in _SHOWS_BUNDLES
        if self.stage in _SHOWS_PROJECTS:
            projects: list[dict[str, Any]] | None = [
                line.json(complete or index < self.retired)
                for index, line in enumerate(plan.projects)
            ]
        else:
            projects = [] if placed else None
        return {
            "id": f["id"],
            "idempotency_key": f["idempotency_key"],
            "type": f["type"],
            "status": self.status,
            "currency": f["currency"],
            "offset_cost": f"{plan.offset_cost:.2f}" if placed else None,
            "total_cost": f"{plan.total_cost:.2f}" if placed else None,
            "commission": f"{plan.commission:.2f}" if placed else None,
            "quantity": tonnes(plan.quantity) if placed else None,
            "payment_method": f["payment_method"],
            "created_at": f["created_at"],
            "bundles": [line.json() for line in plan.bundles] if placed else None,
            "projects": projects,
            "certificate": CERTIFICATE_URL.format(id=f["id"]) if complete else None,
            "public_certificate_url": self.public_url if complete else None,
            "metadata": f["metadata"],
            "offset_link_id": f["offset_link_id"],
            "email": f["email"],
            "requested_quantity": f["requested_quantity"],
            "requested_value": f["requested_value"],
            "estimate_id": f["estimate_id"],
        }

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.valid and self.status in OPEN_STATUSES

    def force(self, status: str, rng: random.Random) -> None:
        """Puts a new order straight into `status` (used when generating history)."""
        if status == "cancelled":
            self.stage = rng.choice(("received", "placed"))
        elif status == "failed":
            self.stage = rng.choice(("received", "placed", "paid"))
        else:
            self.stage = status
        self.status = status
        # `retired` counts lines only while retiring; complete means all (no plan needed yet)
        self.retired = self._first_retired(rng) if status == "retiring" else 0
        self.changed()

    def step(self, rng: random.Random) -> bool:
        """One lifecycle step; returns whether the served record changed.

        received → placed | cancelled | failed; placed → paid | cancelled | failed;
        paid → retiring | failed; retiring → retire one more line (same status) | complete.
        """
        roll = rng.random()
        if self.status == "received":
            new = "placed" if roll < 0.9 else ("cancelled" if roll < 0.97 else "failed")
        elif self.status == "placed":
            new = "paid" if roll < 0.92 else ("cancelled" if roll < 0.98 else "failed")
        elif self.status == "paid":
            new = "retiring" if roll < 0.97 else "failed"
        elif self.status == "retiring":
            allocated = len(self.plan.projects) - self.retired
            if allocated > 1 and roll < 0.4:
                self.retired += 1
                self.changed()
                return True
            new = "complete"
        else:
            return False
        self.status = new
        if new in OPEN_STATUSES or new == "complete":
            self.stage = new
        if new == "retiring":
            self.retired = self._first_retired(rng)
        self.changed()
        return True

    def _first_retired(self, rng: random.Random) -> int:
        """Lines retired on entering `retiring`: some, never all (none if there is only one)."""
        lines = len(self.plan.projects)
        return rng.randint(1, lines - 1) if lines > 1 else 0
