"""The Redis episode source, in-process against a real Redis: exact batches,
stale episodes dropped and counted, and recovery of entries a crashed learner read but never acked."""

from __future__ import annotations

import logging
import threading
import time

from tests.helpers import make_episodes, wait_until
from vast.common.codec import encode_episode
from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.learner.redis_source import RedisEpisodeSource
from vast.learner.telemetry import LearnerMetrics


def _source(store, **extra) -> RedisEpisodeSource:
    cfg = resolve(None, {"env.name": "gaussian-squeeze-20", "run.name": store.run, **extra}, environ={})
    metrics = LearnerMetrics(RoleMetrics("learner"))
    return RedisEpisodeSource(cfg, cfg.env.spec(), store, metrics, logging.getLogger("test"))


def _put(store, episodes):
    for ep in episodes:
        assert store.append_episode(ep.key, ep.header["policy_version"], encode_episode(ep), 60, 1000) == 1


def _value(source, name, **labels):
    return source.m.registry.registry.get_sample_value(name, labels or None) or 0.0


def test_sync_collect_takes_current_version_sorted_by_slot_and_drops_stale(store):
    role = _source(store)
    stale = make_episodes("gaussian-squeeze-20", 4, store.run, actor_id=1, version=2)
    current = make_episodes("gaussian-squeeze-20", 10, store.run, actor_id=0, version=3)
    _put(store, stale[:2] + current[::-1] + stale[2:])  # arrival order is scrambled
    got = role.collect(3, 10, StopFlag(), time.monotonic() + 10)
    assert [ep.header["slot"] for _, ep in got] == list(range(10))
    assert all(ep.header["policy_version"] == 3 for _, ep in got)
    assert _value(role, "vast_learner_episodes_dropped_total", reason="stale") == 2  # read before the 10th
    role.ack([handle for handle, _ in got])
    assert store.depth() == 2  # the two stale episodes behind the batch wait for the next read
    assert role.collect(4, 10, StopFlag(), time.monotonic() + 0.5) is None
    assert _value(role, "vast_learner_episodes_dropped_total", reason="stale") == 4
    assert store.depth() == 0
    assert role.dropped() == {"stale": 4}


def test_entries_read_but_never_acked_are_recovered_once_after_a_crash(store):
    episodes = make_episodes("gaussian-squeeze-20", 10, store.run, version=0)
    _put(store, episodes)
    _source(store)
    read = store.read_episodes("learner-0", 6, 100)  # the crashed learner got 6 entries, acked none
    assert len(read) == 6
    restarted = _source(store, **{"learner.mode": "async"})
    got = restarted.collect(0, 10, StopFlag(), time.monotonic() + 10)
    keys = [ep.key for _, ep in got]
    assert sorted(keys) == sorted(ep.key for ep in episodes), "every episode exactly once"
    assert len(set(keys)) == 10
    assert _value(restarted, "vast_learner_episodes_recovered_total") == 6
    assert _value(restarted, "vast_learner_episodes_dropped_total", reason="stale") == 0


def test_collect_returns_none_when_stopped_instead_of_blocking(store):
    role = _source(store, **{"learner.read_timeout_s": "0.2"})
    stop = StopFlag()
    stop.set("test")
    start = time.monotonic()
    assert role.collect(0, 10, stop, time.monotonic() + 60) is None
    assert role.collect(0, 10, StopFlag(), time.monotonic() + 0.5) is None  # deadline passes with no data
    assert time.monotonic() - start < 5


def _identity_holds(store) -> dict:
    ledger = store.ledger()
    dropped = sum(v for k, v in ledger.items() if k.startswith("dropped:"))
    assert ledger["accepted"] == ledger.get("consumed", 0) + dropped + ledger["buffered"], ledger
    return ledger


def test_the_ledger_identity_holds_and_settling_twice_counts_once(store):
    role = _source(store)
    _put(store, make_episodes("gaussian-squeeze-20", 3, store.run, actor_id=1, version=0))
    _put(store, make_episodes("gaussian-squeeze-20", 10, store.run, actor_id=0, version=1))
    _identity_holds(store)
    got = role.collect(1, 10, StopFlag(), time.monotonic() + 10)
    _identity_holds(store)
    role.ack([h for h, _ in got])
    role.ack([h for h, _ in got])  # a retry after a lost reply
    ledger = _identity_holds(store)
    assert (ledger["consumed"], ledger["dropped:stale"], ledger["buffered"]) == (10, 3, 0)
    states = {store.r.get(store.seen_key(ep.key)) for _, ep in got}
    assert states == {b"consumed"}


