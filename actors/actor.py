"""The actor role: B environment copies, CPU policy inference, weights in, episodes out.

sync:  for each policy version v, play this actor's share of the E work slots of v (slot j belongs
       to actor j mod M), seeded from (seed, v, actor), then wait for version v+1. The learner sorts by
       slot, so a sync run is reproducible for a seed whatever the timing.
async: play batches back to back with whatever weights are newest; never wait for the learner.
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
from vast.common.config import Config
from vast.common.flow import FlowGate, backlog_bound
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.networks import make_policy
from vast.common.protocol import sync_slots
from vast.common.rollout import EpisodePlayer
from vast.common.seeding import derive_seed
from vast.common.store import RunStore


class ActorRole:
    def __init__(self, cfg: Config, store: RunStore, metrics: RoleMetrics, log: logging.Logger):
        self.cfg = cfg
        self.store = store
        self.log = log
        self.id = cfg.actor.id
        self.spec = cfg.env.spec()
        self.policy = make_policy(self.spec, cfg.algo).eval()
        self.player = EpisodePlayer(self.spec, self.policy, store.run, self.id)
        self.version = -1
        self._last_fetch = 0.0
        m = metrics
        self.m_env_steps = m.counter("vast_actor_env_steps_total", "Environment steps (per copy)")
        self.m_agent_steps = m.counter("vast_actor_agent_steps_total", "Agent steps")
        self.m_episodes = m.counter("vast_actor_episodes_total", "Episodes played")
        self.m_version = m.gauge("vast_actor_policy_version", "Policy version in use")
        self.m_weight_updates = m.counter(
            "vast_actor_weight_updates_total", "Weight versions loaded", ("source",)
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
        self.weights = WeightClient(cfg.actor.weights_addr, store)
        self.sender = EpisodeSender(
            cfg.actor.replay_addr, cfg.actor.ack_timeout_s, cfg.actor.max_in_flight, log, m
        )

    def _load(self, update: tuple[int, dict] | None, source: str) -> bool:
        if update is None or update[0] <= self.version:
            return False
        version, params = update
        state = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
        self.policy.load_state_dict(state)
        self.version = version
        self.m_version.set(version)
        self.m_weight_updates.labels(source).inc()
        return True

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
        done_version = -1
        rounds = 0
        while not stop.is_set():
            self.store_heartbeat()
            self._note_progress()
            if mode == "sync":
                if self.version <= done_version:
                    self.refresh(0.2)  # short slices: a stop request is noticed within 0.2 s
                    self.sender.poll(0)
                    continue
                if slots:
                    episodes = self._play(len(slots), derive_seed(cfg.run.seed, self.version, self.id), slots)
                    self._send_all(episodes, stop)
                done_version = self.version
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
            "actor %d stopped (%s): %d episodes acked, rejected %s",
            self.id,
            stop.reason,
            self.sender.acked,
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

    def store_heartbeat(self) -> None:
        now = time.monotonic()
        if now - getattr(self, "_last_beat", 0.0) > 2.0:
            self._last_beat = now
            try:
                self.store.heartbeat("actor", str(self.id))
            except Exception as exc:  # Redis down: keep acting, episodes are retried by the sender
                self.log.warning("heartbeat failed: %s", exc)
