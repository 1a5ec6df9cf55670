"""Differential test against the authors' code: random-policy statistics of every named instance.

The reference environments, run as an oracle with a uniform random policy (tests/data/reference/README.md),
recorded per episode the domain metric, the team return, the length and the domain's event counts
(collisions, drop-offs, blocked moves; hits, failed and late attacks, kills, residue survivals, how the
episode ended; the joint allocation). vast plays the same instance and every mean must agree:
|z| <= Z_TOL with z = (mean_vast - mean_ref) / sqrt(s_vast² / n_vast + s_ref² / n_ref).

vast's episodes (`episodes_for`): enough that a 2% shift of the metric, the return and the episode length
would give |z| > Z_TOL, as far as the reference's own standard error allows, and between one and four
times the reference's count. Where the reference's sample alone is too small for 2% (a metric near 0,
GaussianSqueeze's heavy-tailed GS(x)), vast plays four times as many episodes; the detectable shift of
every quantity is listed in tests/data/reference/README.md. The test is seeded, so it passes or fails
deterministically; Z_TOL = 4 keeps the chance that a faithful vast fails any of the ~90 comparisons by
bad luck of the seed near 0.5%.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vast.envs.registry import NAMED_INSTANCES, make_spec
from vast.envs.stats import play_episodes

DATA = Path(__file__).resolve().parents[2] / "data" / "reference" / "random_stats.json"
REFERENCE = json.loads(DATA.read_text())["instances"]
Z_TOL = 4.0
SHIFT = 0.02  # the relative shift of the metric, the return and the length the test must be able to see
MAX_RATIO = 4  # vast plays at most this many times the reference's episodes
BATCH = 1000
SEED = 8
# vast's name of a quantity -> the oracle's, where they differ
RENAMED = {
    "return": "return_f64",
    "moves_blocked": "move_blocked_no_edge_or_offgrid",
    "allocation": "x_sum_actions",
}


def reference_name(instance: str) -> str:
    return (
        {"warehouse": "Warehouse", "battle": "Battle", "gaussian-squeeze": "GaussianSqueeze"}[
            instance.rsplit("-", 1)[0]
        ]
        + "-"
        + instance.rsplit("-", 1)[1]
    )


def episodes_for(ref: dict) -> int:
    """vast's episode count for one instance (see the module docstring), a multiple of BATCH."""
    n_ref = ref["n_episodes"]
    need = n_ref
    for q in ("metric", "return_f64", "length"):
        mean, std = ref["quantities"][q]["mean"], ref["quantities"][q]["std"]
        if std == 0:
            continue
        room = (SHIFT * abs(mean) / Z_TOL) ** 2 - std**2 / n_ref  # what is left for vast's variance
        need = max(need, math.ceil(std**2 / room) if room > 0 else MAX_RATIO * n_ref)
    return BATCH * math.ceil(min(need, MAX_RATIO * n_ref) / BATCH)


def vast_episodes(instance: str, episodes: int) -> dict[str, np.ndarray]:
    """vast's per-episode quantities, with the episode-end causes the oracle recorded for Battle."""
    ep = play_episodes(instance, episodes, "random", seed=SEED, batch=BATCH)
    if instance.startswith("battle"):
        n = make_spec(instance).n_agents
        ep["end_all_opponents_dead"] = ep["opponents_killed"] >= n
        ep["end_all_agents_dead"] = ep["agents_killed"] >= n
        ep["end_time_limit"] = ~(ep["end_all_opponents_dead"] | ep["end_all_agents_dead"])
    if instance.startswith("warehouse"):
        ep["item_dropoffs"] = ep["dropoffs"] - ep["completed_orders"]
    if instance.startswith("gaussian-squeeze"):
        # the reference computes and stores GS(x) in float32 (exactly 0 for x above ~2440: every
        # GaussianSqueeze-800 episode); vast's metric is float64 and its team reward float32, as compared here
        ep["metric"] = ep["metric"].astype(np.float32)
    return ep


def z_score(ours: np.ndarray, ref: dict, n_ref: int) -> float:
    """The two-sample z of the means; where both samples are constant, 0 if they agree and inf if not."""
    ours = np.asarray(ours, dtype=np.float64)
    diff = ours.mean() - ref["mean"]
    se = math.sqrt(ours.var(ddof=1) / len(ours) + ref["std"] ** 2 / n_ref)
    if se == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / se


@pytest.mark.parametrize("instance", NAMED_INSTANCES)
def test_random_policy_statistics_match_the_reference(instance):
    ref = REFERENCE[reference_name(instance)]
    n_ref = ref["n_episodes"]
    ours = vast_episodes(instance, episodes_for(ref))
    compared = {q: RENAMED.get(q, q) for q in ours if RENAMED.get(q, q) in ref["quantities"]}
    expected = set(ref["quantities"]) - {"return_env_f32"}  # the same return, summed in float32
    assert set(compared.values()) == expected, expected - set(compared.values())
    z = {q: z_score(ours[q], ref["quantities"][r], n_ref) for q, r in compared.items()}
    off = {
        q: (round(v, 2), float(np.mean(ours[q])), ref["quantities"][compared[q]]["mean"])
        for q, v in z.items()
    }
    assert all(abs(v) <= Z_TOL for v in z.values()), {q: v for q, v in off.items() if abs(v[0]) > Z_TOL}


def test_the_comparison_rejects_exact_hit_points():
    """Power check: Battle-20 with exact integer HP (no residue ever survives) differs from the reference
    in the residue survivals and, through them, in the hits on agents (one reference-sized sample)."""
    ref = REFERENCE["Battle-20"]
    ours = play_episodes("battle-20", ref["n_episodes"], "random", seed=SEED, batch=BATCH, hp="exact")
    q = ref["quantities"]
    assert z_score(ours["agent_residue_survivals"], q["agent_residue_survivals"], ref["n_episodes"]) < -Z_TOL
    assert z_score(ours["opponent_hits"], q["opponent_hits"], ref["n_episodes"]) < -Z_TOL
