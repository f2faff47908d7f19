"""A client-side request limiter shared by every account read with one API key."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Spaces requests evenly so that no one-second window holds more than `rate` of them.

    Lune counts requests per API key, not per client account, so one limiter serves all
    accounts (and all threads) of a run. `rate <= 0` turns it off.
    """

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
