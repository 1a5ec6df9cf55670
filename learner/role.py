"""The distributed learner: the trainer loop fed by the run's Redis stream, publishing over ZeroMQ.

sync:  wait for exactly E episodes of the current version (one per work slot), sorted by slot, update,
       publish version+1. Older episodes are dropped and counted.
async: take whatever arrives, drop episodes older than `max_policy_lag` versions (counted); the
       algorithm corrects the rest with clipped importance ratios.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vast.common import rundir
from vast.common.config import Config
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.store import RunStore
from vast.learner.publisher import WeightPublisher
from vast.learner.redis_source import RedisEpisodeSource
from vast.learner.telemetry import LearnerMetrics
from vast.learner.trainer import Trainer


class LearnerRole:
    def __init__(
        self,
        cfg: Config,
        store: RunStore,
        metrics: RoleMetrics,
        log: logging.Logger,
        run_dir: Path | None = None,
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else rundir.run_dir_of(cfg)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not (self.run_dir / rundir.CONFIG).exists():
            cfg.save(self.run_dir / rundir.CONFIG)
        spec = cfg.env.spec()
        self.metrics = LearnerMetrics(metrics)
        self.publisher = WeightPublisher(
            cfg.learner.weights_bind, store, cfg.auth, self.metrics.refused, log, self.metrics.redis_errors
        )
        self.source = RedisEpisodeSource(cfg, spec, store, self.metrics, log, self.publisher.epoch)
        self.trainer = Trainer(cfg, self.source, self.publisher, self.run_dir, self.metrics, log, spec)

    def run(self, stop: StopFlag) -> dict:
        self.source.stop = self.publisher.stop = stop  # Redis retries end when the role is stopped
        return self.trainer.run(stop)
