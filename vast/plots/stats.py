"""The statistics of the paper's figures and of rliable-style aggregates, in numpy/scipy.

- Curves (reference-spec §1.4.7): each run's per-update value smoothed with a 10-update moving
  average ('valid' convolution); the mean over runs with a 95% bootstrap confidence interval from
  10,000 resamples of the runs (percentiles 2.5 and 97.5 of the resampled means).
- Aggregates (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice", as in rliable
  and marl-eval): the interquartile mean (IQM, the mean of the middle 50% of scores) and the
  probability of improvement P(X > Y) (Mann-Whitney: ties count one half), each with a 95% stratified
  bootstrap CI (runs resampled with replacement within each task, independently per setting).

Why not rliable itself: it installs here (1.2.0 with numpy 2.4 / Python 3.11), but only with pandas
pinned below 3 (its dependency arch 7.2 fails to import with pandas 3.1), and it pulls pandas,
statsmodels, arch and seaborn (3 s to import) for what are a few lines of numpy. The functions below
are tested against hand-computed values and agree with rliable's definitions.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

RESAMPLES = 10_000
CI = 95.0
WINDOW = 10


def moving_average(values: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """'valid' convolution with a flat window (the reference's smoothing); shorter input: its mean."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    window = min(window, len(values))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _percentiles(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.percentile(samples, [50 - ci / 2, 50 + ci / 2], axis=0)
    return lo, hi


def bootstrap_mean_ci(
    curves: np.ndarray, resamples: int = RESAMPLES, ci: float = CI, seed: int = 0, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """curves (runs, points) -> (mean, low, high) per point: resample the runs with replacement.

    A resample's mean is counts @ curves / runs with multinomial counts, so all points of one
    resample share the same draw of runs (as in the reference); done in column chunks to bound memory.
    """
    curves = np.asarray(curves, dtype=np.float64)
    runs = curves.shape[0]
    mean = curves.mean(0)
    if runs == 1:
        return mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(runs, np.full(runs, 1.0 / runs), size=resamples).astype(np.float64)
    lo, hi = np.empty_like(mean), np.empty_like(mean)
    for start in range(0, curves.shape[1], chunk):
        means = counts @ curves[:, start : start + chunk] / runs
        lo[start : start + chunk], hi[start : start + chunk] = _percentiles(means, ci)
    return mean, lo, hi


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all scores (runs × tasks flattened): scipy's 25% trimmed mean, as rliable."""
    return float(sps.trim_mean(np.asarray(scores, dtype=np.float64).reshape(-1), 0.25))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) averaged over tasks; x (runs_x, tasks), y (runs_y, tasks); a tie counts one half."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    per_task = [_poi_1d(x[:, t], y[:, t]) for t in range(x.shape[1])]
    return float(np.mean(per_task))


def _poi_1d(x: np.ndarray, y: np.ndarray) -> float:
    greater = (x[:, None] > y[None, :]).mean()
    ties = (x[:, None] == y[None, :]).mean()
    return float(greater + 0.5 * ties)


def _stratified_indices(rng: np.random.Generator, runs: int, tasks: int, resamples: int) -> np.ndarray:
    """(resamples, runs, tasks) run indices drawn with replacement within each task."""
    return rng.integers(0, runs, size=(resamples, runs, tasks))


def _resampled(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    tasks = np.arange(scores.shape[1])
    return scores[idx, tasks]  # (resamples, runs, tasks)


def iqm_ci(
    scores: np.ndarray, resamples: int = RESAMPLES, ci: float = CI, seed: int = 0
) -> tuple[float, float, float]:
    """IQM of scores (runs, tasks) with its stratified-bootstrap percentile CI."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    point = iqm(scores)
    if scores.shape[0] == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    boot = _resampled(scores, _stratified_indices(rng, *scores.shape, resamples))
    values = sps.trim_mean(boot.reshape(resamples, -1), 0.25, axis=1)
    lo, hi = _percentiles(values, ci)
    return point, float(lo), float(hi)


def mean_ci(
    scores: np.ndarray, resamples: int = RESAMPLES, ci: float = CI, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-run scores with the bootstrap percentile CI of the curves (same resampling)."""
    mean, lo, hi = bootstrap_mean_ci(np.asarray(scores, dtype=np.float64).reshape(-1, 1), resamples, ci, seed)
    return float(mean[0]), float(lo[0]), float(hi[0])


def poi_ci(
    x: np.ndarray, y: np.ndarray, resamples: int = RESAMPLES, ci: float = CI, seed: int = 0
) -> tuple[float, float, float]:
    """P(X > Y) with a stratified bootstrap CI (each setting's runs resampled independently per task)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    point = probability_of_improvement(x, y)
    rng = np.random.default_rng(seed)
    bx = _resampled(x, _stratified_indices(rng, *x.shape, resamples))  # (B, n, tasks)
    by = _resampled(y, _stratified_indices(rng, *y.shape, resamples))  # (B, m, tasks)
    greater = (bx[:, :, None, :] > by[:, None, :, :]).mean(axis=(1, 2))
    ties = (bx[:, :, None, :] == by[:, None, :, :]).mean(axis=(1, 2))
    values = (greater + 0.5 * ties).mean(-1)
    lo, hi = _percentiles(values, ci)
    return point, float(lo), float(hi)


def min_max_normalise(scores_by_setting: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scores of one task scaled to [0, 1] by the min and max over every run of every setting
    (marl-eval's per-task normalisation), so tasks of different scales can be aggregated."""
    everything = np.concatenate(
        [np.asarray(v, dtype=np.float64).reshape(-1) for v in scores_by_setting.values()]
    )
    low, high = float(everything.min()), float(everything.max())
    span = high - low if high > low else 1.0
    return {k: (np.asarray(v, dtype=np.float64) - low) / span for k, v in scores_by_setting.items()}
