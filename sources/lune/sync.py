"""Incremental sync of one account's orders: which requests to make, which orders changed.

`/v1/orders` lists newest first by `created_at` and has no "updated since" filter, yet orders
change until they reach a terminal status. Each run therefore:

1. pages newest first until it passes the high-water mark minus a look-back window (late
   arrivals and equal timestamps at the boundary are re-read, and recognised by id);
2. refreshes every order still open (not complete / cancelled / failed) by the cheaper of
   continuing the list scan down to the oldest open order, or `GET /v1/orders/{id}` for each
   open order not yet seen — decided once the new orders are counted, from each open order's
   position in the list (kept in state and shifted by the number of new orders);
3. emits only orders that are new or whose content changed since the last run, with a status
   history row for each status change it witnesses.

The state kept per account is small: the high-water mark, the ids inside the look-back
window, one entry per open order (created_at, status, list position, content digest) and the
forms personal data was stored in. It lives in dlt's resource state, which is committed with
the load package, so it advances only together with a successful load.

Personal data (`personal.py`) is put in its configured form as each record arrives, before
the digest is taken: the state never holds a digest of an email in clear (a digest of an
otherwise known record would let a dictionary of emails find it), and a change of form
counts as a change of content, so open orders are rewritten in the new form.

An open order the API answers with 404 has vanished: it leaves the state and is reported in
`AccountSync.vanished`, so the source can mark its row.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

import orjson
import pyarrow as pa

from .client import LuneClient, ReadAhead
from .errors import LuneNotFound
from .personal import PersonalData
from .records import (
    contract_violation,
    contract_violations,
    parse_timestamp,
    read_orders,
    read_page,
    replace_field,
)
from .seen import SeenOrders
from .settings import LOOKBACK_SECONDS, PAGE_SIZE, TERMINAL_STATUSES

log = logging.getLogger("lune.sync")

ORDERS_PATH = "/v1/orders"


@dataclass
class AccountState:
    """What the planner remembers about one account between runs (JSON-serialisable)."""

    high_water: str | None = None
    # ids of orders created within the look-back window below the high-water mark
    boundary: dict[str, str] = field(default_factory=dict)
    # order id -> [created_at, status, position in the newest-first list, content digest]
    open: dict[str, list[Any]] = field(default_factory=dict)
    # the forms personal data has in this account's stored orders (`PersonalData.form`);
    # more than one after a change of policy, until a full refresh rewrites them all
    personal_data: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> AccountState:
        raw = raw or {}
        forms = raw.get("personal_data")
        if forms is None and raw.get("high_water") is not None:
            forms = ["keep"]  # loaded before the setting existed: emails were kept
        return cls(
            high_water=raw.get("high_water"),
            boundary=dict(raw.get("boundary") or {}),
            open={k: list(v) for k, v in (raw.get("open") or {}).items()},
            personal_data=list(forms or []),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "high_water": self.high_water,
            "boundary": self.boundary,
            "open": self.open,
            "personal_data": self.personal_data,
        }


@dataclass
class AccountSummary:
    account_id: str
    list_pages: int = 0
    order_fetches: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    quarantined: int = 0
    vanished: int = 0
    refresh_strategy: str = "none"
    planned_bound: int = 0
    transitions: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "requests": {"list_pages": self.list_pages, "order_fetches": self.order_fetches},
            "orders": {"new": self.new, "changed": self.changed, "unchanged": self.unchanged},
            "quarantined": self.quarantined,
            "vanished_open_orders": self.vanished,
            "refresh_strategy": self.refresh_strategy,
            "planned_request_bound": self.planned_bound,
            "status_transitions": dict(self.transitions),
        }


@dataclass
class SyncBatch:
    """One group of pages' results: orders to load, history rows, quarantined records.

    `raw` holds `orders` read into Arrow (`records.read_orders`), row for row: the reading
    happens on the account's thread, next to the contract check it serves.
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    # (index into `orders`, the status before) for each status change witnessed (before
    # None: an order seen for the first time); `records.history_table` makes the rows
    history: list[tuple[int, str | None]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    raw: pa.StructArray | None = None


def digest(order: dict[str, Any]) -> str:
    """A short, stable fingerprint of an order's content."""
    return hashlib.blake2b(
        orjson.dumps(order, option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()


class _ScanPlanner:
    """Decides, page by page, whether the newest-first scan needs another page.

    Runs on the paging thread, so it works on its own copy of the state.
    """

    def __init__(self, state: AccountState, floor: datetime | None, page_size: int) -> None:
        self.open = dict(state.open)
        self.boundary = dict(state.boundary)
        self.first_run = state.high_water is None
        self.floor = floor
        self.page_size = page_size
        self.pages = 0
        self.new_count = 0
        self.unseen_open = set(self.open)
        self.strategy = "undecided" if self.open else "none"
        self.scan_bound = 0  # further list pages the scan needs, once decided
        self.fetch_bound = 0  # single-order fetches the alternative needs, once decided
        self.decision_pages: int | None = None  # pages read when the strategy was decided

    def is_new(self, order_id: Any, created: datetime | None) -> bool:
        """True for an order no earlier run has loaded."""
        if order_id in self.open or order_id in self.boundary:
            return False
        if self.first_run or self.floor is None or created is None:
            return True
        return created >= self.floor

    def keep_going(self, page: list[Any]) -> bool:
        self.pages += 1
        last_created: datetime | None = None
        for record in page:
            if not isinstance(record, dict):
                continue
            created = parse_timestamp(record.get("created_at"))
            order_id = record.get("id")
            if order_id in self.unseen_open:
                self.unseen_open.discard(order_id)
            elif self.strategy in ("undecided", "none") and self.is_new(order_id, created):
                self.new_count += 1
            if created is not None:
                last_created = created
        if self.floor is None or last_created is None or last_created >= self.floor:
            return True  # still among new orders (or a first run reading everything)
        if self.strategy == "undecided":
            self._decide()
        if self.strategy != "scan" or not self.unseen_open:
            return False
        oldest = min(parse_timestamp(self.open[i][0]) for i in self.unseen_open)
        return last_created >= oldest

    def _decide(self) -> None:
        self.decision_pages = self.pages
        if not self.unseen_open:
            self.strategy = "scan"  # every open order was on the new-order pages
            return
        deepest = max(self.open[i][2] for i in self.unseen_open) + self.new_count
        self.scan_bound = max(0, deepest // self.page_size + 1 - self.pages)
        self.fetch_bound = len(self.unseen_open)
        self.strategy = "scan" if self.scan_bound <= self.fetch_bound else "fetch"


class AccountSync:
    """One run over one account. Iterate `batches()`; `state` is updated in place."""

    def __init__(
        self,
        client: LuneClient,
        account_id: str,
        scope_header: str | None,
        state: AccountState,
        *,
        observed_at: datetime,
        load_id: str,
        since: datetime | None = None,
        page_size: int = PAGE_SIZE,
        lookback_seconds: int = LOOKBACK_SECONDS,
        fetch_workers: int = 4,
        personal: PersonalData | None = None,
        previously_open: Iterable[str] = (),
        early: Iterator[Any] | None = None,
        read_together: int = 0,
    ) -> None:
        """`previously_open`: on a full refresh (a fresh `state`), the orders the saved state
        had open; any the full scan does not list is looked up, so one that vanished is still
        noticed. `early`: the bodies of the first list pages, when they were read early
        (`reads.EarlyReads`). `read_together`: pages are checked and read into Arrow
        together until they hold this many orders (one page at a time when 0): Arrow's cost
        per order falls with the number read at once."""
        self.client = client
        self.account_id = account_id
        self.scope_header = scope_header
        self.state = state
        self.observed_at = observed_at
        self.load_id = load_id
        self.page_size = page_size
        self.lookback = timedelta(seconds=lookback_seconds)
        self.fetch_workers = fetch_workers
        self.summary = AccountSummary(account_id)
        self.high_water = parse_timestamp(state.high_water) if state.high_water else None
        # below `floor` an order was loaded by an earlier run (or is older than `since`)
        self.since = since if self.high_water is None else None
        floor = self.high_water - self.lookback if self.high_water else since
        self.planner = _ScanPlanner(state, floor, page_size)
        self.old_open = dict(state.open)
        # an ordered set: fetched in this order, looked up for every order read
        self.previously_open = dict.fromkeys(i for i in previously_open if i not in self.old_open)
        # The orders read this run (seen.py: the last ones read in memory, the rest in a
        # temporary file), which of the open orders known before were reached, and created_at
        # of those that may end in the boundary window (at most `lookback` older than the
        # newest order so far; the newest only grows, so an order older than that can never
        # be in the final window).
        self.seen = SeenOrders()
        self.reached: set[str] = set()
        self.recent: dict[str, str] = {}
        self.newest = self.high_water
        self.scrub = personal.apply if personal is not None and personal.mode != "keep" else None
        self.vanished: list[str] = []  # open orders the API no longer has (404)
        self.early = early
        self.read_together = read_together
        # seconds `batches()` has waited for list pages, and since when it is waiting now
        # (`reads.read_accounts` watches them: `waited_by`)
        self.waited = 0.0
        self._waiting_since: float | None = None

    def batches(self) -> Iterator[SyncBatch]:
        try:
            yield from self._batches()
        finally:
            self.seen.close()  # needed only while the run reads; its file goes too

    def _batches(self) -> Iterator[SyncBatch]:
        position = 0
        pages = self.client.paginate(
            ORDERS_PATH,
            account_id=self.scope_header,
            page_size=self.page_size,
            keep_going=self.planner.keep_going,
            early=self.early,
        )
        for group in _grouped(self._timed(pages), self.read_together):
            self.summary.list_pages += len(group)
            records = list(chain.from_iterable(group))
            del group
            batch = self._batch(records, position)
            position += len(records)
            del records
            yield batch
            # the records are not held while the next group's pages are read
            del batch
        self.summary.refresh_strategy = self.planner.strategy
        planner = self.planner
        if planner.decision_pages is None:
            self.summary.planned_bound = self.summary.list_pages
        else:
            self.summary.planned_bound = planner.decision_pages + min(
                planner.scan_bound, planner.fetch_bound
            )
        missing = [
            order_id
            for order_id in (*self.old_open, *self.previously_open)
            if order_id not in self.reached
        ]
        if missing:
            yield from self._fetch(missing)
        self._finish()

    def close_early(self) -> None:
        """Stops reading this account's pages ahead if `batches()` never took them (the run
        stopped before the account's turn): the reader's thread would otherwise wait for
        its taker as long as the process lives. Harmless once they were taken."""
        early, self.early = self.early, None
        if isinstance(early, ReadAhead):
            early.close(wait=False)
        elif early is not None:
            close = getattr(early, "close", None)
            if close is not None:
                close()

    def waited_by(self, now: float) -> float:
        """Seconds `batches()` has waited for list pages by `now` (`time.perf_counter()`), a
        wait under way included. Read from another thread: `waited` first, so a wait that
        ends meanwhile is counted at most once."""
        waited = self.waited
        since = self._waiting_since
        return waited + (now - since if since is not None else 0.0)

    def _timed(self, pages: Iterable[list[Any]]) -> Iterator[list[Any]]:
        """`pages`, counting the time spent waiting for each one (`waited_by`)."""
        pages = iter(pages)
        while True:
            started = time.perf_counter()
            self._waiting_since = started
            try:
                page = next(pages)
            except StopIteration:
                return
            finally:
                self._waiting_since = None
                self.waited += time.perf_counter() - started
            yield page

    def _batch(self, records: list[Any], position: int) -> SyncBatch:
        """Files list records that start at `position` in the newest-first list."""
        batch = SyncBatch()
        # the whole group's contract at once: most hold throughout, and are read into Arrow
        # by the same check
        raw = read_page(records)
        problems = [None] * len(records) if raw is not None else contract_violations(records)
        if self.scrub is not None:
            records = [self.scrub(record) for record in records]
            if raw is not None:
                raw = replace_field(raw, "email", [record.get("email") for record in records])
        kept = [
            index
            for index, (record, problem) in enumerate(zip(records, problems, strict=True))
            if self._process(record, problem, position + index, batch)
        ]
        if raw is None:
            raw = read_orders(batch.orders)
        elif len(kept) < len(raw):
            raw = raw.take(pa.array(kept, pa.int64()))
        batch.raw = raw
        return batch

    def _process(
        self, record: Any, problem: str | None, list_position: int | None, batch: SyncBatch
    ) -> bool:
        """Files one record: quarantined when `problem` (its `contract_violation`) says so.
        True when the order is added to `batch.orders`."""
        summary = self.summary
        if problem:
            summary.quarantined += 1
            batch.quarantine.append(
                _quarantine_row(self.account_id, record, problem, self.observed_at, self.load_id)
            )
            return False
        order_id = record["id"]
        created = parse_timestamp(record["created_at"])
        if self.since is not None and created < self.since:
            return False
        if not self.seen.add_if_new(order_id, created):
            return False  # listed twice in one run (e.g. on both sides of a new order)
        previous = self.old_open.get(order_id)
        if previous is not None or order_id in self.previously_open:
            self.reached.add(order_id)
        if self.newest is None or created > self.newest:
            self.newest = created
        if created >= self.newest - self.lookback:
            self.recent[order_id] = record["created_at"]
        status = record["status"]
        if previous is not None:
            rank = (
                list_position if list_position is not None else previous[2] + self.planner.new_count
            )
            record_digest = digest(record)
            if record_digest == previous[3]:
                summary.unchanged += 1
                self.state.open[order_id] = [previous[0], status, rank, record_digest]
                return False
            summary.changed += 1
            if status != previous[1]:
                summary.transitions[f"{previous[1]}->{status}"] += 1
                batch.history.append((len(batch.orders), previous[1]))
        elif not self.planner.is_new(order_id, created):
            summary.unchanged += 1  # a terminal order re-read inside the look-back window
            return False
        else:
            summary.new += 1
            summary.transitions[f"new->{status}"] += 1
            batch.history.append((len(batch.orders), None))
            rank = list_position if list_position is not None else 0
            record_digest = "" if status in TERMINAL_STATUSES else digest(record)
        batch.orders.append(record)
        if status in TERMINAL_STATUSES:
            self.state.open.pop(order_id, None)
        else:
            self.state.open[order_id] = [record["created_at"], status, rank, record_digest]
        return True

    def _fetch(self, missing: list[str]) -> Iterator[SyncBatch]:
        """GETs open orders the scan did not reach, a few at a time (within the rate limit)."""

        def fetch(order_id: str) -> tuple[str, Any]:
            try:
                return order_id, self.client.get(
                    f"{ORDERS_PATH}/{order_id}", account_id=self.scope_header, kind="order_fetch"
                )
            except LuneNotFound:
                return order_id, None

        with ThreadPoolExecutor(max_workers=self.fetch_workers) as pool:
            batch = SyncBatch()
            for order_id, record in pool.map(fetch, missing):
                self.summary.order_fetches += 1
                if record is None:
                    log.warning(
                        "open order %s of account %s is gone from the API (404); its row is "
                        "marked vanished and it is no longer tracked",
                        order_id,
                        self.account_id,
                    )
                    self.summary.vanished += 1
                    self.vanished.append(order_id)
                    self.state.open.pop(order_id, None)
                    continue
                problem = contract_violation(record)
                if self.scrub is not None:
                    record = self.scrub(record)
                self._process(record, problem, None, batch)
                if len(batch.orders) + len(batch.quarantine) >= self.page_size:
                    yield _read(batch)
                    batch = SyncBatch()
            yield _read(batch)

    def _finish(self) -> None:
        """Shifts unseen open orders' positions and moves the high-water mark and window."""
        for order_id, entry in self.state.open.items():
            if order_id not in self.reached and order_id in self.old_open:
                entry[2] = self.old_open[order_id][2] + self.planner.new_count
        if self.newest is None:
            return
        self.state.high_water = self.newest.isoformat()
        window_start = self.newest - self.lookback
        candidates = {**self.state.boundary, **self.recent}
        self.state.boundary = {
            order_id: created
            for order_id, created in candidates.items()
            if parse_timestamp(created) >= window_start
        }


def _grouped(pages: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    """The pages in groups of at least `size` records (the last group may hold fewer; one
    page a group when `size` is 0)."""
    group: list[list[Any]] = []
    count = 0
    for page in pages:
        group.append(page)
        count += len(page)
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


def _read(batch: SyncBatch) -> SyncBatch:
    """`batch` with its orders read into Arrow."""
    batch.raw = read_orders(batch.orders)
    return batch


def _quarantine_row(
    account_id: str, record: Any, reason: str, observed_at: datetime, load_id: str
) -> dict[str, Any]:
    record_id = record.get("id") if isinstance(record, dict) else None
    return {
        "account_id": account_id,
        "endpoint": ORDERS_PATH,
        "record_id": record_id if isinstance(record_id, str) else None,
        "reason": reason,
        "payload": orjson.dumps(record, default=str).decode(),
        "observed_at": observed_at,
        "load_id": load_id,
    }
