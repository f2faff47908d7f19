"""Sandbox worlds for the benchmark, and the incremental planner's request bound.

The bound is computed here from the sandbox itself, independently of the planner's own
`planned_request_bound`, with the README's formula per account:

    new pages + min(scan pages, open orders)
    new pages  = max(1, ceil((new orders + orders in the look-back window) / 100))
    scan pages = pages below the new-order pages down to the deepest open order
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lune_sandbox import SandboxWorld

OPEN_STATUSES = frozenset({"received", "placed", "paid", "retiring"})
LOOKBACK = timedelta(seconds=300)  # the product's default look-back
PAGE_SIZE = 100


def spread(total: int, accounts: int) -> dict[int, int]:
    """`total` orders over account indexes 0..accounts-1 (0 = the key's own account)."""
    base, extra = divmod(total, accounts)
    return {i: base + (1 if i < extra else 0) for i in range(accounts)}


def build_world(
    orders: int, accounts: int, open_orders: int, seed: int = 7, lazy: bool = False
) -> SandboxWorld:
    """`orders` over `accounts` accounts with orders, plus one empty client account.

    About `open_orders` of them are still open (the newest ones, as the sandbox makes them).
    """
    share = min(1.0, open_orders / orders) if orders else 0.0
    return SandboxWorld.generate(
        seed=seed,
        client_accounts=accounts,  # accounts - 1 with orders, and the last one empty
        orders_per_account=spread(orders, accounts),
        open_share=share,
        lazy=lazy,
    )


def build_single_account_world(orders: int, open_orders: int, seed: int = 11) -> SandboxWorld:
    """The key's own account alone, with `orders` orders of which ~`open_orders` are open."""
    return SandboxWorld.generate(
        seed=seed,
        client_accounts=0,
        empty_client_accounts=0,
        orders_per_account=orders,
        open_share=min(1.0, open_orders / orders) if orders else 0.0,
    )


def warm(world: SandboxWorld) -> int:
    """Renders every order's JSON once (the sandbox prices and serializes lazily), so no
    contender pays for the sandbox's first render; returns the bytes of order JSON served."""
    total = 0
    with world.lock:
        for account_id in world.account_ids():
            for entry in world.account_state(account_id).book.newest_first():
                total += len(entry.blob)
    return total


@dataclass
class AccountSnapshot:
    """What the planner knows about one account after a run, taken from the sandbox."""

    account_id: str
    orders: int = 0
    high_water: datetime | None = None
    window: int = 0  # orders created within the look-back window below the high-water mark
    open_positions: list[int] = field(default_factory=list)  # newest-first list positions


def snapshot(world: SandboxWorld) -> dict[str, AccountSnapshot]:
    """Each account's orders, high-water mark, look-back window and open order positions."""
    found: dict[str, AccountSnapshot] = {}
    with world.lock:
        for account_id in world.account_ids():
            snap = AccountSnapshot(account_id)
            created: list[datetime] = []
            for position, entry in enumerate(world.account_state(account_id).book.newest_first()):
                if not entry.valid:
                    continue
                snap.orders += 1
                created.append(datetime.fromisoformat(entry.key[0]))
                if entry.status in OPEN_STATUSES:
                    snap.open_positions.append(position)
            if created:
                snap.high_water = max(created)
                floor = snap.high_water - LOOKBACK
                snap.window = sum(1 for c in created if c >= floor)
            found[account_id] = snap
    return found


def account_of(world: SandboxWorld, order_ids: list[str]) -> dict[str, int]:
    """How many of `order_ids` each account holds."""
    counts: dict[str, int] = {}
    with world.lock:
        for account_id in world.account_ids():
            book = world.account_state(account_id).book
            counts[account_id] = sum(1 for i in order_ids if i in book.by_id)
    return counts


def request_bound(
    before: dict[str, AccountSnapshot], new_by_account: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """The README's bound on `/v1/orders` requests per account for the next run."""
    bounds: dict[str, dict[str, Any]] = {}
    for account_id, snap in before.items():
        new = new_by_account.get(account_id, 0)
        new_pages = max(1, math.ceil((new + snap.window) / PAGE_SIZE))
        if snap.open_positions:
            deepest = max(snap.open_positions) + new
            scan_pages = max(0, deepest // PAGE_SIZE + 1 - new_pages)
        else:
            scan_pages = 0
        refresh = min(scan_pages, len(snap.open_positions))
        bounds[account_id] = {
            "new": new,
            "window": snap.window,
            "open": len(snap.open_positions),
            "new_pages": new_pages,
            "scan_pages": scan_pages,
            "bound": new_pages + refresh,
        }
    return bounds
