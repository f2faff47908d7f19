"""Reading every account's pages ahead on a first load, while dlt sets the pipeline up.

On the first run into a new warehouse every account is read from its newest order to its
oldest, so the source reads each account's pages a few ahead before the sync takes them
(`reads.EarlyReads` with `read_through`). What must hold: the reads start before the extract,
stay within their bound while nobody takes them, each page is requested once, the warehouse
equals the sandbox, and a run that has saved state reads only what its plan needs; were the
runner wrong about "nothing loaded", a few pages would go unused and no row would change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import dlt
import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from pipelines import runner
from sources.lune.client import LuneClient, ReadAhead
from tests.support.env import environment
from tests.support.loader import Loader

# orders per account index; at 100 a page: 3, 1, 4 and 2 pages
_ORDERS = {0: 230, 1: 90, 2: 310, 3: 150}
_PAGES = {0: 3, 1: 1, 2: 4, 3: 2}
# pages read before the sync takes any: two waiting and one more read (reads.py), or fewer
_AHEAD = 3


def _world() -> SandboxWorld:
    return SandboxWorld.generate(
        seed=43, client_accounts=3, orders_per_account=_ORDERS, open_share=0.15
    )


def _order_pages(server: SandboxServer) -> list[tuple[str | None, str]]:
    return [(r.account_id, r.query) for r in server.request_log if r.path == "/v1/orders"]


def _readers_left(seconds: float = 10) -> list[str]:
    """The source's reader threads still alive after waiting up to `seconds` for them."""

    def readers() -> list[str]:
        ours = ("lune-early", "lune-read-through", "lune-prefetch", "lune-account")
        return [t.name for t in threading.enumerate() if t.name.startswith(ours)]

    deadline = time.monotonic() + seconds
    while readers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return readers()


@pytest.fixture
def served(tmp_path):
    world = _world()
    loader = Loader(workdir=tmp_path, source_options={"max_requests_per_second": 0})
    with (
        SandboxServer(world, port=0, rate_limit=None) as server,
        environment(SOURCES__LUNE__API_KEY=world.api_key, SOURCES__LUNE__BASE_URL=server.base_url),
    ):
        yield world, server, loader


