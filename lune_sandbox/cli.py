"""`python -m lune_sandbox` and `lune-pipeline sandbox`: serve a generated world standalone."""

from __future__ import annotations

import argparse
import threading

from .server import SandboxServer
from .world import DEFAULT_API_KEY, SandboxWorld


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    seed: int = 7,
    client_accounts: int = 4,
    orders_per_account: int = 250,
    rate_limit: float | None = 15,
    empty_client_accounts: int = 1,
    open_share: float = 0.05,
    api_key: str = DEFAULT_API_KEY,
    stop: threading.Event | None = None,
) -> None:
    """Generates a world, serves it until Ctrl-C (or until `stop` is set), then stops.

    Prints the base URL and the (sandbox-only) API key, for pointing a client at it.
    """
    world = SandboxWorld.generate(
        seed=seed,
        client_accounts=client_accounts,
        orders_per_account=orders_per_account,
        empty_client_accounts=min(empty_client_accounts, client_accounts),
        open_share=open_share,
        api_key=api_key,
    )
    stop = stop or threading.Event()
    with SandboxServer(world, host=host, port=port, rate_limit=rate_limit) as server:
        limit = f"{rate_limit:g} requests/s per key" if rate_limit else "no rate limit"
        print(f"Lune API sandbox at {server.base_url}/v1 (seed {seed}, {limit})", flush=True)
        print(f"  SOURCES__LUNE__BASE_URL={server.base_url}", flush=True)
        print(f"  SOURCES__LUNE__API_KEY={world.api_key}", flush=True)
        print(
            f"  {len(world.account_ids())} accounts, "
            f"admin at {server.base_url}/_sandbox/"
            "{advance,faults,log,accounts,malformed,estimates,forget,state,webhooks,"
            "webhook-events,webhook-attempts}; Ctrl-C stops it",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lune_sandbox", description="Serve the Lune API sandbox on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--client-accounts", type=int, default=4)
    parser.add_argument("--orders-per-account", type=int, default=250)
    parser.add_argument("--empty-client-accounts", type=int, default=1)
    parser.add_argument("--open-share", type=float, default=0.05)
    parser.add_argument("--rate-limit", type=float, default=15.0, help="0 turns it off")
    args = parser.parse_args(argv)
    serve(
        host=args.host,
        port=args.port,
        seed=args.seed,
        client_accounts=args.client_accounts,
        orders_per_account=args.orders_per_account,
        rate_limit=args.rate_limit or None,
        empty_client_accounts=args.empty_client_accounts,
        open_share=args.open_share,
    )
    return 0
