"""An account's orders in list order, and the opaque keyset cursors that page through them."""

from __future__ import annotations

import base64
import binascii
import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson

from .errors import validation_error
from .orders import OrderEntry

if TYPE_CHECKING:
    from .lazy import LazyHistory, LazyRow

Key = tuple[str, str]
# Sorts after every timestamp: a record without `created_at` sits at the newest end.
NEWEST_END = "~"


def encode_cursor(key: Key) -> str:
    """urlsafe base64 of the last row's (created_at, id): stable while rows are inserted."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, order_id = orjson.loads(raw)
        if isinstance(created, str) and isinstance(order_id, str):
            return created, order_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise validation_error(f"`after` is not a cursor this API returned: {cursor!r}.")


class OrderBook:
    """Orders of one account sorted by (created_at, id); lists read it newest first.

    A book may also hold a lazy history (`lazy.py`, for very large generated accounts): its
    orders are read, looked up and forgotten like the others, merged by key.
    """

    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._entries: dict[Key, OrderEntry] = {}
        self.by_id: dict[str, OrderEntry] = {}
        self.by_idempotency_key: dict[str, OrderEntry] = {}
        self._valid = 0
        self._newest = ""  # created_at of the newest valid entry
        self.lazy: LazyHistory | None = None

    def __len__(self) -> int:
        return len(self._keys) + (len(self.lazy) if self.lazy is not None else 0)

    @property
    def valid_count(self) -> int:
        return self._valid + (len(self.lazy) if self.lazy is not None else 0)

    @property
    def newest_created_at(self) -> str:
        """Of valid orders only; empty when there is none."""
        if self.lazy is None:
            return self._newest
        return max(self._newest, self.lazy.newest_created_at())

    def attach(self, lazy: LazyHistory) -> None:
        """Serves `lazy`'s orders as well (an empty book only, once)."""
        if self.lazy is not None or self._keys:
            raise ValueError("a lazy history goes into an empty book, once")
        self.lazy = lazy
        self.by_id = _LazyIndex(lazy, lazy.find, lists_history=True)
        self.by_idempotency_key = _LazyIndex(lazy, lazy.find_idempotency_key)

    def add(self, entry: OrderEntry) -> None:
        self.add_many([entry], presorted=False)

    def add_many(self, entries: Iterable[OrderEntry], presorted: bool = False) -> None:
        """Adds orders; `presorted` (ascending keys, all newer than the book) skips bisecting."""
        entries = list(entries)
        if presorted and (not self._keys or entries[0].key > self._keys[-1]):
            self._keys.extend(e.key for e in entries)
        elif len(entries) > 64:
            self._keys.extend(e.key for e in entries)
            self._keys.sort()
        else:
            for entry in entries:
                insort(self._keys, entry.key)
        for entry in entries:
            if entry.key in self._entries:
                raise ValueError(f"duplicate order key {entry.key}")
            self._entries[entry.key] = entry
            if entry.id is not None:
                self.by_id[entry.id] = entry
            if entry.valid:
                self._valid += 1
                self._newest = max(self._newest, entry.key[0])
                idempotency_key = entry.facts.get("idempotency_key")
                if idempotency_key is not None:
                    self.by_idempotency_key[idempotency_key] = entry

    def remove(self, order_id: str) -> OrderEntry:
        """Takes an order out of the book, as if Lune no longer had it; KeyError when absent."""
        if self.lazy is not None and not dict.__contains__(self.by_id, order_id):
            position = self.lazy.find(order_id)
            if position is None:
                raise KeyError(order_id)
            row = self.lazy.row(position)
            self.lazy.hide(position)
            return row  # type: ignore[return-value]
        entry = self.by_id.pop(order_id)
        index = bisect_left(self._keys, entry.key)
        del self._keys[index]
        del self._entries[entry.key]
        if entry.valid:
            self._valid -= 1
            idempotency_key = entry.facts.get("idempotency_key")
            if dict.get(self.by_idempotency_key, idempotency_key) is entry:
                del self.by_idempotency_key[idempotency_key]
            if entry.key[0] == self._newest:
                self._newest = max(
                    (e.key[0] for e in self._entries.values() if e.valid), default=""
                )
        return entry

    def newest_first(self, before: Key | None = None) -> Iterator[OrderEntry]:
        """Every order (below the key `before`, if given), newest first."""
        end = len(self._keys) if before is None else bisect_left(self._keys, before)
        entries = (self._entries[self._keys[i]] for i in range(end - 1, -1, -1))
        if self.lazy is None:
            yield from entries
            return
        lazy = self.lazy
        rows = (lazy.row(p) for p in lazy.newest_first(lazy.end_before(before)))
        yield from heapq.merge(entries, rows, key=_key, reverse=True)  # type: ignore[arg-type]

    def page(
        self, limit: int, after: Key | None = None, offset_link_id: str | None = None
    ) -> tuple[list[OrderEntry], bool]:
        """Up to `limit` orders older than the cursor key, newest first, and whether more exist.

        Keyset paging: the cursor is the last row's own key, so orders created between two
        requests (newer, or late with an older created_at) shift no page boundary.
        """
        if self.lazy is not None:
            return self._merged_page(limit, after, offset_link_id)
        end = len(self._keys) if after is None else bisect_left(self._keys, after)
        if offset_link_id is None:
            start = max(0, end - limit)
            rows = [self._entries[k] for k in reversed(self._keys[start:end])]
            return rows, start > 0
        rows = []
        for index in range(end - 1, -1, -1):
            entry = self._entries[self._keys[index]]
            facts = entry.facts if entry.valid else entry.record
            if facts.get("offset_link_id") == offset_link_id:
                if len(rows) == limit:
                    return rows, True
                rows.append(entry)
        return rows, False

    def _merged_page(
        self, limit: int, after: Key | None, offset_link_id: str | None
    ) -> tuple[list[OrderEntry], bool]:
        """`page` over the entries and the lazy history together."""
        rows: list[OrderEntry] = []
        for entry in self.newest_first(after):
            if offset_link_id is not None:
                facts = entry.facts if entry.valid else entry.record
                if facts.get("offset_link_id") != offset_link_id:
                    continue
            if len(rows) == limit:
                return rows, True
            rows.append(entry)
        return rows, False


def _key(entry: OrderEntry | LazyRow) -> Key:
    return entry.key


class _LazyIndex(dict):  # type: ignore[type-arg]
    """An index of the book's entries (by id, or by idempotency key) that also finds the
    orders of its lazy history, with `find(key) -> position | None`."""

    def __init__(self, lazy: LazyHistory, find: Any, lists_history: bool = False) -> None:
        super().__init__()
        self._lazy = lazy
        self._find = find
        self._lists_history = lists_history

    def get(self, key: Any, default: Any = None) -> Any:
        found = dict.get(self, key)
        if found is not None:
            return found
        position = self._find(key) if isinstance(key, str) else None
        return default if position is None else self._lazy.row(position)

    def __getitem__(self, key: Any) -> Any:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def values(self) -> Any:  # type: ignore[override]
        if not self._lists_history:
            return dict.values(self)
        lazy = self._lazy
        return chain(dict.values(self), (lazy.row(p) for p in lazy.newest_first()))
