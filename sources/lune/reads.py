"""How the source spends the API key's request budget: early, and on several accounts at once.

Lune allows 15 requests per second per key, whatever the account. Two things kept a run
below that: nothing was requested while dlt set the pipeline up (state sync, schema), and
one account's pages were read one after another, so at 150 ms per request a run reached
under 7 requests per second however many client accounts the key had.

- `EarlyReads` starts the requests every run makes, whatever its sync state: the account
  list (the key's own account and its client accounts at once), the catalogue, and the
  newest page of each account's orders (the first page every plan reads) as soon as the
  account is known. The resources then take their answers instead of asking again, so a run
  makes exactly the requests it made before, only sooner.
- `read_accounts` runs several accounts' syncs at once, one thread each, under the client's
  one shared limiter. Each account's sync is the same object doing the same requests in the
  same order as when read alone, so its state and its rows are those of a sequential read;
  only the order in which different accounts' batches reach the warehouse differs, and the
  warehouse's tables have no order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .client import LuneClient
from .sync import ORDERS_PATH, AccountSync, SyncBatch

log = logging.getLogger("lune.reads")

# a worker's pages waiting for the consumer, at most (memory stays bounded by this)
_QUEUED_BATCHES_PER_ACCOUNT = 4


class EarlyReads:
    """The answers to a run's certain requests, requested at once in background threads.

    `accounts()` is the key's own account (`own_account(client)`) followed by its client
    accounts (`client_accounts(client)`), both requested at once; `catalogue[name]` the pages
    of `/v1/<name>`; `first_page(header)` the first `/v1/orders` body of the account with that
    `Lune-Account` header (None: the key's own account), requested as soon as that account
    is known. A failed request raises where its answer is taken, as it would have without
    reading early.
    """

    def __init__(
        self,
        client: LuneClient,
        own_account: Callable[[LuneClient], Any],
        client_accounts: Callable[[LuneClient], list[Any]],
        catalogue: Sequence[str],
        page_size: int,
        wanted: Callable[[Any], bool],
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lune-early")
        self._lock = threading.Lock()
        self._first_pages: dict[str | None, Future[Any]] = {}
        self._own: Future[list[Any]] = self._pool.submit(lambda: [own_account(client)])
        self._clients: Future[list[Any]] = self._pool.submit(client_accounts, client)
        self.catalogue: dict[str, Future[list[list[Any]]]] = {
            name: self._pool.submit(self._read_catalogue, name) for name in catalogue
        }
        for known in (self._own, self._clients):
            known.add_done_callback(lambda done: self._start_first_pages(done, wanted))

    def accounts(self) -> list[Any]:
        """The key's own account, then its client accounts."""
        return [*self._own.result(), *self._clients.result()]

    def _read_catalogue(self, name: str) -> list[list[Any]]:
        return list(
            self._client.paginate(
                f"/v1/{name}", params={"recently_disabled": "true"}, kind="catalogue_page"
            )
        )

    def _start_first_pages(self, done: Future[list[Any]], wanted: Callable[[Any], bool]) -> None:
        if done.exception() is not None:
            return
        with self._lock:
            for account in done.result():
                if wanted(account) and account.header not in self._first_pages:
                    self._first_pages[account.header] = self._pool.submit(
                        self._client.get,
                        ORDERS_PATH,
                        account_id=account.header,
                        params={"limit": self._page_size},
                        kind="list_page",
                    )

    def first_page(self, header: str | None) -> Callable[[], Any] | None:
        """A callable answering the account's first orders page, if it was read early."""
        with self._lock:
            future = self._first_pages.pop(header, None)
        return future.result if future is not None else None

    def close(self) -> None:
        """Drops first pages nobody took (their accounts were not read) and the threads."""
        with self._lock:
            for future in self._first_pages.values():
                future.cancel()
            self._first_pages.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


_DONE = object()


def read_accounts(
    syncs: Sequence[AccountSync], workers: int
) -> Iterator[tuple[int, SyncBatch | None]]:
    """Yields `(index into syncs, batch)` for every batch of every sync, and `(index, None)`
    once that sync has finished; `workers` accounts at a time (1: one after another)."""
    if workers <= 1 or len(syncs) <= 1:
        for index, sync in enumerate(syncs):
            for batch in sync.batches():
                yield index, batch
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
                if not put((index, batch)):
                    return
            put((index, _DONE))
        except BaseException as e:  # handed to the consumer, which re-raises it
            put((index, e))
        finally:
            batches.close()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lune-account")
    for index in range(len(syncs)):
        pool.submit(read, index)
    finished = False
    try:
        remaining = len(syncs)
        while remaining:
            index, item = results.get()
            if item is _DONE:
                remaining -= 1
                yield index, None
            elif isinstance(item, BaseException):
                raise item
            else:
                yield index, item
        finished = True
    finally:
        stop.set()
        # after a failure, a worker may be waiting out retries: it stops at its next batch
        pool.shutdown(wait=finished, cancel_futures=True)