def test_collect_and_ack_ride_out_a_redis_crash_and_lose_nothing(tmp_path, run_name):
    from vast.common.embedded_redis import EmbeddedRedis
    from vast.common.store import RunStore, connect

    server = EmbeddedRedis(tmp_path / "redis", appendonly=True, appendfsync="always").start()
    store = RunStore(connect(server.url, timeout_s=1.0), run_name)
    role = _source(store, **{"learner.read_timeout_s": "0.2", "learner.mode": "async"})
    role.stop = StopFlag()
    episodes = make_episodes("gaussian-squeeze-20", 10, run_name, version=0)
    _put(store, episodes[:5])
    result = {}
    collector = threading.Thread(
        target=lambda: result.setdefault("got", role.collect(0, 10, StopFlag(), time.monotonic() + 60))
    )
    collector.start()
    try:
        wait_until(lambda: store.r.xpending(store.episodes_key, "learner")["pending"] == 5, 10, "5 read")
        server.proc.kill()  # kill -9: the 5 delivered entries are in the append-only file
        server.proc.wait()
        wait_until(lambda: _value(role, "vast_learner_redis_errors_total") >= 1, 10, "a failed read")
        server.start()  # same port, same folder
        _put(store, episodes[5:])
        collector.join(30)
        assert not collector.is_alive()
        got = result["got"]
        assert sorted(ep.key for _, ep in got) == sorted(ep.key for ep in episodes), "each exactly once"
        server.proc.kill()
        server.proc.wait()
        acker = threading.Thread(target=role.ack, args=([h for h, _ in got],))
        acker.start()  # retries with backoff while Redis is down...
        wait_until(lambda: _value(role, "vast_learner_redis_errors_total") >= 3, 10, "failed settles")
        server.start()
        acker.join(30)
        assert not acker.is_alive()  # ...and settles once it is back
        assert _identity_holds(store)["consumed"] == 10
    finally:
        role.stop.set()
        server.stop()


def test_a_dead_actors_slots_are_reissued_and_a_long_wait_is_reported(store, caplog):
    role = _source(
        store,
        **{"actors": "2", "learner.episodes_per_update": "4", "run.heartbeat_ttl_s": "0.5"},
        **{"learner.stall_warn_s": "0.5", "learner.read_timeout_s": "0.2"},
    )
    role.epoch = 77
    for actor in ("0", "1"):
        store.announce("actor", actor, "http://x")  # both started once...
    store.heartbeat("actor", "0", ttl_s=30)  # ...but only actor 0 is alive
    mine = make_episodes("gaussian-squeeze-20", 4, store.run, actor_id=0, version=0)
    _put(store, [ep for ep in mine if ep.header["slot"] in (0, 2)])
    result = {}
    collector = threading.Thread(
        target=lambda: result.setdefault("got", role.collect(0, 4, StopFlag(), time.monotonic() + 30))
    )
    with caplog.at_level(logging.WARNING):
        collector.start()
        wait_until(lambda: store.reissued(77, 0), 10, "the dead actor's group to be re-issued")
        assert store.reissued(77, 0) == [1] and store.reissued(76, 0) == []
        assert _value(role, "vast_learner_input_wait_seconds") > 0.4
        assert store.claim(77, 0, 1, actor_id=0, ttl_s=30) and not store.claim(77, 0, 1, actor_id=5, ttl_s=30)
        taken_over = make_episodes("gaussian-squeeze-20", 4, store.run, actor_id=0, version=0, seed=9)
        for ep in taken_over:
            ep.header["episode_id"] += 100
        _put(store, [ep for ep in taken_over if ep.header["slot"] in (1, 3)])  # actor 0 played group 1
        collector.join(20)
    assert [ep.header["slot"] for _, ep in result["got"]] == [0, 1, 2, 3]
    assert _value(role, "vast_learner_slot_groups_reissued_total") == 1
    assert _value(role, "vast_learner_input_wait_seconds") == 0
    assert any("input stalled" in r.message for r in caplog.records)
    assert any("re-issued work-slot groups [1]" in r.message for r in caplog.records)
