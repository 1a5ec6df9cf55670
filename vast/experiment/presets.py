"""The paper's comparisons as named presets: which settings, on which environments, for how long.

Plot modes (reference-spec §1.4.7): S (state of the art), F (operators Ψ), A (assignment strategies
X, plus the best flat baseline of the domain) and D (division diversity). Budgets are the paper's
epochs per domain (one update per epoch); `--budget` scales them. Each preset's default environments
are the ones its figure shows; `--env` replaces them with any list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from vast.common.config import ConfigError

PAPER_UPDATES = {"warehouse": 3000, "battle": 2000, "gaussian-squeeze": 10000}
SMALL = ("warehouse-4", "battle-20", "gaussian-squeeze-200")
LARGE = ("warehouse-16", "battle-80", "gaussian-squeeze-800")


def family(env: str) -> str:
    from vast.envs.registry import parse_name

    return parse_name(env)[0]


def paper_updates(env: str, budget: float = 1.0) -> int:
    """The paper's epochs for the environment's domain, scaled by `budget` (at least 1)."""
    return max(1, math.ceil(PAPER_UPDATES[family(env)] * budget - 1e-9))


def best_baseline(env: str) -> str:
    """The flat baseline the paper's plot mode A shows: QTRAN on Warehouse-4/8 and GaussianSqueeze,
    QMIX on Warehouse-16 and Battle (for other sizes: QTRAN up to 8 robots, else QMIX)."""
    from vast.envs.registry import parse_name

    fam, n = parse_name(env)
    if fam == "gaussian-squeeze" or (fam == "warehouse" and n <= 8):
        return "qtran"
    return "qmix"


@dataclass(frozen=True)
class Preset:
    name: str
    mode: str  # S, F, A or D
    figure: str
    title: str
    envs: tuple[str, ...]
    grid: Callable[[str], list[tuple[str, str]]]  # env -> [(setting, plot label)]
    focus: str  # the setting the results table compares every other one with
    metric: str = "eval_metric"

    def settings(self, env: str) -> list[tuple[str, str]]:
        return self.grid(env)


def _sota(env: str) -> list[tuple[str, str]]:
    return [
        ("vast-qtran@0.25", "VAST (η=1/4)"),
        ("vast-qtran@0.5", "VAST (η=1/2)"),
        ("qmix", "QMIX"),
        ("qtran", "QTRAN"),
        ("il", "IL"),
    ]


def _operators(env: str) -> list[tuple[str, str]]:
    return [(f"vast-{op}@0.5", f"VAST (Ψ = {label})") for op, label in OPERATOR_LABELS]


OPERATOR_LABELS = (("independent", "IL"), ("vdn", "VDN"), ("qmix", "QMIX"), ("qtran", "QTRAN"))


def _assignment(env: str) -> list[tuple[str, str]]:
    baseline = best_baseline(env)
    return [
        ("vast-qtran-random@0.25", "VAST (X = Random)"),
        ("vast-qtran-fixed@0.25", "VAST (X = Fixed)"),
        ("vast-qtran-spatial@0.25", "VAST (X = Spatial)"),
        ("vast-qtran-metagrad@0.25", "VAST (X = MetaGrad)"),
        (baseline, f"Best baseline ({baseline.upper()})"),
    ]


def _diversity(env: str) -> list[tuple[str, str]]:
    return _sota(env)[:2]


PRESETS = {
    p.name: p
    for p in (
        Preset(
            "paper-operators", "F", "Fig. 3", "VFF operators", SMALL, _operators, "vast-qtran-metagrad@0.5"
        ),
        Preset(
            "paper-sota",
            "S",
            "Fig. 4",
            "State-of-the-art comparison",
            SMALL + LARGE,
            _sota,
            "vast-qtran-metagrad@0.25",
        ),
        Preset(
            "paper-assignment",
            "A",
            "Fig. 5",
            "Sub-team assignment strategies",
            LARGE,
            _assignment,
            "vast-qtran-metagrad@0.25",
        ),
        Preset(
            "paper-diversity",
            "D",
            "division diversity (mode D)",
            "Division diversity",
            SMALL + LARGE,
            _diversity,
            "vast-qtran-metagrad@0.25",
            metric="diversity",
        ),
    )
}
MODE_METRIC = {p.mode: p.metric for p in PRESETS.values()}
MODE_TITLE = {p.mode: p.title for p in PRESETS.values()}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]
