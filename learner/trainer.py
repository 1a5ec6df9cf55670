"""The training loop, one for every topology: collect → build batch → update → acknowledge → publish →
evaluate → log → checkpoint.

Where episodes come from and where weights go are the two things a topology changes, so they are
passed in: the distributed learner reads the Redis stream and publishes over ZeroMQ
(`learner.role.LearnerRole`); `vast train --serial`, the tests and the sweeps play episodes in-process
(`learner.local_source.LocalEpisodeSource`, which is also the weight sink).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import torch

from vast.common import rundir
from vast.common.config import Config, ConfigError
from vast.common.core import EpisodeSource, WeightSink
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.networks import pick_device
from vast.envs.base import EnvSpec
from vast.learner import checkpoint
from vast.learner.algos import build_algorithm
from vast.learner.allocator import retain_freed_memory
from vast.learner.batch import build_batch
from vast.learner.curve import plot_curve
from vast.learner.evaluation import Evaluation, Evaluator
from vast.learner.loggers import check_available as check_loggers
from vast.learner.loggers import make_loggers
from vast.learner.telemetry import DROP_REASONS, LearnerMetrics


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict | None) -> None:
    if not state:
        return
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    def __init__(
        self,
        cfg: Config,
        source: EpisodeSource,
        sink: WeightSink,
        run_dir: Path,
        metrics: LearnerMetrics | None = None,
        log: logging.Logger | None = None,
        spec: EnvSpec | None = None,
    ):
        self.cfg = cfg
        self.source = source
        self.sink = sink
        self.run_dir = Path(run_dir)
        self.m = metrics or LearnerMetrics(RoleMetrics("learner"))
        self.log = log or logging.getLogger("vast.learner")
        self.spec = spec or cfg.env.spec()
        self.device = pick_device(cfg.learner.device)
        retain_freed_memory()  # updates reuse their freed temporaries instead of re-faulting them
        torch.manual_seed(cfg.run.seed)
        self.algo = build_algorithm(cfg.algo, self.spec, self.device, cfg.run.seed)
        self.version = 0
        self.updates = 0
        self.episodes_consumed = 0
        self.env_steps = 0
        self.last_eval: float | None = None
        self.wall_s = 0.0  # training wall time of earlier lifetimes of this run (restored on resume)
        self.lag_counts: Counter[int] = Counter()  # consumed episodes by policy lag, this learner lifetime
        self.evaluator = Evaluator(
            self.spec, cfg.learner.eval_episodes, cfg.run.seed, cfg.learner.eval_greedy
        )
        self.metrics_path = self.run_dir / rundir.METRICS
        self.checkpoint_path = self.run_dir / rundir.CHECKPOINT
        check_loggers(cfg)
        if cfg.learner.resume:  # 'auto' (containers): this run's own directory, fresh if it has none
            self.restore(self.run_dir if cfg.learner.resume == "auto" else cfg.learner.resume)

    # -- persistence ------------------------------------------------------------------------------------
    def restore(self, where: str | Path) -> None:
        """Continue from a checkpoint file, or from the newest checkpoint of a run directory (none there:
        start from scratch). Everything an update depends on comes back: weights, optimiser states, the
        update's generator and the global RNGs, counters, the source's state. Metrics rows the previous
        lifetime wrote after that checkpoint are removed: the updates they describe are redone."""
        try:
            found = checkpoint.load_latest(where, self.device, self.log)
        except FileNotFoundError as exc:
            raise ConfigError(f"learner.resume: {exc}") from None
        if found is None:
            self.log.warning("no checkpoint in %s: starting from scratch", where)
        else:
            path, payload = found
            self.algo.load_state_dict(payload["algorithm"])
            self.version = payload["version"]
            self.updates = payload["updates"]
            self.episodes_consumed = payload.get("episodes", 0)
            self.env_steps = payload.get("env_steps", 0)
            self.last_eval = payload.get("last_eval")
            self.wall_s = payload.get("wall_s", 0.0)
            _set_rng_state(payload.get("rng"))
            self.source.restore(payload.get("source", {}))
            self.m.version.set(self.version)
            self.log.info("resumed from %s at version %d (update %d)", path, self.version, self.updates)
        self._truncate_rows()

    def _truncate_rows(self) -> None:
        rows = rundir.read_rows(self.metrics_path)
        if any(r["update"] > self.updates for r in rows):
            tmp = self.metrics_path.with_name(self.metrics_path.name + ".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows if r["update"] <= self.updates))
            os.replace(tmp, self.metrics_path)

    def save_checkpoint(self, wall_s: float = 0.0) -> None:
        payload = {
            "algorithm": self.algo.state_dict(),
            "version": self.version,
            "updates": self.updates,
            "episodes": self.episodes_consumed,
            "env_steps": self.env_steps,
            "last_eval": self.last_eval,
            "wall_s": wall_s,
            "rng": _rng_state(),
            "config": self.cfg.public_dict(),
            "env_spec": self.spec.name,
            "source": self.source.state(),
        }
        checkpoint.save(self.run_dir, self.updates, payload, self.cfg.learner.keep_checkpoints)
        keep = self.cfg.learner.keep_every
        if keep and self.updates % keep == 0:  # copies outside the rotation (sub-team snapshots over time)
            kept = rundir.kept_checkpoint(self.run_dir, self.updates)
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(self.run_dir / rundir.CHECKPOINT, kept)

    # -- the loop ---------------------------------------------------------------------------------------
    def done(self) -> bool:
        return bool(self.cfg.run.updates) and self.updates >= self.cfg.run.updates

    def run(self, stop: StopFlag, on_row: Callable[[dict], None] | None = None) -> dict:
        """Train until `run.updates`, `run.minutes` or `stop`; always ends with a checkpoint and summary.
        `on_row` sees every metrics row as it is written (progress displays)."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.publish()
        t0 = time.monotonic() - self.wall_s
        deadline = t0 + cfg.run.minutes * 60 if cfg.run.minutes > 0 else float("inf")
        self.log.info(
            "learner: %s on %s, %s mode, device %s",
            cfg.algo.algo,
            self.spec.name,
            cfg.learner.mode,
            self.device,
        )
        sinks = make_loggers(cfg, self.run_dir)
        pending: tuple[dict, Future | None] | None = None  # a row whose evaluation is still playing

        def emit(row: dict, evaluation: Future | None) -> None:
            if evaluation is not None:
                self._record_evaluation(row, evaluation.result())
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
            for sink in sinks:
                sink.log(row)
            if on_row is not None:
                on_row(row)

        try:
            with self.metrics_path.open("a") as log_file:
                while not stop.is_set() and not self.done():
                    step = self.step(stop, deadline, t0)
                    if pending is not None:  # its evaluation overlapped this step's wait and update
                        emit(*pending)
                        pending = None
                    if step is None:
                        break
                    every = (cfg.learner.checkpoint_every, cfg.learner.keep_every)
                    if any(n and self.updates % n == 0 for n in every):
                        emit(*step)  # a checkpoint follows the rows of every update it holds
                        self.save_checkpoint(step[0]["wall_s"])
                    else:
                        pending = step
                if pending is not None:
                    emit(*pending)
        finally:
            for sink in sinks:
                sink.close()
            self.evaluator.close()
        return self.finish(stop, t0)

    def _record_evaluation(self, row: dict, result: Evaluation) -> None:
        row["eval_metric"] = self.last_eval = result.metric
        row["eval_env_steps"] = result.env_steps
        if self.cfg.learner.eval_greedy:
            row["eval_greedy_metric"] = result.greedy_metric
            row["eval_greedy_env_steps"] = result.greedy_env_steps
        row["time_eval_s"] = round(result.seconds, 5)
        self.m.eval.set(result.metric)

    def publish(self) -> None:
        self.sink.publish(self.version, self.algo.policy.state_dict())
        self.m.version.set(self.version)

    def step(self, stop: StopFlag, deadline: float, t0: float) -> tuple[dict, Future | None] | None:
        """One update: its metrics row and, when one is due, the evaluation of the new weights (playing
        on the evaluator's thread; the row's eval fields are filled in from it); None if the source
        stopped before a batch was complete."""
        cfg = self.cfg
        t_wait = time.perf_counter()
        got = self.source.collect(self.version, cfg.learner.episodes_per_update, stop, deadline)
        if got is None:
            return None
        t_batch = time.perf_counter()
        episodes = [ep for _, ep in got]
        batch = build_batch(
            episodes,
            self.spec,
            self.device,
            self.version,
            cfg.algo.return_norm,
            sparse_rows=cfg.algo.sparse_inputs == "auto" and cfg.algo.amp == "off",
        )
        t_update = time.perf_counter()
        losses = self.algo.update(batch, mode=cfg.learner.mode)
        t_done = time.perf_counter()
        self.version += 1
        self.updates += 1
        evaluation = None
        if cfg.learner.eval_every and self.updates % cfg.learner.eval_every == 0:
            # submitted before the weights go out, so that it plays while the actors do
            evaluation = self.evaluator.submit(self.algo.policy, self.version)
        self.publish()  # before the ack: actors waiting for room in the backlog then play the new version
        self.source.ack([handle for handle, _ in got])
        t_pub = time.perf_counter()
        lags = batch.policy_lag.cpu().numpy()
        for lag in lags:
            self.m.lag.observe(float(lag))
            self.lag_counts[int(lag)] += 1
        self.episodes_consumed += len(episodes)
        self.env_steps += int(sum(ep.length for ep in episodes))
        dropped = self.source.dropped()
        row = {
            "update": self.updates,
            "version": self.version,
            "episodes": self.episodes_consumed,
            "env_steps": self.env_steps,
            "train_metric": float(np.mean([ep.header["metric"] for ep in episodes])),
            "train_return": float(np.mean([ep.header["ret"] for ep in episodes])),
            "eval_metric": None,  # filled in from `evaluation`
            "eval_env_steps": 0,  # copy-steps of the evaluation episodes
            **({"eval_greedy_metric": None, "eval_greedy_env_steps": 0} if cfg.learner.eval_greedy else {}),
            "policy_lag_mean": float(lags.mean()),
            "policy_lag_max": int(lags.max()),
            **{f"dropped/{reason}": dropped.get(reason, 0) for reason in DROP_REASONS},
            "from_actors": sorted({int(ep.header["actor_id"]) for ep in episodes}),
            "wall_s": round(time.monotonic() - t0, 4),
            "time_wait_s": round(t_batch - t_wait, 5),
            "time_batch_s": round(t_update - t_batch, 5),
            "time_update_s": round(t_done - t_update, 5),
            "time_publish_s": round(t_pub - t_done, 5),
            "time_eval_s": 0.0,
            **{k: float(v) for k, v in losses.items()},
        }
        self.m.updates.inc()
        self.m.consumed.inc(len(episodes))
        self.m.update_seconds.observe(t_done - t_update)
        for key, value in losses.items():
            if key.startswith("loss/"):
                self.m.loss.labels(key[5:]).set(float(value))
            else:  # diagnostics, e.g. entropy, importance_weight_mean, importance_clipped_fraction
                self.m.stat.labels(key).set(float(value))
        self.m.progress.set_to_current_time()
        return row, evaluation

    def finish(self, stop: StopFlag, t0: float) -> dict:
        cfg = self.cfg
        wall_s = round(time.monotonic() - t0, 3)
        self.save_checkpoint(wall_s)
        plot_curve(
            self.metrics_path,
            self.run_dir / rundir.CURVE,
            f"{cfg.algo.algo.upper()} ({cfg.algo.mixer}, {cfg.algo.assign}) on {self.spec.name}",
            self.spec.metric_name,
        )
        summary = {
            "updates": self.updates,
            "version": self.version,
            "episodes": self.episodes_consumed,
            "env_steps": self.env_steps,
            "wall_s": wall_s,
            "last_eval_metric": self.last_eval,
            "stopped_by": stop.reason or ("updates" if self.done() else "time"),
            "policy_lag_histogram": {str(lag): n for lag, n in sorted(self.lag_counts.items())},
            "dropped": self.source.dropped(),
        }
        (self.run_dir / rundir.SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        self.sink.close()
        self.log.info("learner stopped after %d updates: %s", self.updates, summary)
        return summary
