"""An account's generated history held as arrays, its orders rendered from the seed when read.

A world of a million orders as `OrderEntry` objects (facts, purchase, cached JSON) holds
several gigabytes and takes minutes to build. `SandboxWorld.generate(..., lazy=True)` keeps,
per account, only what paging needs: each order's creation time (8 bytes), its id (32 bytes)
and its terminal status (1 byte), about 45 MB per million orders. Everything else about an
order (what it bought, its lines, money, metadata) is drawn, when the order is first read,
from a generator seeded with the world's seed, the account and the order's position, so it
is the same on every read and in every world built with the same seed and calls.

The orders still open when the world is built are taken out of the arrays as ordinary
entries (they change with `advance`); terminal orders never change, so they need no object
until read. New, forgotten and malformed orders work as in any world. What lazy worlds do
not do: list, among an account's estimates, the estimates by-estimate orders of the generated
history were placed from (an eager world remembers one per such order).

`spool(path)` renders every history order's JSON once into a file (mapped into memory), so
serving a page costs what it costs for an eager world's cached JSON.
"""

from __future__ import annotations

import base64
import hashlib
import mmap
import random
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .orders import TERMINAL_STATUSES, OrderEntry, iso_ms

if TYPE_CHECKING:
    from .world import AccountState, SandboxWorld

_ID_LENGTH = 32
_ID_TRANSLATION = bytes.maketrans(b"+/", b"xQ")
_STATUS_CODES = {status: code for code, status in enumerate(TERMINAL_STATUSES)}
_HIDDEN = 255  # the position's order is an ordinary entry now (open), or was forgotten
_IDEMPOTENCY_PREFIX = "ord-"


