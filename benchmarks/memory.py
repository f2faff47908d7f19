"""Resident memory of this process: the high-water mark, and a sampled timeline.

VmHWM (from /proc/self/status) is this process's own peak. `ru_maxrss` is not used: on Linux
a child started with vfork+exec (what `subprocess` does) inherits the parent's high-water mark
in `ru_maxrss`, so with the sandbox's 100,000 orders in the parent it reads 600+ MB for a
20 MB child.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence


def status_mb(field: str) -> float | None:
    """`VmHWM` / `VmRSS` of this process in MB (None off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS every `interval` seconds in a daemon thread, to attribute the peak."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.started = 0.0

    def __enter__(self) -> RssSampler:
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = status_mb("VmRSS")
            if rss is not None:
                self.samples.append((time.perf_counter() - self.started, rss))
            self._stop.wait(self.interval)

    def peaks(self, phases: Sequence[tuple[str, float]]) -> dict[str, float]:
        """Peak sampled RSS (MB) within consecutive phases given as (name, seconds)."""
        found: dict[str, float] = {}
        start = 0.0
        for name, seconds in phases:
            end = start + seconds
            inside = [rss for t, rss in self.samples if start <= t <= end]
            if inside:
                found[name] = max(inside)
            start = end
        return found
