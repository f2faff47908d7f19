"""The orders one run has read: 16 bytes each, and only the newest few in memory.

A run remembers every order it has read, to drop one the list returns twice (a first backfill
is appended, not merged, so a repeat would be a duplicate row) and to tell which open orders
it did not reach. As a set of id strings that was ~110 MB at a million orders. Here an order
is its creation time in microseconds and the 64-bit hash of its id (Python's own, keyed per
process), in two arrays kept in list order: Lune lists orders newest first, so an order older
than every one read so far is new without a search and goes at the end. Two orders are taken
for one only when they were created in the same microsecond and their ids share the hash.

Even 16 bytes an order grew with the account (32 MB at 2,000,000 orders, and as much again
in the allocator's holes as the arrays grew), so the arrays are kept in memory only for the
oldest `CHUNK` orders read so far; each full chunk is written to an anonymous temporary
file, with its first and last creation time kept to find it again. A search (an order listed
again, or listed out of order) reads back only the chunks whose times could hold it; an
order listed out of order below what is already on disk is kept in a small sorted list of
its own. Listing newest first, the common case, never reads the file.
"""

from __future__ import annotations

import tempfile
from array import array
from bisect import bisect_left, bisect_right, insort
from datetime import datetime
from typing import IO

# orders kept in memory before a chunk is written out (1 MB: two 8-byte arrays)
CHUNK = 65_536


class SeenOrders:
    """The set of orders read so far, for orders read newest first. `close()` drops it."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self._chunk = chunk
        # the oldest orders read so far: the negated creation time, ascending (the list is
        # newest first), and the id's hash beside it
        self._created = array("q")
        self._id_hash = array("q")
        # chunks written out, ascending: (first key, last key, offset in the file, length)
        self._spilled: list[tuple[int, int, int, int]] = []
        self._file: IO[bytes] | None = None
        # orders listed out of order at or below the last key written out: (key, id hash)
        self._late: list[tuple[int, int]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def in_memory(self) -> int:
        """Orders held in memory (the rest are in the temporary file)."""
        return len(self._created) + len(self._late)

    def add_if_new(self, order_id: str, created: datetime) -> bool:
        """Remembers the order; False when it was already read."""
        key = -round(created.timestamp() * 1_000_000)
        created_keys = self._created
        last = created_keys[-1] if created_keys else self._spilled_last()
        if last is None or key > last:  # older than every order so far
            created_keys.append(key)
            self._id_hash.append(hash(order_id))
            self._count += 1
            if len(created_keys) >= self._chunk:
                self._spill()
            return True
        id_hash = hash(order_id)
        if self._in_memory(key, id_hash) or self._on_disk(key, id_hash):
            return False
        spilled_last = self._spilled_last()
        if spilled_last is not None and key <= spilled_last:
            insort(self._late, (key, id_hash))
        else:
            # created in the same microsecond as the oldest so far, or listed out of order
            high = bisect_right(created_keys, key)
            created_keys.insert(high, key)
            self._id_hash.insert(high, id_hash)
        self._count += 1
        return True

    def close(self) -> None:
        """Forgets every order and removes the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._created, self._id_hash = array("q"), array("q")
        self._spilled, self._late = [], []

    def _spilled_last(self) -> int | None:
        return self._spilled[-1][1] if self._spilled else None

    def _in_memory(self, key: int, id_hash: int) -> bool:
        keys = self._created
        low = bisect_left(keys, key)
        high = bisect_right(keys, key, low)
        if any(self._id_hash[i] == id_hash for i in range(low, high)):
            return True
        at = bisect_left(self._late, (key, id_hash))
        return at < len(self._late) and self._late[at] == (key, id_hash)

    def _on_disk(self, key: int, id_hash: int) -> bool:
        for first, last, offset, length in self._spilled:
            if first <= key <= last and self._chunk_holds(offset, length, key, id_hash):
                return True
        return False

    def _chunk_holds(self, offset: int, length: int, key: int, id_hash: int) -> bool:
        assert self._file is not None
        self._file.seek(offset)
        keys, hashes = array("q"), array("q")
        keys.frombytes(self._file.read(8 * length))
        hashes.frombytes(self._file.read(8 * length))
        low = bisect_left(keys, key)
        high = bisect_right(keys, key, low)
        return any(hashes[i] == id_hash for i in range(low, high))

    def _spill(self) -> None:
        if self._file is None:
            # held across calls and closed by close(): no `with` block can own it
            self._file = tempfile.TemporaryFile(prefix="lune-seen-orders-")  # noqa: SIM115
        self._file.seek(0, 2)
        offset = self._file.tell()
        self._file.write(self._created.tobytes())
        self._file.write(self._id_hash.tobytes())
        self._spilled.append((self._created[0], self._created[-1], offset, len(self._created)))
        self._created, self._id_hash = array("q"), array("q")
