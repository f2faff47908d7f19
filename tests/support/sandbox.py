"""Pytest fixtures for the Lune API sandbox: a small generated world and a live loopback server.

`tests/conftest.py` imports these with `from tests.support.sandbox import *`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lune_sandbox import SandboxServer, SandboxWorld

__all__ = ["SANDBOX_ORDERS", "SANDBOX_SEED", "sandbox_client", "sandbox_server", "sandbox_world"]

SANDBOX_SEED = 20261101


# Accounts of different sizes, two of them longer than one 100-order page, the last one empty.
SANDBOX_ORDERS = {0: 120, 1: 60, 2: 150, 3: 45}


@pytest.fixture
def sandbox_world() -> SandboxWorld:
    """Own account + 4 client accounts (~45-150 orders each, the 4th empty), 10% still open."""
    return SandboxWorld.generate(
        seed=SANDBOX_SEED,
        client_accounts=4,
        orders_per_account=SANDBOX_ORDERS,
        open_share=0.1,
    )


@pytest.fixture
def sandbox_server(sandbox_world: SandboxWorld) -> Iterator[SandboxServer]:
    """The world served on a free loopback port with Lune's 15 requests/s limit."""
    with SandboxServer(sandbox_world, host="127.0.0.1", port=0, rate_limit=15) as server:
        yield server


@pytest.fixture
def sandbox_client(
    sandbox_server: SandboxServer, sandbox_world: SandboxWorld
) -> Iterator[httpx.Client]:
    """An httpx client for the running sandbox, authenticated with the world's key."""
    with httpx.Client(
        base_url=sandbox_server.base_url,
        headers={
            "Authorization": f"Bearer {sandbox_world.api_key}",
            "Lune-Version": "2024-08-08",
        },
        timeout=10.0,
    ) as client:
        yield client
