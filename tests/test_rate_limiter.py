"""The client's limiter against Lune's own window (the sandbox's `faults.RateLimiter`): the
whole budget of 15 requests per sliding second, and not one request refused, whether the
server counts a request at once or after a latency; slower after a 429. Throughput is not
asserted here (timers are for `make bench`), only that nothing is ever refused."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from lune_sandbox.faults import RateLimiter as LuneWindow
from sources.lune.limiter import RateLimiter
from tests.support.env import environment
from tests.support.loader import Loader


def _hammer(
    limiter: RateLimiter,
    before_count: float,
    jitter: float,
    threads: int,
    seconds: float,
    straggler: tuple[int, float] = (0, 0.0),
):
    """Requests from several threads through `limiter` to a server that counts each one
    `before_count` (+ up to `jitter`) after it was sent, and every `straggler[0]`-th request
    `straggler[1]` later still (a stalled send, a busy server); returns (admitted, refused)."""
    server = LuneWindow(15)
    outcome = {"admitted": 0, "refused": 0}
    every, extra = straggler
    sent = itertools.count(1)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            with limiter.slot():
                with lock:
                    late = extra if every and next(sent) % every == 0 else 0.0
                time.sleep(before_count + rng.uniform(0, jitter) + late)
                admitted = server.admit("key")
                time.sleep(rng.uniform(0, 0.003))  # the response on its way back
            with lock:
                outcome["admitted" if admitted else "refused"] += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcome["admitted"], outcome["refused"]


@pytest.mark.parametrize(
    ("before_count", "jitter", "threads"),
    [(0.0, 0.002, 1), (0.0, 0.004, 6), (0.15, 0.01, 4), (0.05, 0.02, 8)],
    ids=["one-thread", "no-latency", "150ms", "50ms-jittery"],
)
def test_never_refused_by_lunes_window(before_count, jitter, threads):
    admitted, refused = _hammer(RateLimiter(15), before_count, jitter, threads, seconds=2.5)
    assert refused == 0
    assert admitted >= 30  # the budget was actually used, more than one window's worth


def test_a_straggler_holds_its_slot_until_it_can_have_been_counted():
    """One request in 25 is counted 80 ms later than the rest (more than the least margin):
    its slot must not free before Lune's window lets the next request in. Its own round trip
    shows the delay, so the limiter holds that slot longer; the others keep the full rate."""
    admitted, refused = _hammer(
        RateLimiter(15), 0.15, 0.004, threads=4, seconds=4.5, straggler=(25, 0.08)
    )
    assert refused == 0
    assert admitted >= 60


def test_a_429_pauses_slows_down_and_recovers():
    limiter = RateLimiter(15, window=0.2)
    limiter.throttled()
    assert limiter.allowed == 12
    assert limiter.margin == pytest.approx(0.05)
    started = time.monotonic()
    with limiter.slot():
        waited = time.monotonic() - started
    assert waited >= 0.19  # held for one window, so Lune's window empties
    time.sleep(0.2 * 4)
    with limiter.slot():
        pass
    assert limiter.allowed == 15  # one request back per window without a 429


def test_off_at_zero():
    limiter = RateLimiter(0)
    for _ in range(1000):
        with limiter.slot():
            pass
    limiter.throttled()
    assert not limiter.enabled


def test_fractional_rate_keeps_its_average():
    limiter = RateLimiter(2.5)
    assert (limiter.capacity, limiter.window) == (2, pytest.approx(0.8))


def test_a_backfill_at_the_default_rate_gets_no_429(tmp_path):
    """The product's defaults against the sandbox's 15 requests/s: every page, no refusal."""
    world = SandboxWorld.generate(
        seed=3, client_accounts=3, orders_per_account=1_200, empty_client_accounts=0
    )
    with (
        SandboxServer(world, port=0, rate_limit=15) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        loader = Loader(workdir=tmp_path)
        summary = loader.run()
        log = server.request_log
    assert len(log) > 45  # several windows' worth of requests
    assert [r for r in log if r.status == 429] == []
    assert summary.requests.get("retries", 0) == 0
    assert loader.differences(world) == []
