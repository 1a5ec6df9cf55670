"""The learner's consumption of the Redis stream, in-process against a real Redis: exact batches,
stale episodes dropped and counted, and recovery of entries a crashed learner read but never acked."""

from __future__ import annotations

import logging
import time

from common.codec import encode_episode
from common.config import resolve
from common.embedded_redis import free_port
from common.lifecycle import StopFlag
from common.metrics import RoleMetrics
from learner.service import LearnerRole
from tests.helpers import make_episodes


def _learner(store, tmp_path, **extra) -> LearnerRole:
    cfg = resolve(
        None,
        {
            "env.name": "gaussian-squeeze-20",
            "run.name": store.run,
            "learner.weights_bind": f"tcp://127.0.0.1:{free_port()}",
            **extra,
        },
        environ={},
    )
    metrics = RoleMetrics("learner")
    role = LearnerRole(cfg, store, metrics, logging.getLogger("test"), tmp_path)
    role.store.ensure_group()
    return role


def _put(store, episodes):
    for ep in episodes:
        assert store.append_episode(ep.key, ep.header["policy_version"], encode_episode(ep), 60, 1000) == 1


def _value(role, name, **labels):
    return role.metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_sync_collect_takes_current_version_sorted_by_slot_and_drops_stale(store, tmp_path):
    role = _learner(store, tmp_path)
    role.version = 3
    stale = make_episodes("gaussian-squeeze-20", 4, store.run, actor_id=1, version=2)
    current = make_episodes("gaussian-squeeze-20", 10, store.run, actor_id=0, version=3)
    _put(store, stale[:2] + current[::-1] + stale[2:])  # arrival order is scrambled
    got = role.collect(StopFlag(), time.monotonic() + 10)
    assert [ep.header["slot"] for _, ep in got] == list(range(10))
    assert all(ep.header["policy_version"] == 3 for _, ep in got)
    assert _value(role, "vast_learner_episodes_dropped_total", reason="stale") == 2  # read before the 10th
    role.store.ack([entry for entry, _ in got])
    assert store.depth() == 2  # the two stale episodes behind the batch wait for the next read
    role.version = 4
    assert role.collect(StopFlag(), time.monotonic() + 0.5) is None
    assert _value(role, "vast_learner_episodes_dropped_total", reason="stale") == 4
    assert store.depth() == 0
    role.publisher.close()


def test_entries_read_but_never_acked_are_recovered_once_after_a_crash(store, tmp_path):
    episodes = make_episodes("gaussian-squeeze-20", 10, store.run, version=0)
    _put(store, episodes)
    crashed = _learner(store, tmp_path)
    read = store.read_episodes("learner-0", 6, 100)  # the crashed learner got 6 entries, acked none
    assert len(read) == 6
    crashed.publisher.close()
    restarted = _learner(store, tmp_path, **{"learner.mode": "async"})
    got = restarted.collect(StopFlag(), time.monotonic() + 10)
    keys = [ep.key for _, ep in got]
    assert sorted(keys) == sorted(ep.key for ep in episodes), "every episode exactly once"
    assert len(set(keys)) == 10
    assert _value(restarted, "vast_learner_episodes_recovered_total") == 6
    assert _value(restarted, "vast_learner_episodes_dropped_total", reason="stale") == 0
    restarted.publisher.close()


def test_collect_returns_none_when_stopped_instead_of_blocking(store, tmp_path):
    role = _learner(store, tmp_path, **{"learner.read_timeout_s": "0.2"})
    stop = StopFlag()
    stop.set("test")
    start = time.monotonic()
    assert role.collect(stop, time.monotonic() + 60) is None
    assert role.collect(StopFlag(), time.monotonic() + 0.5) is None  # deadline passes with no data
    assert time.monotonic() - start < 5
    role.publisher.close()
