"""The episode stream sharded over two real Redis servers: an episode lives on the shard its actor id
names, for replay (store, de-duplicate, count), the learner (read every shard, settle on the right one,
keep reading when one shard is down) and flow control (one bound over all shards)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.helpers import RunningReplay, make_episodes, wait_until
from vast.actors.sender import EpisodeSender
from vast.common.codec import encode_episode
from vast.common.config import resolve
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.flow import FlowGate
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.store import RunStore, connect, shard_index
from vast.learner.redis_source import RedisEpisodeSource
from vast.learner.telemetry import LearnerMetrics

LOG = logging.getLogger("test")
ENV = "gaussian-squeeze-50"


@pytest.fixture
def second(tmp_path):
    server = EmbeddedRedis(tmp_path / "shard-1").start()
    yield server
    server.stop()


@pytest.fixture
def sharded(store, second):
    client = connect(second.url, timeout_s=1)
    yield store.add_shards([client])
    client.close()


def _keys(shard: RunStore) -> set[str]:
    return {f[b"k"].decode() for _, f in shard.r.xrange(shard.episodes_key)}


def test_an_episode_lives_on_the_shard_of_its_actor_id():
    assert [shard_index(f"{a}:7", 3) for a in range(6)] == [0, 1, 2, 0, 1, 2]
    assert shard_index("5:1", 1) == 0
    assert shard_index("not-an-actor:1", 2) == 0


def test_replay_stores_each_episode_on_its_shard_and_deduplicates_resends_there(sharded):
    replay = RunningReplay(sharded, ENV)
    first, again = (EpisodeSender(replay.addr, 5, 32, LOG) for _ in range(2))
    episodes = [ep for actor in range(4) for ep in make_episodes(ENV, 3, sharded.run, actor_id=actor)]
    stop = StopFlag()
    try:
        for sender, batch in ((first, episodes), (again, episodes[:5])):  # 5 sent twice (lost acks)
            for ep in batch:
                assert sender.send(ep, stop)
            assert sender.flush(stop, 10)
    finally:
        first.close()
        again.close()
        replay.close()
    assert first.outcomes["accepted"] == 12 and again.outcomes["duplicate"] == 5
    shard0, shard1 = sharded.shards
    assert _keys(shard0) == {ep.key for ep in episodes if ep.header["actor_id"] % 2 == 0}
    assert _keys(shard1) == {ep.key for ep in episodes if ep.header["actor_id"] % 2 == 1}
    assert shard0.ledger() == {"accepted": 6, "duplicate": 3, "buffered": 6}  # actors 0 and 2
    assert shard1.ledger() == {"accepted": 6, "duplicate": 2, "buffered": 6}
    assert sharded.run_ledger() == {"accepted": 12, "duplicate": 5, "buffered": 12}


def test_a_shard_that_is_down_defers_only_its_own_episodes(sharded, second):
    replay = RunningReplay(sharded, ENV)
    sender = EpisodeSender(replay.addr, 0.5, 32, LOG)  # resends after half a second
    even, odd = (make_episodes(ENV, 3, sharded.run, actor_id=a) for a in (0, 1))
    stop = StopFlag()
    try:
        second.stop()
        for ep in even + odd:
            assert sender.send(ep, stop)
        wait_until(lambda: sender.poll(0.05) >= 0 and sender.outcomes["accepted"] == 3, 10, "shard 0's acks")
        assert set(sender.pending) == {ep.key.encode() for ep in odd}  # unanswered, resent meanwhile
        # every odd episode reaches replay and is deferred (the acks above may overtake the last of them)
        wait_until(
            lambda: (
                sender.poll(0.05) >= 0
                and replay.value("vast_replay_episodes_deferred_total", cause="redis") >= 3
            ),
            10,
            "shard 1's episodes deferred",
        )
        assert sender.outcomes["accepted"] == 3
        second.start()
        assert sender.flush(stop, 20), "shard 1's episodes are stored once it is back"
    finally:
        sender.close()
        replay.close()
    assert sender.outcomes == {"accepted": 6, "duplicate": 0, "rejected": 0}
    assert [s.ledger()["accepted"] for s in sharded.shards] == [3, 3]


def _source(store) -> RedisEpisodeSource:
    cfg = resolve(
        None,
        {"env.name": ENV, "run.name": store.run, "learner.mode": "async", "learner.read_timeout_s": "0.2"},
        environ={},
    )
    return RedisEpisodeSource(
        cfg, cfg.env.spec(), store, LearnerMetrics(RoleMetrics("learner")), logging.getLogger("test")
    )


def _put(store: RunStore, episodes) -> None:
    for ep in episodes:
        stored = store.shard(ep.key).append_episode(ep.key, 0, encode_episode(ep), 60, 1000)
        assert stored == 1


def test_the_learner_reads_every_shard_and_settles_each_episode_on_its_own(sharded):
    source = _source(sharded)
    _put(sharded, make_episodes(ENV, 4, sharded.run, actor_id=0) + make_episodes(ENV, 4, sharded.run, 1))
    got = source.collect(0, 8, StopFlag(), time.monotonic() + 10)
    assert sorted(ep.header["actor_id"] for _, ep in got) == [0] * 4 + [1] * 4
    source.ack([handle for handle, _ in got])
    for shard in sharded.shards:
        assert shard.ledger() == {"accepted": 4, "consumed": 4, "buffered": 0}
        markers = [shard.r.get(k) for k in shard.r.scan_iter(match=f"{shard.prefix}:seen:*")]
        assert markers == [b"consumed"] * 4


def test_the_learner_keeps_reading_the_other_shards_while_one_is_down(sharded, second):
    source = _source(sharded)
    errors = lambda: source.m.registry.registry.get_sample_value("vast_learner_redis_errors_total")  # noqa: E731
    _put(sharded, make_episodes(ENV, 3, sharded.run, actor_id=1))
    second.stop()
    _put(sharded, make_episodes(ENV, 3, sharded.run, actor_id=0))

    def feed_after_a_failed_read() -> None:
        wait_until(lambda: errors() >= 1, 10, "a failed read of shard 1")
        _put(sharded, make_episodes(ENV, 2, sharded.run, actor_id=2))

    feeder = threading.Thread(target=feed_after_a_failed_read, daemon=True)
    feeder.start()
    got = source.collect(0, 5, StopFlag(), time.monotonic() + 20)
    feeder.join(10)
    assert sorted(ep.header["actor_id"] for _, ep in got) == [0, 0, 0, 2, 2]
    second.start()  # same folder, no persistence: shard 1 came back empty, the learner re-creates its group
    _put(sharded, make_episodes(ENV, 2, sharded.run, actor_id=3))
    got = source.collect(0, 2, StopFlag(), time.monotonic() + 20)
    assert [ep.header["actor_id"] for _, ep in got] == [3, 3]


def test_flow_control_bounds_the_episodes_of_every_shard_together(sharded):
    for shard, n in zip(sharded.shards, (6, 9)):
        for i in range(n):
            shard.r.xadd(shard.episodes_key, {"k": f"x:{i}", "d": b""})
    gate = FlowGate(sharded, "a", bound=20)
    assert not gate.try_reserve(6)  # 6 + 9 stored on two servers + 6 > 20
    assert gate.try_reserve(5)
