"""The learner's Prometheus metrics, declared once and shared by the trainer and its episode source."""

from __future__ import annotations

from vast.common.metrics import RoleMetrics
from vast.common.protocol import DROP_REASONS
from vast.common.transport import refusal_counter


class LearnerMetrics:
    def __init__(self, metrics: RoleMetrics):
        m = metrics
        self.registry = m
        self.updates = m.counter("vast_learner_updates_total", "Learner updates")
        self.version = m.gauge("vast_learner_policy_version", "Version of the newest published weights")
        self.consumed = m.counter("vast_learner_episodes_consumed_total", "Episodes trained on")
        self.dropped = m.counter(
            "vast_learner_episodes_dropped_total", "Episodes not trained on", ("reason",)
        )
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
        self.lag = m.histogram(
            "vast_learner_policy_lag",
            "Policy lag of consumed episodes (versions)",
            (0, 1, 2, 3, 4, 6, 8, 16, 32),
        )
        self.loss = m.gauge("vast_learner_loss", "Latest loss values", ("part",))
        self.eval = m.gauge("vast_eval_domain_metric", "Mean domain metric of the latest evaluation")
        self.update_seconds = m.histogram(
            "vast_learner_update_seconds",
            "Time of one update step",
            (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        self.wait_seconds = m.counter("vast_learner_wait_seconds_total", "Time spent waiting for episodes")
        self.recovered = m.counter(
            "vast_learner_episodes_recovered_total",
            "Episodes re-read from the pending list (delivered before a crash or a lost reply, never settled)",
        )
        self.redis_errors = m.counter("vast_learner_redis_errors_total", "Failed Redis calls (retried)")
        self.redis_up = m.gauge("vast_redis_up", "1 if this process's last Redis call succeeded, else 0")
        self.stat = m.gauge(
            "vast_learner_stat",
            "Latest diagnostics of an update (entropy, sub-team diversity, ...)",
            ("name",),
        )
        self.progress = m.progress("When the learner last updated, or read from Redis while waiting for data")
        self.input_wait = m.gauge(
            "vast_learner_input_wait_seconds", "How long the learner has been waiting for the current batch"
        )
        self.reissued = m.counter(
            "vast_learner_slot_groups_reissued_total", "Sync work-slot groups handed to any actor"
        )
        self.refused = refusal_counter(m, "weights")
