"""Async flow control against a real Redis: actors reserve room in the backlog before they play."""

from __future__ import annotations

from tests.helpers import wait_until
from vast.common.flow import FlowGate, backlog_bound
from vast.common.protocol import drop_reason


def _fill(store, n: int) -> None:
    for i in range(n):
        store.r.xadd(store.episodes_key, {"k": f"x:{i}", "d": b""})


def test_the_bound_is_the_batch_in_training_plus_the_queued_ones():
    assert backlog_bound(10, 1) == 20 and backlog_bound(10, 0) == 10 and backlog_bound(4, 3) == 16


def test_reservations_and_stored_episodes_share_one_bound(store):
    a, b = FlowGate(store, "a", bound=20), FlowGate(store, "b", bound=20)
    _fill(store, 8)
    assert a.try_reserve(5)  # 8 stored + 5
    assert b.try_reserve(7)  # 8 + 5 + 7 = 20
    assert not b.try_reserve(8)  # its own reservation is replaced, not added: 8 + 5 + 8 > 20
    assert b.try_reserve(7)
    assert not b.try_reserve(8, outstanding=7)  # 7 sent, not yet stored: 8 + 5 + 7 + 8 > 20
    assert not FlowGate(store, "c", bound=20).try_reserve(1)
    a.release()  # a's episodes were all stored (counted in the stream) or it stopped
    assert FlowGate(store, "c", bound=20).try_reserve(5)


def test_a_waiting_actor_holds_only_what_it_has_outstanding(store):
    """The deadlock this prevents: four actors whose earlier batches were all stored kept their old
    reservations while waiting, so stream + reservations stayed over the bound and nobody could play."""
    gates = [FlowGate(store, f"a{i}", bound=20) for i in range(4)]
    assert all(g.try_reserve(3) for g in gates)  # 12 reserved
    _fill(store, 9)  # most of them were stored since (9 in the stream, read by the learner)
    assert not gates[0].try_reserve(3, outstanding=0)  # 9 + 3 + 3 + 3 + 3 > 20: wait, but drop the stale 3
    assert gates[1].try_reserve(3, outstanding=0)  # 9 + (a2, a3: 6) + 3 <= 20
    assert gates[2].try_reserve(3, outstanding=0)
    assert gates[3].try_reserve(3, outstanding=0)
    assert not gates[0].try_reserve(3, outstanding=0)  # 9 stored + 9 reserved: the bound holds


def test_a_crashed_actors_reservation_expires(store):
    dead = FlowGate(store, "dead", bound=10, ttl_s=0.3)
    assert dead.try_reserve(10)
    live = FlowGate(store, "live", bound=10)
    assert not live.try_reserve(1)
    wait_until(lambda: live.try_reserve(1), 10, "the dead actor's reservation to expire")
    assert store.r.hlen(f"{store.prefix}:flow:reserved") == 1  # the expired one was removed


def test_a_batch_larger_than_the_bound_fits_into_an_empty_backlog_only(store):
    big = FlowGate(store, "big", bound=4)
    _fill(store, 1)
    assert not big.try_reserve(6)
    store.r.delete(store.episodes_key)
    assert big.try_reserve(6)


def test_the_staleness_rule():
    header = {"policy_version": 5, "slot": -1}
    kwargs = {"taken_slots": {}, "episodes_per_update": 10, "max_policy_lag": 2}
    assert drop_reason(header, mode="async", learner_version=7, **kwargs) is None
    assert drop_reason(header, mode="async", learner_version=8, **kwargs) == "stale"
    assert drop_reason(header, mode="async", learner_version=4, **kwargs) == "future"  # a restarted learner
    sync = {"policy_version": 5, "slot": 3}
    assert drop_reason(sync, mode="sync", learner_version=5, **kwargs) is None
    assert drop_reason(sync, mode="sync", learner_version=6, **kwargs) == "stale"
    assert (
        drop_reason(sync, mode="sync", learner_version=5, **{**kwargs, "taken_slots": {3: 0}})
        == "duplicate_slot"
    )
