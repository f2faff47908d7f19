"""A client-side request limiter shared by every account read with one API key.

Lune answers 429 once a key has made 15 requests within any sliding one-second window
(`lune_sandbox.faults.RateLimiter` models it). The limiter keeps the same window on the
client, so a run can use the whole budget and still not see a 429. The server counts a request
at some moment between the client sending it and the response coming back; each request here
holds one of the window's `rate` slots from the moment it is sent until one window after the
latest moment the server can have counted it:

- a response that came back within the margin below (no network to speak of): one window
  after the response arrived. The server counted the request before answering, so this can
  never run ahead of Lune's window, whatever the timing;
- a slower response: one window plus a margin after the request was sent. Over a real network
  the server counts a request about a one-way latency after it was sent; what matters is how
  much that delay varies from one request to the next. The margin is `margin` plus how much
  longer this request's round trip took than the fastest recent one: a request that was late
  to leave (the client busy) or late to be counted (the server busy) shows it in its own
  round trip, and its slot is held that much longer. Holding every slot until the response
  came back instead would cost the whole latency in every window: 13 instead of 15 requests
  per second at 150 ms.

A 429 means someone else spends the key's budget (another job, the customer's own
application), or the margin was too small: every new request then waits one window, so Lune's
window empties, the rate drops by a fifth and the margin doubles; each further window without
a 429 gives one request back, up to the configured rate.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import deque
from types import TracebackType

WINDOW_SECONDS = 1.0
# the least margin for a slow response; a round trip slower than the fastest recent one adds
# the difference
MARGIN_SECONDS = 0.025
_RECENT_ROUND_TRIPS = 32


class RateLimiter:
    """At most `rate` requests per second in any sliding window, as Lune counts them.

    Thread-safe: one instance serves every account and thread of a run. Use
    `with limiter.slot(): send the request and read its response`. `rate <= 0` turns it off.
    A fractional rate keeps its average: `floor(rate)` slots (at least one) per window of
    `slots / rate` seconds.
    """

    def __init__(
        self, rate: float, window: float = WINDOW_SECONDS, margin: float = MARGIN_SECONDS
    ) -> None:
        self.rate = rate
        self.enabled = rate > 0
        self.capacity = max(1, math.floor(rate)) if self.enabled else 0
        self.window = self.capacity / rate * window if self.enabled else 0.0
        self.margin = margin  # doubled by each 429
        self._allowed = self.capacity  # lowered after a 429, given back window by window
        self._held: list[float] = []  # heap: when each answered request's slot frees
        self._in_flight = 0
        self._round_trips: deque[float] = deque(maxlen=_RECENT_ROUND_TRIPS)
        self._paused_until = 0.0
        self._recovered_at = 0.0  # after a slow-down: when the last request was given back
        self.throttles = 0
        self._cond = threading.Condition()

    @property
    def allowed(self) -> int:
        """Requests currently allowed per window (the capacity, less any slow-down)."""
        return self._allowed

    def slot(self) -> _Slot:
        """A context manager that waits for a free slot and holds it around one request."""
        return _Slot(self)

    def acquire(self) -> float:
        """Waits until one more request may be sent, counts it in flight; returns the time
        (`time.monotonic()`) it was let through."""
        if not self.enabled:
            return time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                held = self._held
                while held and held[0] <= now:
                    heapq.heappop(held)
                self._recover(now)
                if now < self._paused_until:
                    self._cond.wait(self._paused_until - now)
                    continue
                if self._in_flight + len(held) < self._allowed:
                    self._in_flight += 1
                    return now
                # the first held slot to free, or an in-flight request finishing, wakes us
                self._cond.wait(held[0] - now if held else None)

    def release(self, sent_at: float) -> None:
        """The response to the request let through at `sent_at` is in (or it failed)."""
        if not self.enabled:
            return
        with self._cond:
            now = time.monotonic()
            round_trip = now - sent_at
            self._round_trips.append(round_trip)
            # Counted by the server at the latest when it answered, and no later than the
            # fastest recent request's delay plus what this round trip took longer than that
            # one, plus `margin` for how the rest of a round trip varies.
            late_by = round_trip - min(self._round_trips)
            counted_by = min(now, sent_at + self.margin + late_by)
            heapq.heappush(self._held, counted_by + self.window)
            self._in_flight -= 1
            self._cond.notify_all()

    def throttled(self) -> None:
        """Lune answered 429: pause every request one window, lower the rate by a fifth and
        double the margin."""
        if not self.enabled:
            return
        with self._cond:
            now = time.monotonic()
            self.throttles += 1
            self._paused_until = max(self._paused_until, now + self.window)
            self._allowed = max(1, math.floor(self._allowed * 0.8))
            self._recovered_at = self._paused_until
            self.margin = min(self.window / 2, self.margin * 2)

    def _recover(self, now: float) -> None:
        """One request per window back for every whole window without a 429."""
        if self._allowed >= self.capacity:
            return
        steps = int((now - self._recovered_at) // self.window)
        if steps > 0:
            self._allowed = min(self.capacity, self._allowed + steps)
            self._recovered_at += steps * self.window


class _Slot:
    """`with limiter.slot():` waits for a slot before the request, frees it after."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._sent_at = 0.0

    def __enter__(self) -> None:
        self._sent_at = self._limiter.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._limiter.release(self._sent_at)
