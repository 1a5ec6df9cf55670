"""Async mode learns like sync mode and wastes nothing: the tests that would have caught a collapsed
async run (Warehouse policy at "do nothing", 9 in 10 episodes dropped as stale).

Each compares a real multi-process async run (embedded Redis, replay, learner, 2 actor processes) with
the serial sync run of the same config and seed, at the same number of updates."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.helpers import wait_until
from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.common.rundir import METRICS, SUMMARY, read_rows
from vast.launch.local import LocalCluster
from vast.learner.local_source import LocalEpisodeSource
from vast.learner.trainer import Trainer

MAX_DROPPED_FRACTION = 0.10


def _config(tmp_path, name, **extra):
    settings = {"run.dir": str(tmp_path), "run.name": name, "run.seed": "1", "actors": "2", **extra}
    return resolve(None, settings, environ={})


def _final_eval(rows: list[dict], window: int, until: int | None = None) -> float:
    """Mean of the last `window` evaluations up to update `until` (default: the end)."""
    evals = [r["eval_metric"] for r in rows if r["eval_metric"] is not None and r["update"] <= (until or 1e9)]
    return statistics.mean(evals[-window:])


# "Learns like sync": async with policy lag 1 learns a little slower per update, and which episodes form
# a batch depends on timing, so its score varies from run to run. On Warehouse-4 the score is still
# climbing steeply at 600 updates: sync's 20-evaluation mean is 4.98 / 5.52 / 5.70 / 6.62 at updates
# 420 / 450 / 480 / 600, and four async runs ended at 5.83, 6.44, 6.63 and above 5.95, so "within 10% of
# sync's final score" failed one CI run. So the bound is the lower of that and where sync stood a quarter
# of the run earlier (5.52 here): the first holds on a plateau (GaussianSqueeze-200, where sync's late
# scores wobble around 405-410), the second on a steep curve. A collapsed async run (a policy stuck at
# "do nothing", the failure this test was written for) scores near 0, far below either.
BEHIND_FRACTION = 0.25


def _median_lag(histogram: dict[str, int]) -> float:
    lags = sorted((int(lag), n) for lag, n in histogram.items())
    total, seen = sum(n for _, n in lags), 0
    for lag, n in lags:
        seen += n
        if seen * 2 >= total:
            return lag
    raise AssertionError("empty lag histogram")


@pytest.mark.timeout(420)
@pytest.mark.parametrize(
    "env, updates, window",
    [("gaussian-squeeze-200", 200, 10), ("warehouse-4", 600, 20)],
)
def test_async_with_two_actors_learns_like_sync_and_drops_almost_nothing(tmp_path, env, updates, window):
    extra = {"env.name": env, "run.updates": str(updates), "learner.eval_every": "5"}
    sync_cfg = _config(tmp_path, "sync", **extra)
    source = LocalEpisodeSource(sync_cfg, sync_cfg.env.spec())
    Trainer(sync_cfg, source, source, tmp_path / "sync").run(StopFlag())
    sync_rows = read_rows(tmp_path / "sync" / METRICS)
    sync = _final_eval(sync_rows, window)
    sync_earlier = _final_eval(sync_rows, window, until=round(updates * (1 - BEHIND_FRACTION)))

    cluster = LocalCluster(_config(tmp_path, "async", **extra, **{"learner.mode": "async"})).start()
    try:
        wait_until(cluster.learner_done, 360, f"the async run on {env}")
        cluster.check_children()
    finally:
        cluster.stop()
    rows = read_rows(tmp_path / "async" / METRICS)
    summary = json.loads((tmp_path / "async" / SUMMARY).read_text())
    assert len(rows) == updates
    asynchronous = _final_eval(rows, window)
    assert asynchronous >= min(0.9 * sync, sync_earlier), (
        f"async {asynchronous:.3f} after {updates} updates: below 90% of sync's {sync:.3f} and behind "
        f"sync at update {round(updates * (1 - BEHIND_FRACTION))} ({sync_earlier:.3f})"
    )
    dropped = sum(summary["dropped"].values())
    assert dropped / (dropped + summary["episodes"]) <= MAX_DROPPED_FRACTION, summary
    assert _median_lag(summary["policy_lag_histogram"]) <= 1, summary["policy_lag_histogram"]
    assert max(int(lag) for lag in summary["policy_lag_histogram"]) <= sync_cfg.learner.max_policy_lag
