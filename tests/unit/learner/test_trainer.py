"""The trainer loop: the redesign moved it out of the Redis consumer without changing a number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import serial_trainer
from vast.common import rundir
from vast.common.lifecycle import StopFlag

DATA = Path(__file__).resolve().parents[2] / "data"
BEFORE = DATA / "default_run_before_redesign.jsonl"
DEFAULTS = DATA / "default_run.jsonl"
# The settings of the run recorded before the redesign: every optimiser clipped at norm 1. Today's
# defaults clip only the critic, as the reference does in effect (docs/algorithms.md).
OLD_CLIPPING = {"algo.clip_critic": 1.0, "algo.clip_actor": 1.0, "algo.clip_meta": 1.0}


# Fields renamed since the fixture was recorded: old name -> new name.
RENAMED = {"dropped_stale": "dropped/stale"}
DROPPED = {"dropped"}  # the total of all reasons; each reason has its own field now


def _deterministic(row: dict) -> dict:
    return {k: v for k, v in row.items() if not (k == "wall_s" or k.startswith("time_"))}


def _as_recorded(row: dict) -> dict:
    return {RENAMED.get(k, k): v for k, v in row.items() if k not in DROPPED}


def _recorded(path: Path) -> list[dict]:
    return [_as_recorded(json.loads(line)) for line in path.read_text().splitlines()]


# The fixtures were recorded on an AMD EPYC (AVX2 kernels); on an Intel Xeon (AVX-512 kernels) the same
# code computes the update's floats with another summation order, so losses and gradient norms differ in
# the last bits: at most 1.7e-6 relative over all 200 updates of the default run, measured. The episodes
# themselves (every sampled action, hence every metric, return and evaluation) stay identical. So the
# rows are compared exactly, except the floats an update computes, which are compared to ROUNDING_RTOL, or
# ROUNDING_ATOL for a value that is a difference of large terms (QTRAN's L_opt: Q'max − Q̂max + Vmax², with
# terms near 100 whose float32 rounding is ~1e-5 while the loss itself is 0.2).
ROUNDING_RTOL = 1e-5
ROUNDING_ATOL = 1e-5
UPDATE_FLOATS = ("loss/", "grad_norm/", "q_taken_mean", "advantage_mean", "entropy", "meta_entropy")
# What the played episodes decide: the same values mean every training and evaluation episode took the
# same actions.
EPISODE_FIELDS = ("update", "version", "episodes", "env_steps", "train_metric", "train_return", "eval_metric")


def _differences(old: dict, new: dict, rtol: float = ROUNDING_RTOL) -> list[str]:
    """The fields of `old` that `new` does not reproduce (exactly, or within rtol for update floats)."""
    out = []
    for key, value in old.items():
        if key.startswith(UPDATE_FLOATS):
            if new[key] != pytest.approx(value, rel=rtol, abs=ROUNDING_ATOL):
                out.append(f"{key}: {value} -> {new[key]}")
        elif new[key] != value:
            out.append(f"{key}: {value!r} -> {new[key]!r}")
    return out


def _run_and_compare(tmp_path, recorded: Path, rounding_until: int, **overrides) -> list[dict]:
    """Every field of the first `rounding_until` updates reproduced (update floats up to rounding);
    after them the episode-derived fields only (see the test using it)."""
    before = _recorded(recorded)
    # recorded with 2 actors' work-slot split (the default before `actors` became one per spare core)
    trainer = serial_trainer(tmp_path, **{"run.updates": len(before), "actors": 2, **overrides})
    summary = trainer.run(StopFlag())
    after = [_deterministic(r) for r in rundir.read_rows(tmp_path / rundir.METRICS)]
    assert summary["updates"] == len(before) == 200
    assert set(before[0]) <= set(after[0])  # later additions (e.g. eval_greedy_metric) are new keys
    for old, new in zip(before, after):
        if old["update"] > rounding_until:
            old = {k: v for k, v in old.items() if k in EPISODE_FIELDS}
        assert not _differences(old, new), f"update {old['update']} differs: {_differences(old, new)}"
    assert after[-1]["eval_metric"] > 400  # it learns: a uniform policy scores 1.74, the optimum 423
    return after


def test_run_with_the_old_clipping_matches_the_metrics_recorded_before_the_redesign(tmp_path):
    """`vast train` with defaults (GS-200, VAST-QTRAN-MetaGrad, eta 1/4, sync, 2 actors, seed 0, 200
    updates) but all three optimisers clipped at 1, as the defaults were when this was recorded with the
    multi-process launcher before the redesign. Bit for bit on the machine that recorded it; on another
    CPU, every row up to rounding for 90 updates, and the episodes identical for all 200. (Here, with
    every optimiser clipped, MetaGrad's gradient norm amplifies the rounding from update 99 on, measured
    on an AVX-512 Xeon: 4e-4 relative at update 99, sampled sub-teams differ from update 109.)"""
    _run_and_compare(tmp_path, BEFORE, rounding_until=90, **OLD_CLIPPING)
    for name in (rundir.CHECKPOINT, rundir.CURVE, rundir.SUMMARY):
        assert (tmp_path / name).exists(), name


def test_default_run_matches_its_recorded_metrics(tmp_path):
    """The same run with today's defaults (critic clipped, actor and MetaGrad not), recorded when the
    clipping defaults changed (tests/data/README.md): every row, up to rounding. It equals the old run
    until the first update whose actor or MetaGrad gradient norm (reported before clipping) exceeded 1,
    and differs after it."""
    after = _run_and_compare(tmp_path, DEFAULTS, rounding_until=200)
    before = _recorded(BEFORE)
    after = [{k: row[k] for k in before[0]} for row in after]
    first = next(i for i, r in enumerate(before) if max(r["grad_norm/actor"], r["grad_norm/meta"]) > 1)
    assert all(not _differences(old, new) for old, new in zip(before[:first], after[:first]))
    assert _differences(before[first + 1], after[first + 1], rtol=1e-3)  # more than rounding apart


def test_resumed_trainer_continues_where_the_checkpoint_left_off(tmp_path):
    first = serial_trainer(tmp_path / "a", **{"run.updates": 6, "learner.eval_every": 0})
    first.run(StopFlag())
    resumed = serial_trainer(
        tmp_path / "b",
        **{
            "run.updates": 9,
            "learner.eval_every": 0,
            "learner.resume": str(tmp_path / "a" / rundir.CHECKPOINT),
        },
    )
    assert (resumed.version, resumed.updates) == (6, 6)
    resumed.run(StopFlag())
    straight = serial_trainer(tmp_path / "c", **{"run.updates": 9, "learner.eval_every": 0})
    straight.run(StopFlag())
    tail = rundir.read_rows(tmp_path / "b" / rundir.METRICS)
    full = rundir.read_rows(tmp_path / "c" / rundir.METRICS)[6:]
    assert [r["update"] for r in tail] == [7, 8, 9]
    assert [r["loss/critic"] for r in tail] == [r["loss/critic"] for r in full]


def test_resume_auto_continues_the_run_directorys_checkpoint_or_starts_fresh(tmp_path):
    """Containers restart with the same config: `learner.resume auto` picks up their own run."""
    fresh = serial_trainer(tmp_path, **{"run.updates": 4, "learner.eval_every": 0, "learner.resume": "auto"})
    assert (fresh.version, fresh.updates) == (0, 0)  # no checkpoint yet: a new run
    fresh.run(StopFlag())
    again = serial_trainer(tmp_path, **{"run.updates": 6, "learner.eval_every": 0, "learner.resume": "auto"})
    assert (again.version, again.updates) == (4, 4)
    again.run(StopFlag())
    assert [r["version"] for r in rundir.read_rows(tmp_path / rundir.METRICS)] == [1, 2, 3, 4, 5, 6]


def test_progress_and_diagnostics_are_exported_after_each_update(tmp_path):
    trainer = serial_trainer(tmp_path, **{"run.updates": 2, "learner.eval_every": 0})
    registry = trainer.m.registry.registry
    started = registry.get_sample_value("vast_learner_last_progress_timestamp_seconds")
    trainer.run(StopFlag())
    assert registry.get_sample_value("vast_learner_last_progress_timestamp_seconds") >= started > 0
    assert registry.get_sample_value("vast_learner_stat", {"name": "subteams_active"}) >= 1
    assert registry.get_sample_value("vast_learner_stat", {"name": "entropy"}) > 0
