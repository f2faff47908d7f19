"""The orders one run has read, in 16 bytes each.

A run remembers every order it has read, to drop one the list returns twice and to tell
which open orders it did not reach. As a set of id strings that was ~110 MB at a million
orders, the one part of a backfill's memory that grew with the account. Here an order is its
creation time in microseconds and the 64-bit hash of its id (Python's own, keyed per
process), in two arrays kept in list order: Lune lists orders newest first, so an order older
than every one read so far is new without a search and goes at the end. Two orders are taken
for one only when they were created in the same microsecond and their ids share the hash.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from datetime import datetime


class SeenOrders:
    """The set of orders read so far, for orders read newest first."""

    def __init__(self) -> None:
        # the negated creation time, ascending (the list is newest first); the id's hash beside
        self._created = array("q")
        self._id_hash = array("q")

    def __len__(self) -> int:
        return len(self._created)

    def add_if_new(self, order_id: str, created: datetime) -> bool:
        """Remembers the order; False when it was already read."""
        key = -round(created.timestamp() * 1_000_000)
        created_keys = self._created
        if not created_keys or key > created_keys[-1]:  # older than every order so far
            created_keys.append(key)
            self._id_hash.append(hash(order_id))
            return True
        low = bisect_left(created_keys, key)
        high = bisect_right(created_keys, key, low)
        id_hash = hash(order_id)
        if any(self._id_hash[i] == id_hash for i in range(low, high)):
            return False
        # created in the same microsecond as the oldest so far, or listed out of order
        created_keys.insert(high, key)
        self._id_hash.insert(high, id_hash)
        return True
