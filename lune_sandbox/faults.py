"""Switchable transport faults, and Lune's per-key rate limit."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

DECK = 10


@dataclass(frozen=True)
class FaultPlan:
    """What the faults do to one request (decided when it arrives)."""

    reset: bool = False  # close the TCP connection without answering
    delay: float = 0.0  # seconds to sleep first (latency + stall)
    stalled: bool = False
    status: int | None = None  # 429 (burst) or 500/502/503 (error_rate) instead of an answer

    @property
    def faulted(self) -> bool:
        return self.reset or self.stalled or self.status is not None


@dataclass
class FaultSettings:
    latency: float = 0.0
    error_rate: float = 0.0
    burst_429: int = 0
    truncate: int = 0
    stall: float = 0.0
    reset: int = 0


class Faults:
    """Fault switches for the API endpoints (never the admin ones), with a seeded generator.

    - latency: seconds added to every request;
    - error_rate: share of requests answered 500/502/503 (`service_unavailable` body), dealt
      from shuffled decks of 10 so that even a short run sees it: each 10 consecutive requests
      (from the `set()`) hold floor(10 × rate) errors, plus one with the remainder's odds;
    - burst_429: the next N requests get 429;
    - truncate: the next N successful responses announce their full Content-Length but the
      connection closes after half the body;
    - stall: the next request sleeps that many seconds before it is answered;
    - reset: the next N requests get their TCP connection closed with no response.
    Counters go down as requests consume them; `set()` replaces every switch at once.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._settings = FaultSettings()
        self._deck: list[bool] = []  # error_rate's next outcomes, True = answer 5xx

    def set(
        self,
        latency: float = 0.0,
        error_rate: float = 0.0,
        burst_429: int = 0,
        truncate: int = 0,
        stall: float = 0.0,
        reset: int = 0,
    ) -> None:
        """Sets every switch (those not given are off)."""
        if min(latency, stall) < 0 or min(burst_429, truncate, reset) < 0:
            raise ValueError("fault settings must not be negative")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        with self._lock:
            self._settings = FaultSettings(
                latency=float(latency),
                error_rate=float(error_rate),
                burst_429=int(burst_429),
                truncate=int(truncate),
                stall=float(stall),
                reset=int(reset),
            )
            self._deck = []

    def clear(self) -> None:
        self.set()

    def snapshot(self) -> dict[str, float | int]:
        """The switches as they are now (counters show what is left)."""
        with self._lock:
            return asdict(self._settings)

    def plan(self) -> FaultPlan:
        """Decides, and consumes, what happens to the request that just arrived."""
        with self._lock:
            s = self._settings
            if s.reset > 0:
                s.reset -= 1
                return FaultPlan(reset=True)
            stall, s.stall = s.stall, 0.0
            status = None
            if s.burst_429 > 0:
                s.burst_429 -= 1
                status = 429
            elif s.error_rate > 0 and self._next_card(s.error_rate):
                status = self._rng.choice((500, 502, 503))
            return FaultPlan(delay=s.latency + stall, stalled=stall > 0, status=status)

    def _next_card(self, rate: float) -> bool:
        if not self._deck:
            errors = int(rate * DECK)
            errors += self._rng.random() < rate * DECK - errors
            self._deck = [True] * errors + [False] * (DECK - errors)
            self._rng.shuffle(self._deck)
        return self._deck.pop()

    def take_truncate(self) -> bool:
        """Whether this successful response is to be cut short (consumes one)."""
        with self._lock:
            if self._settings.truncate > 0:
                self._settings.truncate -= 1
                return True
            return False


class RateLimiter:
    """At most `rate` requests per API key in any sliding one-second window.

    Lune counts per key across all accounts and answers 429 without Retry-After past 15/s.
    Refused requests do not count, so a client that waits is admitted again.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}

    def admit(self, key: str) -> bool:
        if not self.rate:
            return True
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.rate:
                return False
            window.append(now)
            return True
