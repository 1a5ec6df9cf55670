"""The learner role: read episodes from Redis, update, publish versioned weights, evaluate, checkpoint.

sync:  wait for exactly E episodes of the current version (one per work slot), sorted by slot, update,
       publish version+1. Older episodes are dropped and counted.
async: take whatever arrives, drop episodes older than `max_policy_lag` versions (counted); the
       algorithm corrects the rest with clipped importance ratios.
Consumed episodes are acknowledged (XACK + XDEL) only after the update that used them finished; on a
restart, entries delivered but never acknowledged are read again first.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import redis
import torch

from actors.rollout import rollout
from common.codec import CodecError, decode_episode
from common.config import Config
from common.episode import Episode
from common.lifecycle import StopFlag
from common.logs import RateLimited
from common.metrics import RoleMetrics
from common.networks import pick_device
from common.seeding import derive_seed
from common.store import RunStore
from envs.registry import make_env, make_spec, parse_name
from learner import checkpoint
from learner.batch import build_batch
from learner.curve import plot_curve
from learner.publisher import WeightPublisher

EVAL_STREAM = 0x7EA1  # seed-derivation tag that keeps evaluation episodes apart from training ones


class LearnerRole:
    def __init__(
        self, cfg: Config, store: RunStore, metrics: RoleMetrics, log: logging.Logger, run_dir: Path
    ):
        from learner.algos import build_algorithm

        self.cfg = cfg
        self.store = store
        self.log = log
        self.limited = RateLimited(log)
        self.run_dir = run_dir
        family, _ = parse_name(cfg.env.name)
        self.spec = make_spec(cfg.env.name, **cfg.env.options(family))
        self.device = pick_device(cfg.learner.device)
        torch.manual_seed(cfg.run.seed)
        self.algo = build_algorithm(cfg.algo, self.spec, self.device, cfg.run.seed)
        self.version = 0
        self.updates = 0
        self.episodes_consumed = 0
        self.env_steps = 0
        self.dropped_total = 0
        self._pending_cursor: bytes | str | None = "0"  # first re-read entries delivered but never acked
        if cfg.learner.resume:
            self._restore(cfg.learner.resume)
        self.metrics = m = metrics
        self.m_updates = m.counter("vast_learner_updates_total", "Learner updates")
        self.m_version = m.gauge("vast_learner_policy_version", "Version of the newest published weights")
        self.m_consumed = m.counter("vast_learner_episodes_consumed_total", "Episodes trained on")
        self.m_dropped = m.counter(
            "vast_learner_episodes_dropped_total", "Episodes not trained on", ("reason",)
        )
        for reason in ("stale", "duplicate_slot", "invalid"):
            self.m_dropped.labels(reason)
        self.m_lag = m.histogram(
            "vast_learner_policy_lag",
            "Policy lag of consumed episodes (versions)",
            (0, 1, 2, 3, 4, 6, 8, 16, 32),
        )
        self.m_loss = m.gauge("vast_learner_loss", "Latest loss values", ("part",))
        self.m_eval = m.gauge("vast_eval_domain_metric", "Mean domain metric of the latest evaluation")
        self.m_update_s = m.histogram(
            "vast_learner_update_seconds",
            "Time of one update step",
            (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        self.m_wait_s = m.counter("vast_learner_wait_seconds_total", "Time spent waiting for episodes")
        self.m_recovered = m.counter(
            "vast_learner_episodes_recovered_total",
            "Episodes re-read after a restart (delivered, never acked)",
        )
        self.m_redis_errors = m.counter("vast_learner_redis_errors_total", "Failed Redis calls (retried)")
        self.publisher = WeightPublisher(cfg.learner.weights_bind, store)
        self.metrics_path = run_dir / "metrics.jsonl"
        self.checkpoint_path = run_dir / "checkpoint.pt"

    # -- persistence ----------------------------------------------------------------------------
    def _restore(self, path: str) -> None:
        payload = checkpoint.load(path, self.device)
        self.algo.load_state_dict(payload["algorithm"])
        self.version = payload["version"]
        self.updates = payload["updates"]
        self.episodes_consumed = payload.get("episodes", 0)
        self.env_steps = payload.get("env_steps", 0)
        self.log.info("resumed from %s at version %d", path, self.version)

    def save_checkpoint(self) -> None:
        checkpoint.save(
            self.checkpoint_path,
            {
                "algorithm": self.algo.state_dict(),
                "version": self.version,
                "updates": self.updates,
                "episodes": self.episodes_consumed,
                "env_steps": self.env_steps,
                "config": self.cfg.to_dict(),
                "env_spec": self.spec.name,
            },
        )

    # -- data -----------------------------------------------------------------------------------
    def _spec_for(self, name: str):
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec

    def _accept(self, ep: Episode, kept: dict) -> str | None:
        """None if the episode is usable for the current update, else the reason it is dropped."""
        lag = self.version - ep.header["policy_version"]
        if self.cfg.learner.mode == "sync":
            if lag != 0:
                return "stale"
            slot = ep.header["slot"]
            if slot in kept or not 0 <= slot < self.cfg.learner.episodes_per_update:
                return "duplicate_slot"
            return None
        return "stale" if lag > self.cfg.learner.max_policy_lag or lag < 0 else None

    def collect(self, stop: StopFlag, deadline: float) -> list[tuple[bytes, Episode]] | None:
        """Exactly E usable episodes (sorted by slot in sync mode), or None if stopped first."""
        need = self.cfg.learner.episodes_per_update
        kept: dict = {}
        block_ms = int(self.cfg.learner.read_timeout_s * 1000)
        started = time.perf_counter()
        while len(kept) < need:
            if stop.is_set() or time.monotonic() > deadline:
                return None
            try:
                entries = self.store.read_episodes(
                    "learner-0", need - len(kept), block_ms, self._pending_cursor
                )
            except redis.RedisError as exc:
                self.m_redis_errors.inc()
                self.limited.warning("redis", "Redis read failed (will retry): %s", exc)
                stop.wait(1.0)
                continue
            if self._pending_cursor is not None:  # recovering what a crashed learner had read but not acked
                if not entries:
                    self._pending_cursor = None
                    continue
                self._pending_cursor = entries[-1][0]
                self.m_recovered.inc(len(entries))
            dropped = []
            for entry_id, blob in entries:
                try:
                    ep = decode_episode(blob, self._spec_for, self.cfg.replay.max_episode_bytes)
                except CodecError as exc:
                    self.m_dropped.labels("invalid").inc()
                    self.dropped_total += 1
                    self.limited.warning("invalid", "dropping invalid stored episode: %s", exc)
                    dropped.append(entry_id)
                    continue
                reason = self._accept(ep, kept)
                if reason is not None:
                    self.m_dropped.labels(reason).inc()
                    self.dropped_total += 1
                    dropped.append(entry_id)
                    continue
                key = ep.header["slot"] if self.cfg.learner.mode == "sync" else len(kept)
                kept[key] = (entry_id, ep)
            if dropped:
                self.store.ack(dropped)
        self.m_wait_s.inc(time.perf_counter() - started)
        return [kept[k] for k in sorted(kept)]

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self) -> float:
        """Mean domain metric of `eval_episodes` episodes of the stochastic policy (reference protocol)."""
        n = self.cfg.learner.eval_episodes
        policy = copy.deepcopy(self.algo.policy).cpu().eval()
        env = make_env(self.spec, n)
        seed = derive_seed(self.cfg.run.seed, self.version, EVAL_STREAM)
        episodes, _ = rollout(env, policy, seed, torch.Generator().manual_seed(seed))
        return float(np.mean([ep.header["metric"] for ep in episodes]))

    # -- main loop ----------------------------------------------------------------------------------
    def run(self, stop: StopFlag) -> dict:
        cfg = self.cfg
        self.store.ensure_group()
        self.publisher.publish(self.version, self.algo.policy.state_dict())
        self.m_version.set(self.version)
        t0 = time.monotonic()
        deadline = t0 + cfg.run.minutes * 60 if cfg.run.minutes > 0 else float("inf")
        self.log.info(
            "learner: %s on %s, %s mode, device %s",
            cfg.algo.algo,
            self.spec.name,
            cfg.learner.mode,
            self.device,
        )
        last_eval = None
        with self.metrics_path.open("a") as log_file:
            while not stop.is_set():
                if cfg.run.updates and self.updates >= cfg.run.updates:
                    break
                t_wait = time.perf_counter()
                got = self.collect(stop, deadline)
                if got is None:
                    break
                t_batch = time.perf_counter()
                episodes = [ep for _, ep in got]
                batch = build_batch(episodes, self.spec, self.device, self.version)
                t_update = time.perf_counter()
                losses = self.algo.update(
                    batch, mode=cfg.learner.mode, max_policy_lag=cfg.learner.max_policy_lag
                )
                t_done = time.perf_counter()
                self.store.ack([entry_id for entry_id, _ in got])
                self.version += 1
                self.updates += 1
                self.publisher.publish(self.version, self.algo.policy.state_dict())
                t_pub = time.perf_counter()
                lags = batch.policy_lag.cpu().numpy()
                for lag in lags:
                    self.m_lag.observe(float(lag))
                self.episodes_consumed += len(episodes)
                self.env_steps += int(sum(ep.length for ep in episodes))
                eval_metric = None
                if cfg.learner.eval_every and self.updates % cfg.learner.eval_every == 0:
                    eval_metric = last_eval = self.evaluate()
                    self.m_eval.set(eval_metric)
                t_eval = time.perf_counter()
                row = {
                    "update": self.updates,
                    "version": self.version,
                    "episodes": self.episodes_consumed,
                    "env_steps": self.env_steps,
                    "train_metric": float(np.mean([ep.header["metric"] for ep in episodes])),
                    "train_return": float(np.mean([ep.header["ret"] for ep in episodes])),
                    "eval_metric": eval_metric,
                    "policy_lag_mean": float(lags.mean()),
                    "policy_lag_max": int(lags.max()),
                    "dropped": self.dropped_total,
                    "from_actors": sorted({int(ep.header["actor_id"]) for ep in episodes}),
                    "wall_s": round(time.monotonic() - t0, 4),
                    "time_wait_s": round(t_batch - t_wait, 5),
                    "time_batch_s": round(t_update - t_batch, 5),
                    "time_update_s": round(t_done - t_update, 5),
                    "time_publish_s": round(t_pub - t_done, 5),
                    "time_eval_s": round(t_eval - t_pub, 5),
                    **{k: float(v) for k, v in losses.items()},
                }
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
                self.m_updates.inc()
                self.m_consumed.inc(len(episodes))
                self.m_version.set(self.version)
                self.m_update_s.observe(t_done - t_update)
                for key, value in losses.items():
                    if key.startswith("loss/"):
                        self.m_loss.labels(key[5:]).set(float(value))
                if cfg.learner.checkpoint_every and self.updates % cfg.learner.checkpoint_every == 0:
                    self.save_checkpoint()
                try:
                    self.store.heartbeat("learner", "0")
                except redis.RedisError:
                    self.m_redis_errors.inc()
        self.save_checkpoint()
        plot_curve(
            self.metrics_path,
            self.run_dir / "learning_curve.png",
            f"{cfg.algo.algo.upper()} ({cfg.algo.mixer}, {cfg.algo.assign}) on {self.spec.name}",
            self.spec.metric_name,
        )
        summary = {
            "updates": self.updates,
            "version": self.version,
            "episodes": self.episodes_consumed,
            "env_steps": self.env_steps,
            "wall_s": round(time.monotonic() - t0, 3),
            "last_eval_metric": last_eval,
            "stopped_by": stop.reason
            or ("updates" if cfg.run.updates and self.updates >= cfg.run.updates else "time"),
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.publisher.close()
        self.log.info("learner stopped after %d updates: %s", self.updates, summary)
        return summary