def _hold_state_sync(monkeypatch, server: SandboxServer, expected: int) -> dict[str, Any]:
    """Makes dlt's state sync (before the extract) wait until `expected` order pages were
    requested, then notes how many were requested by then and a little later."""
    seen: dict[str, Any] = {}
    original = dlt.Pipeline.sync_destination

    def held(pipeline: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 30
        while len(_order_pages(server)) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["when_reached"] = len(_order_pages(server))
        time.sleep(0.3)  # room for a reader that did not stop at its bound to overrun it
        seen["a_little_later"] = len(_order_pages(server))
        return original(pipeline, *args, **kwargs)

    monkeypatch.setattr(dlt.Pipeline, "sync_destination", held)
    return seen


def test_a_first_load_reads_pages_ahead_within_the_bound_and_each_page_once(served, monkeypatch):
    world, server, loader = served
    bound = sum(min(pages, _AHEAD) for pages in _PAGES.values())  # 3 + 1 + 3 + 2
    seen = _hold_state_sync(monkeypatch, server, bound)

    summary = loader.run()

    assert seen == {"when_reached": bound, "a_little_later": bound}
    pages = _order_pages(server)
    assert Counter(pages).most_common(1)[0][1] == 1  # no page requested twice
    by_account = Counter(account for account, _ in pages)
    ids = world.account_ids()
    assert by_account == {ids[i]: _PAGES[i] for i in _PAGES}
    assert {a["account_id"]: a["requests"]["list_pages"] for a in summary.accounts} == {
        ids[i]: _PAGES[i] for i in _PAGES
    }
    assert loader.differences(world) == []


def test_a_run_with_saved_state_reads_only_the_first_page_early(served, monkeypatch):
    world, server, loader = served
    loader.run()
    world.advance(new_orders=0, transitions=0)
    server.clear_log()
    # only each account's first page may be read before the extract: one per account
    seen = _hold_state_sync(monkeypatch, server, len(_PAGES))

    summary = loader.run()

    assert seen == {"when_reached": len(_PAGES), "a_little_later": len(_PAGES)}
    assert len(_order_pages(server)) == sum(a["requests"]["list_pages"] for a in summary.accounts)
    assert loader.differences(world) == []


def test_a_wrong_guess_of_nothing_loaded_costs_unused_pages_not_rows(served, monkeypatch):
    world, server, loader = served
    loader.run()
    world.advance(new_orders=40, transitions=25)
    server.clear_log()
    monkeypatch.setattr(runner, "_nothing_loaded", lambda options, destination: True)

    summary = loader.run()

    assert loader.differences(world) == []
    consumed = {a["account_id"]: a["requests"]["list_pages"] for a in summary.accounts}
    requested = Counter(account for account, _ in _order_pages(server))
    for account, pages in consumed.items():
        assert pages <= requested[account] <= max(pages, _AHEAD + 1)


def test_a_run_that_fails_before_its_extract_leaves_no_reader_behind(served, monkeypatch):
    _, server, loader = served
    bound = sum(min(pages, _AHEAD) for pages in _PAGES.values())
    held = _hold_state_sync(monkeypatch, server, bound)  # the readers are at their bound
    original = dlt.Pipeline.sync_destination

    def failing(pipeline: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        original(pipeline, *args, **kwargs)
        raise OSError("the warehouse's disk is gone")

    monkeypatch.setattr(dlt.Pipeline, "sync_destination", failing)
    with pytest.raises(runner.RunError, match="disk is gone"):
        loader.run()
    assert held["a_little_later"] == bound

    assert _readers_left() == []
    assert len(_order_pages(server)) == bound  # stopped, not read to the end


def test_a_run_that_fails_in_its_extract_leaves_no_reader_behind(served, monkeypatch):
    """The first account's first batch fails: the accounts whose turn never came had their
    pages read ahead, and their readers stop with the run."""
    import sources.lune as source

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the batch could not be converted")

    _, _, loader = served
    monkeypatch.setattr(source, "_tables", failing)
    with pytest.raises(runner.RunError, match="could not be converted"):
        loader.run()

    assert _readers_left() == []


def test_nothing_is_loaded_only_without_a_warehouse_file_and_a_pipeline_folder(served):
    _, _, loader = served
    options = loader.options()
    destination = runner.make_destination(options)
    assert runner._nothing_loaded(options, destination) is True

    loader.run()
    assert runner._nothing_loaded(options, destination) is False

    # a runner with an empty disk (CI, a fresh worker): the warehouse has the state
    for path in sorted(loader.pipelines_dir.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    loader.pipelines_dir.rmdir()
    assert runner._nothing_loaded(options, destination) is False

    # another warehouse is never asked
    postgres = dlt.destinations.postgres(credentials="postgresql://u:p@127.0.0.1:9/db")
    assert runner._nothing_loaded(options, postgres) is False


def test_read_ahead_raises_where_the_item_is_taken_and_stops_when_closed():
    taken: list[int] = []

    def items():
        for i in range(1_000):
            taken.append(i)
            yield i

    reader = ReadAhead(items(), depth=2)
    assert next(reader) == 0
    reader.close()
    assert not any(t.name == "lune-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(taken) <= 4  # one taken, two waiting, one being put when stopped

    def failing():
        yield 1
        raise ValueError("page 2 is broken")

    reader = ReadAhead(failing())
    assert next(reader) == 1
    with pytest.raises(ValueError, match="page 2 is broken"):
        next(reader)
    assert list(reader) == []


def test_early_bodies_are_taken_first_and_the_list_continues_after_them(served):
    world, server, _ = served
    own = world.account_ids()[0]
    with LuneClient(world.api_key, server.base_url, max_requests_per_second=0) as client:
        first = client.get("/v1/orders", params={"limit": 100}, kind="list_page")
        server.clear_log()
        pages = list(client.paginate("/v1/orders", early=iter([first])))
    assert [o["id"] for page in pages for o in page] == [o["id"] for o in world.orders(own)]
    assert len(_order_pages(server)) == _PAGES[0] - 1  # the first page was not asked again