class LazyHistory:
    """The generated orders of one account, sorted by (created_at, id): position 0 oldest."""

    def __init__(
        self,
        world: SandboxWorld,
        account: AccountState,
        times: list[int],
        statuses: list[str],
        rng: random.Random,
    ) -> None:
        count = len(times)
        self._world = world
        self._account = account
        # each order's own generator: seeded with an integer (far cheaper than a string),
        # from the world's seed and the account, and the order's position
        digest = hashlib.sha256(f"lune-sandbox lazy {world.seed} {account.index}".encode())
        self._seed = int.from_bytes(digest.digest()[:8], "big") << 32
        self._times = array("q", times)
        raw = base64.b64encode(rng.randbytes(24 * count)).translate(_ID_TRANSLATION)
        self._ids = _sorted_within_ties(bytearray(raw), self._times)
        # open orders are hidden from the start: `open_entries` hands them to the book
        self._status = bytearray(_STATUS_CODES.get(s, _HIDDEN) for s in statuses)
        self._visible = count - self._status.count(_HIDDEN)
        self._by_id = array("i", sorted(range(count), key=self._id_bytes))
        self._spool: tuple[mmap.mmap, array] | None = None
        self._statuses = statuses  # until `open_entries` has taken the open ones

    def __len__(self) -> int:
        """Orders still served from the arrays (not open, not forgotten)."""
        return self._visible

    # --- the orders --------------------------------------------------------------------------

    def open_entries(self) -> list[OrderEntry]:
        """Renders the orders generated open as ordinary entries (they will change); the
        arrays stop serving them. Called once, by the world."""
        statuses, self._statuses = self._statuses, []
        return [
            self._render(position, status)
            for position, status in enumerate(statuses)
            if status not in _STATUS_CODES
        ]

    def _id_bytes(self, position: int) -> bytes:
        start = position * _ID_LENGTH
        return bytes(self._ids[start : start + _ID_LENGTH])

    def order_id(self, position: int) -> str:
        return self._id_bytes(position).decode()

    def key(self, position: int) -> tuple[str, str]:
        return iso_ms(self._times[position]), self.order_id(position)

    def status(self, position: int) -> str:
        return TERMINAL_STATUSES[self._status[position]]

    def visible(self, position: int) -> bool:
        return self._status[position] != _HIDDEN

    def _render(self, position: int, status: str) -> OrderEntry:
        return self._world._build_order(
            self._account,
            self._times[position],
            status,
            rng=random.Random(self._seed + position),
            order_id=self.order_id(position),
            # unique in the account: new orders' keys count on from the history's size
            idempotency_key=f"{_IDEMPOTENCY_PREFIX}{position + 1:06d}",
        )

    def entry(self, position: int) -> OrderEntry:
        """The order at `position`, rendered afresh (terminal: it never changes)."""
        return self._render(position, self.status(position))

    def row(self, position: int) -> LazyRow:
        return LazyRow(self, position)

    def blob(self, position: int) -> bytes:
        if self._spool is not None:
            data, offsets = self._spool
            return data[offsets[position] : offsets[position + 1]]
        return self.entry(position).blob

    # --- lookups -------------------------------------------------------------------------

    def find(self, order_id: str) -> int | None:
        """The position of a served order with this id, or None."""
        target = order_id.encode()
        index = bisect_left(self._by_id, target, key=self._id_bytes)
        if index < len(self._by_id):
            position = self._by_id[index]
            if self._id_bytes(position) == target and self.visible(position):
                return position
        return None

    def find_idempotency_key(self, key: str) -> int | None:
        """The position of the served order whose idempotency key is `key`, or None."""
        digits = key[len(_IDEMPOTENCY_PREFIX) :]
        if not key.startswith(_IDEMPOTENCY_PREFIX) or not digits.isdigit():
            return None
        position = int(digits) - 1
        if not 0 <= position < len(self._times) or not self.visible(position):
            return None
        return position if self.entry(position).facts["idempotency_key"] == key else None

    def hide(self, position: int) -> None:
        """Stops serving the order (forgotten)."""
        if self.visible(position):
            self._status[position] = _HIDDEN
            self._visible -= 1

    def end_before(self, key: tuple[str, str] | None) -> int:
        """How many positions hold keys below `key` (all of them for None)."""
        if key is None:
            return len(self._times)
        return bisect_left(range(len(self._times)), key, key=self.key)

    def newest_created_at(self) -> str:
        for position in range(len(self._times) - 1, -1, -1):
            if self.visible(position):
                return iso_ms(self._times[position])
        return ""

    def newest_first(self, end: int | None = None) -> Iterator[int]:
        """Served positions below `end`, newest first."""
        for position in range((len(self._times) if end is None else end) - 1, -1, -1):
            if self._status[position] != _HIDDEN:
                yield position

    # --- the JSON spool ------------------------------------------------------------------

    def spool(self, path: Path) -> int:
        """Renders every served order's JSON into `path` and serves it from there; returns
        the bytes written."""
        offsets = array("q", [0])
        with open(path, "wb") as out:
            written = 0
            for position in range(len(self._times)):
                if self.visible(position):
                    blob = self.entry(position).blob
                    out.write(blob)
                    written += len(blob)
                offsets.append(written)
        with open(path, "rb") as spooled:
            data = mmap.mmap(spooled.fileno(), 0, access=mmap.ACCESS_READ) if written else b""
        self._spool = (data, offsets)  # type: ignore[assignment]
        return written


class LazyRow:
    """An order of a lazy history as the book hands it out: key, id, status and JSON at
    once; any other attribute of `OrderEntry` renders the order."""

    __slots__ = ("_entry", "_history", "key", "position")

    valid = True
    fingerprint = None

    def __init__(self, history: LazyHistory, position: int) -> None:
        self._history = history
        self.position = position
        self.key = history.key(position)
        self._entry: OrderEntry | None = None

    @property
    def id(self) -> str:
        return self.key[1]

    @property
    def status(self) -> str:
        return self._history.status(self.position)

    @property
    def is_open(self) -> bool:
        return False

    @property
    def blob(self) -> bytes:
        return self._history.blob(self.position)

    @property
    def entry(self) -> OrderEntry:
        if self._entry is None:
            self._entry = self._history.entry(self.position)
        return self._entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)


def _sorted_within_ties(ids: bytearray, times: array) -> bytearray:
    """Orders ids of equal creation times ascending, so positions follow (created_at, id)."""
    count = len(times)
    start = 0
    while start < count:
        end = start + 1
        while end < count and times[end] == times[start]:
            end += 1
        if end - start > 1:
            chunk = [bytes(ids[p * _ID_LENGTH : (p + 1) * _ID_LENGTH]) for p in range(start, end)]
            ids[start * _ID_LENGTH : end * _ID_LENGTH] = b"".join(sorted(chunk))
        start = end
    return ids
