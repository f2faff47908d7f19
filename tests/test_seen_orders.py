"""The run's memory of the orders it read (`sources/lune/seen.py`): the answer a plain set of
ids gives, for orders listed newest first, listed twice, out of order or created in the same
microsecond, whether they are still in memory or already written to its temporary file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.lune.seen import SeenOrders

BASE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("chunk", [1, 2, 65_536])
def test_newest_first_then_repeats_and_ties(chunk):
    seen = SeenOrders(chunk)
    listed = [("a", BASE), ("b", BASE - timedelta(seconds=1)), ("c", BASE - timedelta(days=400))]
    assert [seen.add_if_new(i, c) for i, c in listed] == [True, True, True]
    assert seen.add_if_new("b", BASE - timedelta(seconds=1)) is False  # listed again
    assert seen.add_if_new("a", BASE) is False  # far back in the list
    # another order created in the same microsecond as one already read is still new
    assert seen.add_if_new("d", BASE - timedelta(seconds=1)) is True
    assert seen.add_if_new("d", BASE - timedelta(seconds=1)) is False
    # a late order, listed after older ones, is new once and then known
    late = BASE - timedelta(hours=1, microseconds=1)
    assert seen.add_if_new("e", late) is True
    assert seen.add_if_new("e", late) is False
    assert len(seen) == 5


@pytest.mark.parametrize("chunk", [1, 65_536])
def test_one_microsecond_apart_are_two_orders(chunk):
    seen = SeenOrders(chunk)
    assert seen.add_if_new("x", BASE)
    assert seen.add_if_new("x2", BASE - timedelta(microseconds=1))
    assert not seen.add_if_new("x", BASE)
    assert not seen.add_if_new("x2", BASE - timedelta(microseconds=1))


# an order's creation time never changes: ids map to a fixed created_at
_orders = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 5_000_000)), min_size=1, max_size=60
).map(lambda pairs: {f"ord_{n}": BASE - timedelta(microseconds=us) for n, us in pairs})


@settings(max_examples=300, deadline=None)
@given(orders=_orders, data=st.data(), chunk=st.sampled_from([1, 2, 3, 7, 65_536]))
def test_answers_like_a_set_of_ids(orders, data, chunk):
    """Any listing - newest first with repeats, shuffled, ties - against a set of ids, with
    chunks of any size written out (1: every order but the last goes to the file)."""
    ids = sorted(orders, key=lambda i: orders[i], reverse=True)
    listing = data.draw(
        st.one_of(
            # newest first, some orders listed again right after or much later
            st.lists(st.sampled_from(ids), min_size=1, max_size=120).map(
                lambda picks: sorted(picks, key=lambda i: orders[i], reverse=True) + picks[::3]
            ),
            st.permutations(ids + ids[: len(ids) // 2]),
        )
    )
    seen, model = SeenOrders(chunk), set()
    for order_id in listing:
        assert seen.add_if_new(order_id, orders[order_id]) is (order_id not in model)
        model.add(order_id)
    assert len(seen) == len(model)
    seen.close()


def test_memory_holds_one_chunk_whatever_the_account_size():
    """Newest first, 10 chunks' worth of orders: never more than a chunk in memory, and
    every one of them still known once it is on disk."""
    seen = SeenOrders(chunk=100)
    listed = [(f"ord_{n}", BASE - timedelta(seconds=n)) for n in range(1_000)]
    for order_id, created in listed:
        assert seen.add_if_new(order_id, created)
        assert seen.in_memory < 100
    assert len(seen) == 1_000
    assert not any(seen.add_if_new(order_id, created) for order_id, created in listed)
    # a late order older than what is on disk but newer than the last read: kept aside
    assert seen.add_if_new("late", BASE - timedelta(seconds=500, microseconds=1))
    assert not seen.add_if_new("late", BASE - timedelta(seconds=500, microseconds=1))
    assert seen.in_memory < 100 + 1
    seen.close()
    assert seen.in_memory == 0
