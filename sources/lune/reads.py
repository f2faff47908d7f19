"""How the source spends the API key's request budget: early, and on several accounts at once.

Lune allows 15 requests per second per key, whatever the account. Two things kept a run
below that: nothing was requested while dlt set the pipeline up (state sync, schema), and
one account's pages were read one after another, so at 150 ms per request a run reached
under 7 requests per second however many client accounts the key had.

- `EarlyReads` starts the requests every run makes, whatever its sync state: the account
  list (the key's own account and its client accounts at once), the catalogue, and the
  newest page of each account's orders (the first page every plan reads) as soon as the
  account is known. When the caller knows every account is read through (a full refresh, or
  a first load with no sync state anywhere), it reads each account's following pages too, a
  few ahead. The resources then take their answers instead of asking again, so a run makes
  exactly the requests it made before, only sooner.
- `read_accounts` runs several accounts' syncs at once, one thread each, under the client's
  one shared limiter. Each account's sync is the same object doing the same requests in the
  same order as when read alone, so its state and its rows are those of a sequential read;
  only the order in which different accounts' batches reach the warehouse differs, and the
  warehouse's tables have no order. It starts one account, and another only while the ones
  running wait for their pages most of the time (the API's latency or the rate limit holds
  them up): when pages come at once, the work is the interpreter's, and threads that take
  turns at it cost more than they add (100,000 orders, limiter off, on loopback: 3.6-4.7 s
  wall and 4.0-5.1 s of CPU one account at a time, 4.4-5.7 s and 5.1-6.6 s four at once).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .client import LuneClient, ReadAhead
from .sync import ORDERS_PATH, AccountSync, SyncBatch

log = logging.getLogger("lune.reads")

T = TypeVar("T")

# a worker's converted batches waiting for the consumer, at most (memory stays bounded)
_QUEUED_BATCHES_PER_ACCOUNT = 2
# another account is started when the running ones waited for pages more than this share
# of the last STARVED_CHECK_SECONDS (one account on loopback without a rate limit: 25-35%;
# at 10 ms a request 85%, at Lune's rate or 150 ms nearly all the time)
STARVED_SHARE = 0.6
STARVED_CHECK_SECONDS = 0.05
# an account read through: list bodies read before its sync takes them, at most (with the
# one under way, enough to fill the rate limit's first second while dlt sets itself up)
_READ_THROUGH_DEPTH = 2


class EarlyReads:
    """The answers to a run's certain requests, requested at once in background threads.

    `accounts()` is the key's own account (`own_account(client)`) followed by its client
    accounts (`client_accounts(client)`), both requested at once; `catalogue[name]` the pages
    of `/v1/<name>`; `orders(header)` the first `/v1/orders` bodies of the account with that
    `Lune-Account` header (None: the key's own account), requested as soon as that account
    is known: the first page only, or, with `read_through` (every wanted account will be read
    from its newest order to its oldest), every page, `_READ_THROUGH_DEPTH` ahead of the
    sync that takes them. A failed request raises where its answer is taken, as it would have
    without reading early.
    """

    def __init__(
        self,
        client: LuneClient,
        own_account: Callable[[LuneClient], Any],
        client_accounts: Callable[[LuneClient], list[Any]],
        catalogue: Sequence[str],
        page_size: int,
        wanted: Callable[[Any], bool],
        read_through: bool = False,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._read_through = read_through
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lune-early")
        self._lock = threading.Lock()
        self._orders: dict[str | None, Future[Any] | ReadAhead] = {}
        self._own: Future[list[Any]] = self._pool.submit(lambda: [own_account(client)])
        self._clients: Future[list[Any]] = self._pool.submit(client_accounts, client)
        self.catalogue: dict[str, Future[list[list[Any]]]] = {
            name: self._pool.submit(self._read_catalogue, name) for name in catalogue
        }
        for known in (self._own, self._clients):
            known.add_done_callback(lambda done: self._start_orders(done, wanted))

    def accounts(self) -> list[Any]:
        """The key's own account, then its client accounts."""
        return [*self._own.result(), *self._clients.result()]

    def _read_catalogue(self, name: str) -> list[list[Any]]:
        return list(
            self._client.paginate(
                f"/v1/{name}", params={"recently_disabled": "true"}, kind="catalogue_page"
            )
        )

    def _start_orders(self, done: Future[list[Any]], wanted: Callable[[Any], bool]) -> None:
        if done.exception() is not None:
            return
        with self._lock:
            for account in done.result():
                if wanted(account) and account.header not in self._orders:
                    self._orders[account.header] = self._read_orders(account.header)

    def _read_orders(self, header: str | None) -> Future[Any] | ReadAhead:
        if self._read_through:
            bodies = self._client.list_bodies(
                ORDERS_PATH, account_id=header, page_size=self._page_size
            )
            return ReadAhead(bodies, depth=_READ_THROUGH_DEPTH, name="lune-read-through")
        return self._pool.submit(
            self._client.get,
            ORDERS_PATH,
            account_id=header,
            params={"limit": self._page_size},
            kind="list_page",
        )

    def orders(self, header: str | None) -> Iterator[Any] | None:
        """The bodies of the account's first orders pages, if they are read early."""
        with self._lock:
            read = self._orders.pop(header, None)
        if isinstance(read, Future):
            return _answer(read)
        return read

    def close(self) -> None:
        """Drops orders pages nobody took (their accounts were not read) and the threads."""
        with self._lock:
            for read in self._orders.values():
                if isinstance(read, Future):
                    read.cancel()
                else:
                    read.close(wait=False)
            self._orders.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _answer(read: Future[Any]) -> Iterator[Any]:
    yield read.result()


_DONE = object()


def read_accounts(
    syncs: Sequence[AccountSync],
    workers: int,
    convert: Callable[[int, SyncBatch], T],
) -> Iterator[tuple[int, T | None]]:
    """Yields `(index into syncs, convert(index, batch))` for every batch of every sync, and
    `(index, None)` once that sync has finished; up to `workers` accounts at a time (1: one
    after another), more of them started while those running wait for their pages (see the
    module's docstring). Each account's thread converts its own batches (into Arrow tables),
    so what waits for the consumer is compact and the parsed records are dropped where they
    were made."""
    if workers <= 1 or len(syncs) <= 1:
        for index, sync in enumerate(syncs):
            for batch in sync.batches():
                converted = convert(index, batch)
                del batch  # its records are not held meanwhile
                yield index, converted
            yield index, None
        return
    results: queue.Queue[tuple[int, Any]] = queue.Queue(
        maxsize=_QUEUED_BATCHES_PER_ACCOUNT * workers
    )
    stop = threading.Event()

    def put(item: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read(index: int) -> None:
        batches = syncs[index].batches()
        try:
            for batch in batches:
                converted = convert(index, batch)
                del batch  # its records are not held while the queue is full
                if not put((index, converted)):
                    return
            put((index, _DONE))
        except BaseException as e:  # handed to the consumer, which re-raises it
            put((index, e))
        finally:
            batches.close()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lune-account")
    starter = _Starter(syncs, workers, lambda index: pool.submit(read, index))
    finished = False
    try:
        remaining = len(syncs)
        starter.start_next()
        while remaining:
            try:
                index, item = results.get(timeout=STARVED_CHECK_SECONDS)
            except queue.Empty:
                starter.check()
                continue
            if item is _DONE:
                remaining -= 1
                starter.finished(index)
                yield index, None
            elif isinstance(item, BaseException):
                raise item
            else:
                yield index, item
            starter.check()
        finished = True
    finally:
        stop.set()
        # after a failure, a worker may be waiting out retries: it stops at its next batch
        pool.shutdown(wait=finished, cancel_futures=True)


class _Starter:
    """Starts the accounts of `read_accounts` in order: the next one when one finishes, and
    more (up to `workers` running) when those running waited for their pages more than
    STARVED_SHARE of the last STARVED_CHECK_SECONDS or longer: as many as keep the work
    going if each new one waits as much."""

    def __init__(
        self, syncs: Sequence[AccountSync], workers: int, start: Callable[[int], Any]
    ) -> None:
        self._syncs = syncs
        self._workers = workers
        self._start = start
        self._next = 0
        self._running: set[int] = set()
        self._since = 0.0
        self._waited = 0.0

    def start_next(self) -> None:
        if self._next < len(self._syncs):
            self._running.add(self._next)
            self._start(self._next)
            self._next += 1
        self._new_window(time.perf_counter())

    def finished(self, index: int) -> None:
        self._running.discard(index)
        self.start_next()

    def check(self) -> None:
        if self._next >= len(self._syncs) or len(self._running) >= self._workers:
            return
        now = time.perf_counter()
        elapsed = now - self._since
        if elapsed < STARVED_CHECK_SECONDS:
            return
        running = len(self._running)
        if not running:
            return
        share = (self._waited_by(now) - self._waited) / (elapsed * running)
        if share <= STARVED_SHARE:
            self._new_window(now)
            return
        # accounts busy (1 - share) of the time each: about running / (1 - share) keep the
        # work going (all at once at 150 ms a request, where an account waits 95% or more)
        wanted = self._workers if share >= 1 else math.ceil(running / (1 - share))
        for _ in range(min(wanted, self._workers) - running):
            self.start_next()

    def _new_window(self, now: float) -> None:
        self._since, self._waited = now, self._waited_by(now)

    def _waited_by(self, now: float) -> float:
        return sum(self._syncs[index].waited_by(now) for index in self._running)
