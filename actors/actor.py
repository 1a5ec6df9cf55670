"""The actor role: B environment copies, CPU policy inference, weights in, episodes out.

sync:  for each policy version v, play this actor's group of the E work slots of v (slot j belongs
       to group j mod M), seeded from (seed, v, group), then wait for version v+1. While waiting, take
       over the groups the learner re-issued (their actor is gone): claim one in Redis, play it exactly
       as its own actor would have. The learner sorts by slot, so a sync run is reproducible for a seed
       whatever the timing and whoever played each group.
async: play batches back to back with whatever weights are newest; never wait for the learner.

Weights are (epoch, version): a learner restarted from a checkpoint publishes under a newer epoch and
the actor follows it, even to a lower version. When no new weights came for `actor.learner_silent_s`,
the actor says so (log + `vast_actor_learner_silent_seconds`) and keeps retrying.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import numpy as np
import redis
import torch

from vast.actors.sender import EpisodeSender
from vast.actors.weights import WeightClient
from vast.common.codec import Weights
from vast.common.config import Config
from vast.common.flow import FlowGate, backlog_bound
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.metrics import RoleMetrics
from vast.common.networks import make_policy
from vast.common.protocol import newer_weights, sync_seed, sync_slots
from vast.common.rollout import EpisodePlayer
from vast.common.seeding import derive_seed
from vast.common.store import RunStore


class ActorRole:
    def __init__(self, cfg: Config, store: RunStore, metrics: RoleMetrics, log: logging.Logger):
        self.cfg = cfg
        self.store = store
        self.log = log
        self.limited = RateLimited(log)
        self.id = cfg.actor.id
        self.spec = cfg.env.spec()
        self.policy = make_policy(self.spec, cfg.algo).eval()
        self.player = EpisodePlayer(self.spec, self.policy, store.run, self.id)
        self.epoch = -1
        self.version = -1
        self._last_fetch = 0.0
        self._last_new_weights = time.monotonic()
        self._last_takeover_check = 0.0
        self._taken: set[tuple[int, int, int]] = set()  # (epoch, version, group) played for someone else
        m = metrics
        self.m_env_steps = m.counter("vast_actor_env_steps_total", "Environment steps (per copy)")
        self.m_agent_steps = m.counter("vast_actor_agent_steps_total", "Agent steps")
        self.m_episodes = m.counter("vast_actor_episodes_total", "Episodes played")
        self.m_version = m.gauge("vast_actor_policy_version", "Policy version in use")
        self.m_weight_updates = m.counter(
            "vast_actor_weight_updates_total", "Weight versions loaded", ("source",)
        )
        self.m_silent = m.gauge(
            "vast_actor_learner_silent_seconds", "Seconds since the learner last published new weights"
        )
        self.m_taken_over = m.counter(
            "vast_actor_slot_groups_taken_over_total", "Sync work-slot groups played for a missing actor"
        )
        self.m_rollout = m.histogram(
            "vast_actor_rollout_seconds",
            "Wall time of one batched rollout",
            (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
        )
        self.m_progress = m.progress("When replay last acknowledged an episode of this actor (or start)")
        self._acked_seen = 0
        self.m_flow_wait = m.counter(
            "vast_actor_flow_wait_seconds_total",
            "Time spent waiting for room in the backlog (async flow control)",
        )
        self.gate = (
            FlowGate(
                store,
                f"actor-{self.id}-{self.player.incarnation}",
                backlog_bound(cfg.learner.episodes_per_update, cfg.learner.queue_updates),
            )
            if cfg.learner.mode == "async"
            else None
        )
        self.weights = WeightClient(cfg.actor.weights_addr, store, cfg.auth)
        self.sender = EpisodeSender(
            cfg.actor.replay_addr, cfg.actor.ack_timeout_s, cfg.actor.max_in_flight, log, m, cfg.auth
        )

    def _load(self, update: Weights | None, source: str) -> bool:
        if update is None or not newer_weights((update.epoch, update.version), (self.epoch, self.version)):
            return False
        state = {k: torch.from_numpy(np.array(v)) for k, v in update.params.items()}
        self.policy.load_state_dict(state)
        if update.epoch != self.epoch and self.epoch >= 0:
            self.log.warning(
                "learner restarted: following it from version %d to version %d", self.version, update.version
            )
        self.epoch, self.version = update.epoch, update.version
        self._last_new_weights = time.monotonic()
        self.m_version.set(update.version)
        self.m_weight_updates.labels(source).inc()
        return True

    def check_learner_silence(self) -> float:
        """Seconds without new weights; past `actor.learner_silent_s`, say so loudly (rate-limited)."""
        silent = time.monotonic() - self._last_new_weights
        self.m_silent.set(silent)
        if silent > self.cfg.actor.learner_silent_s:
            self.limited.error(
                "silent",
                "the learner has published no new weights for %.0fs (holding version %d): "
                "is it running? still retrying",
                silent,
                self.version,
            )
        return silent

    def refresh(self, wait_s: float) -> bool:
        """Load newer weights: a broadcast received within wait_s, else (at most every weight_wait_s)
        the latest copy in Redis, which covers missed broadcasts and late joiners. True if updated."""
        if self._load(self.weights.poll(wait_s), "broadcast"):
            return True
        now = time.monotonic()
        if self.version < 0 or now - self._last_fetch >= self.cfg.actor.weight_wait_s:
            self._last_fetch = now
            return self._load(self.weights.fetch(), "redis")
        return False

    def _play(self, n_copies: int, seed: int, slots: list[int]) -> list:
        start = time.perf_counter()
        episodes, stats = self.player.play(n_copies, seed, slots, self.version)
        self.m_rollout.observe(time.perf_counter() - start)
        self.m_env_steps.inc(stats.env_steps)
        self.m_agent_steps.inc(stats.agent_steps)
        self.m_episodes.inc(len(episodes))
        return episodes

    def run(self, stop: StopFlag) -> None:
        cfg = self.cfg
        mode = cfg.learner.mode
        e, m = cfg.learner.episodes_per_update, cfg.actors
        slots = sync_slots(self.id, m, e) if mode == "sync" else []
        if mode == "sync" and not slots:
            self.log.warning(
                "actor %d has no sync slots (%d actors for %d episodes per update): idle", self.id, m, e
            )
        batch = cfg.actor.batch_envs or (len(slots) if mode == "sync" else max(1, math.ceil(e / m)))
        self.log.info("actor %d: %s mode, %d env copies of %s", self.id, mode, batch, self.spec.name)
        done: tuple[int, int] = (-1, -1)  # the (epoch, version) whose own slots were played
        rounds = 0
        while not stop.is_set():
            self._note_progress()
            self.check_learner_silence()
            if mode == "sync":
                if self.version < 0 or (self.epoch, self.version) == done:
                    self.refresh(0.2)  # short slices: a stop request is noticed within 0.2 s
                    self.sender.poll(0)
                    self.take_over(stop)
                    continue
                if slots:
                    self._play_group(self.id, stop)
                done = (self.epoch, self.version)
            else:
                self.refresh(0.0)
                if self.version < 0:
                    self.refresh(0.2)
                    continue
                if not self._room_for(batch, stop):
                    continue
                self.refresh(0.0)  # room was granted: play with the newest weights
                seed = derive_seed(cfg.run.seed, self.version, self.id, rounds)
                episodes = self._play(batch, seed, [-1] * batch)
                rounds += 1
                self._send_all(episodes, stop)
            self.sender.poll(0)
        self.sender.flush(StopFlag(), deadline_s=2.0)
        if self.gate is not None:
            with contextlib.suppress(redis.RedisError):  # else the reservation expires on its own
                self.gate.release()
        self.sender.close()
        self.weights.close()
        self.log.info(
            "actor %d stopped (%s): %s, rejected %s",
            self.id,
            stop.reason,
            self.sender.ledger(),
            self.sender.rejected or "none",
        )

    def _room_for(self, batch: int, stop: StopFlag) -> bool:
        """Async flow control: reserve room in the backlog for `batch` more episodes (plus those still
        unacknowledged). While there is none, wait briefly, reading acks, and report False."""
        try:
            granted = self.gate.try_reserve(batch, outstanding=len(self.sender.pending))
        except redis.RedisError as exc:
            self.log.warning("flow control: Redis unreachable (%s); retrying", exc)
            stop.wait(0.5)
            return False
        if granted:
            return True
        start = time.perf_counter()
        self.sender.poll(0.02)
        self.m_flow_wait.inc(time.perf_counter() - start)
        return False

    def _play_group(self, group: int, stop: StopFlag) -> None:
        """Play one sync work-slot group of the current version, as its own actor would."""
        cfg = self.cfg
        slots = sync_slots(group, cfg.actors, cfg.learner.episodes_per_update)
        episodes = self._play(len(slots), sync_seed(cfg.run.seed, self.version, group), slots)
        self._send_all(episodes, stop)

    def take_over(self, stop: StopFlag) -> None:
        """Play the groups of the current version that the learner re-issued and this actor claims first
        (checked once a second; a claim lasts `learner.slot_timeout_s`, then anyone may claim again)."""
        now = time.monotonic()
        if now - self._last_takeover_check < 1.0:
            return
        self._last_takeover_check = now
        epoch, version = self.epoch, self.version
        try:
            groups = self.store.reissued(epoch, version)
            for group in groups:
                if (epoch, version, group) in self._taken or not self.store.claim(
                    epoch, version, group, self.id, self.cfg.learner.slot_timeout_s
                ):
                    continue
                self._taken.add((epoch, version, group))
                self.log.warning("version %d: taking over work-slot group %d", version, group)
                self.m_taken_over.inc()
                self._play_group(group, stop)
        except redis.RedisError as exc:
            self.limited.warning("redis", "Redis unavailable, cannot check re-issued work slots: %s", exc)

    def _send_all(self, episodes: list, stop: StopFlag) -> None:
        """Hand episodes to the sender; at a stop, episodes not yet handed over were never accepted."""
        for episode in episodes:
            if not self.sender.send(episode, stop):
                return

    def _note_progress(self) -> None:
        """Progress for an actor = replay acknowledged another of its episodes (health checks read it)."""
        if self.sender.acked != self._acked_seen:
            self._acked_seen = self.sender.acked
            self.m_progress.set_to_current_time()
