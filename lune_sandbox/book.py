"""An account's orders in list order, and the opaque keyset cursors that page through them."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

import orjson

from .errors import validation_error
from .orders import OrderEntry

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
    """Orders of one account sorted by (created_at, id); lists read it newest first."""

    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._entries: dict[Key, OrderEntry] = {}
        self.by_id: dict[str, OrderEntry] = {}
        self.by_idempotency_key: dict[str, OrderEntry] = {}
        self.valid_count = 0
        self.newest_created_at = ""  # of valid orders only

    def __len__(self) -> int:
        return len(self._keys)

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
                self.valid_count += 1
                self.newest_created_at = max(self.newest_created_at, entry.key[0])
                idempotency_key = entry.facts.get("idempotency_key")
                if idempotency_key is not None:
                    self.by_idempotency_key[idempotency_key] = entry

    def remove(self, order_id: str) -> OrderEntry:
        """Takes an order out of the book, as if Lune no longer had it; KeyError when absent."""
        entry = self.by_id.pop(order_id)
        index = bisect_left(self._keys, entry.key)
        del self._keys[index]
        del self._entries[entry.key]
        if entry.valid:
            self.valid_count -= 1
            idempotency_key = entry.facts.get("idempotency_key")
            if self.by_idempotency_key.get(idempotency_key) is entry:
                del self.by_idempotency_key[idempotency_key]
            if entry.key[0] == self.newest_created_at:
                self.newest_created_at = max(
                    (e.key[0] for e in self._entries.values() if e.valid), default=""
                )
        return entry

    def newest_first(self) -> Iterator[OrderEntry]:
        for key in reversed(self._keys):
            yield self._entries[key]

    def page(
        self, limit: int, after: Key | None = None, offset_link_id: str | None = None
    ) -> tuple[list[OrderEntry], bool]:
        """Up to `limit` orders older than the cursor key, newest first, and whether more exist.

        Keyset paging: the cursor is the last row's own key, so orders created between two
        requests (newer, or late with an older created_at) shift no page boundary.
        """
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
