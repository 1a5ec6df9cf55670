"""The Redis episode source, in-process against a real Redis: exact batches,
stale episodes dropped and counted, and recovery of entries a crashed learner read but never acked."""

from __future__ import annotations

import logging
import time

from tests.helpers import make_episodes
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
