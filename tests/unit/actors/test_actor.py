"""The actor loop against a real replay service, a real Redis and real weight broadcasts: it reports a
silent learner, follows a restarted learner back to an older version, and takes over the work slots of
a missing actor, producing exactly the episodes that actor would have played."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zmq

from tests.helpers import RoleThread, RunningReplay, wait_until
from vast.actors.actor import ActorRole
from vast.common.codec import decode_episode
from vast.common.config import resolve
from vast.common.metrics import RoleMetrics
from vast.common.networks import make_policy
from vast.common.ports import free_port
from vast.common.protocol import sync_seed, sync_slots
from vast.common.rollout import EpisodePlayer
from vast.learner.publisher import WeightPublisher

ENV = "gaussian-squeeze-20"


class RunningActor(RoleThread):
    def __init__(self, store, replay: RunningReplay, weights_port: int, **extra):
        overrides = {
            "env.name": ENV,
            "run.name": store.run,
            "actor.replay_addr": replay.addr,
            "actor.weights_addr": f"tcp://127.0.0.1:{weights_port}",
            "actor.weight_wait_s": "0.5",
            **extra,
        }
        self.cfg = resolve(None, overrides, environ={})
        self.log = logging.getLogger("test.actor")
        metrics = RoleMetrics("actor")
        super().__init__(ActorRole(self.cfg, store, metrics, self.log), metrics, join_s=20)


def _stored(store) -> list:
    spec = resolve(None, {"env.name": ENV}, environ={}).env.spec()
    return [decode_episode(f[b"d"], lambda _: spec) for _, f in store.r.xrange(store.episodes_key)]


def _policy_state(seed: int):
    import torch

    torch.manual_seed(seed)
    cfg = resolve(None, {"env.name": ENV}, environ={})
    return make_policy(cfg.env.spec(), cfg.algo).state_dict()


def _publisher_on(port: int, store) -> WeightPublisher | None:
    try:
        return WeightPublisher(f"tcp://127.0.0.1:{port}", store)
    except zmq.ZMQError:
        return None


@pytest.fixture
def replay(store):
    r = RunningReplay(store, ENV)
    yield r
    r.close()


def test_silent_learner_is_reported_and_a_restarted_learner_is_followed_back(store, replay, caplog):
    port = free_port()
    actor = RunningActor(
        store,
        replay,
        port,
        **{"actors": "1", "learner.episodes_per_update": "2", "actor.learner_silent_s": "0.5"},
    )
    first = second = None
    try:
        with caplog.at_level(logging.ERROR, logger="test.actor"):
            wait_until(lambda: actor.value("vast_actor_learner_silent_seconds") > 0.5, 10, "silence")
            wait_until(lambda: any("no new weights" in r.message for r in caplog.records), 10, "an error")
        first = WeightPublisher(f"tcp://127.0.0.1:{port}", store)
        for version in range(3):
            first.publish(version, _policy_state(version))
            wait_until(lambda v=version: len(_stored(store)) == 2 * (v + 1), 20, f"version {version} played")
        assert actor.value("vast_actor_learner_silent_seconds") < 5
        first.close()
        # a learner restarted from a checkpoint at version 1 binds the same port once it is free
        second = wait_until(lambda: _publisher_on(port, store), 10, "the weights port to be free")
        assert second.epoch > first.epoch
        second.publish(1, _policy_state(1))
        wait_until(lambda: len(_stored(store)) == 8, 20, "version 1 played again for the new learner")
        assert actor.value("vast_actor_policy_version") == 1
        versions = [ep.header["policy_version"] for ep in _stored(store)]
        assert versions == [0, 0, 1, 1, 2, 2, 1, 1]
        again, before = _stored(store)[6:], _stored(store)[2:4]
        for a, b in zip(again, before):  # same weights, same seed: the same episode, a new id
            assert a.key != b.key and all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)
    finally:
        actor.close()
        for publisher in (first, second):
            if publisher is not None:
                publisher.close()


def test_a_reissued_group_is_played_exactly_as_its_own_actor_would(store, replay):
    port = free_port()
    actor = RunningActor(store, replay, port, **{"actors": "2", "learner.episodes_per_update": "4"})
    publisher = WeightPublisher(f"tcp://127.0.0.1:{port}", store)
    try:
        publisher.publish(0, _policy_state(0))
        wait_until(lambda: len(_stored(store)) == 2, 20, "actor 0's own group")
        store.reissue(publisher.epoch, 0, [1])  # actor 1 is gone
        wait_until(lambda: len(_stored(store)) == 4, 20, "group 1 taken over")
        assert actor.value("vast_actor_slot_groups_taken_over_total") == 1
        assert not store.claim(publisher.epoch, 0, 1, actor_id=9, ttl_s=60), "actor 0 holds the claim"
        taken = [ep for ep in _stored(store) if ep.header["slot"] in (1, 3)]
        assert {ep.header["actor_id"] for ep in taken} == {0}
        # what actor 1 itself would have played
        cfg = actor.cfg
        policy = make_policy(cfg.env.spec(), cfg.algo).eval()
        policy.load_state_dict(_policy_state(0))
        own, _ = EpisodePlayer(cfg.env.spec(), policy, store.run, 1).play(
            2, sync_seed(cfg.run.seed, 0, 1), sync_slots(1, 2, 4), 0
        )
        for mine, theirs in zip(taken, own):
            assert mine.header["slot"] == theirs.header["slot"]
            assert all(np.array_equal(mine.arrays[k], theirs.arrays[k]) for k in theirs.arrays)
    finally:
        actor.close()
        publisher.close()
