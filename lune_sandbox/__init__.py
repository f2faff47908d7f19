"""A local Lune API (api.lune.co/v1) faithful to Lune's published OpenAPI description.

Serves generated accounts, catalogue and orders over HTTP on loopback for the demo, the tests
and the benchmarks, with Lune's per-key rate limit and switchable faults (latency, 5xx, 429
bursts, truncated bodies, stalls, connection resets).

    world = SandboxWorld.generate(seed=7, client_accounts=4, orders_per_account=200)
    with SandboxServer(world, port=0) as server:
        ...  # server.base_url, world.api_key
"""

from .cli import serve
from .faults import Faults
from .server import LogRecord, SandboxServer
from .world import DEFAULT_API_KEY, MALFORMED_KINDS, SandboxWorld

__all__ = [
    "DEFAULT_API_KEY",
    "MALFORMED_KINDS",
    "Faults",
    "LogRecord",
    "SandboxServer",
    "SandboxWorld",
    "serve",
]
