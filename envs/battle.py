"""Battle[N] (reference-spec §1.2): N learning agents against N scripted opponents on an open grid.

Each step the alive agents act in a freshly shuffled order, then the opponents in id order (compiled in
`envs._kernels.bt_step`). HP is kept as an integer count of 1/U HP (U = 10 for the code's regeneration
of 0.1, U = 100 for the paper's 0.01), so healing and damage are exact and the observations are a pure
function of (cells, HP).

The wire carries that world state, not the observations: cells and HP of agents and opponents (6 bytes
per agent-opponent pair and step at U = 10), from which `decode_batch` rebuilds observations and state
with the same kernels `observe()` and `state()` use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vast.envs import _kernels as k
from vast.envs.base import ArraySpec, EnvSpec, Features, StepResult, checked_actions
from vast.envs.battle_layouts import BattleLayout, layout

N_ACTIONS = 6  # NOOP, NORTH, SOUTH, WEST, EAST, ATTACK
OBS_SHAPE = (4, 7, 7)  # (channels, x, y)
HP_MAX = 3
EPISODE_LIMIT = 100
GAMMA = 0.99
DEFAULT_REGEN = 0.1


def hp_units(regen: float) -> tuple[int, int]:
    """(U, regen in units): the smallest U in 1, 10, .., 10^4 that makes regen * U an integer."""
    if regen < 0 or regen > HP_MAX:
        raise ValueError(f"battle option regen must lie in [0, {HP_MAX}], got {regen}")
    for units in (1, 10, 100, 1000, 10000):
        scaled = regen * units
        if abs(scaled - round(scaled)) < 1e-9:
            return units, round(scaled)
    raise ValueError(f"battle option regen must be a multiple of 1e-4, got {regen}")


def make_spec(n_agents: int, regen: float = DEFAULT_REGEN, **_: Any) -> EnvSpec:
    lay = layout(n_agents)
    units, _regen = hp_units(float(regen))
    coord = "uint8" if lay.width <= 256 else "uint16"
    hp = "uint8" if HP_MAX * units <= 255 else "uint16"
    return EnvSpec(
        name=f"battle-{n_agents}",
        n_agents=n_agents,
        n_actions=N_ACTIONS,
        obs_dense_dim=int(np.prod(OBS_SHAPE)),
        obs_onehot_dim=0,
        state_dim=2 * lay.width * lay.height,
        episode_limit=EPISODE_LIMIT,
        gamma=GAMMA,
        metric_name="kill count",
        wire={
            "agent_xy": ArraySpec(coord, (n_agents, 2)),  # cells before acting (last cell once dead)
            "agent_hp": ArraySpec(hp, (n_agents,)),  # HP in units of 1/U (0 = dead)
            "opp_xy": ArraySpec(coord, (n_agents, 2)),
            "opp_hp": ArraySpec(hp, (n_agents,)),
        },
        options={"regen": float(regen)},
    )


class BattleEnv:
    """B copies of Battle[N]. World state: cells (B, N, 2) and integer HP (B, N) of both armies."""

    def __init__(self, spec: EnvSpec, batch_size: int):
        self.spec = spec
        self.batch_size = batch_size
        self.layout: BattleLayout = layout(spec.n_agents)
        self.units, self._regen = hp_units(spec.options.get("regen", DEFAULT_REGEN))
        self.hp_max = HP_MAX * self.units
        b, n = batch_size, spec.n_agents
        self.axy = np.zeros((b, n, 2), dtype=np.int64)
        self.ahp = np.zeros((b, n), dtype=np.int64)
        self.oxy = np.zeros((b, n, 2), dtype=np.int64)
        self.ohp = np.zeros((b, n), dtype=np.int64)
        self.t = np.zeros(b, dtype=np.int64)
        self.done = np.zeros(b, dtype=bool)
        self.kills = np.zeros((b, 2), dtype=np.int64)  # (opponents killed, agents killed)
        self._rng = k.seed_streams(0, b)
        self._no_order = np.full(1, -1, dtype=np.int64)
        self.fixed_order: np.ndarray | None = None  # tests only: force the agents' processing order (N,)
        self._reward = np.zeros(b, dtype=np.float64)

    def reset(self, seed: int) -> None:
        self._rng = k.seed_streams(seed, self.batch_size)
        self.axy[:] = self.layout.agents
        self.oxy[:] = self.layout.opponents
        self.ahp[:] = self.hp_max
        self.ohp[:] = self.hp_max
        self.t[:] = 0
        self.done[:] = False
        self.kills[:] = 0

    def observe(self) -> Features:
        out = np.empty((self.batch_size, self.spec.n_agents, self.spec.obs_dense_dim), dtype=np.float32)
        w, h = self.layout.width, self.layout.height
        k.bt_observe(self.axy, self.ahp, self.oxy, self.ohp, w, h, HP_MAX * self.units, out)
        return Features(dense=out, onehot=None)

    def state(self) -> np.ndarray:
        out = np.empty((self.batch_size, self.spec.state_dim), dtype=np.float32)
        w, h = self.layout.width, self.layout.height
        k.bt_state(self.axy, self.ahp, self.oxy, self.ohp, w, h, HP_MAX * self.units, out)
        return out

    def alive(self) -> np.ndarray:
        return self.ahp > 0

    def positions(self) -> np.ndarray:
        return np.where((self.ahp > 0)[..., None], self.axy, -1).astype(np.int16)

    def wire_step(self) -> dict[str, np.ndarray]:
        coord, hp = self.spec.wire["agent_xy"].dtype, self.spec.wire["agent_hp"].dtype
        return {
            "agent_xy": self.axy.astype(coord),
            "agent_hp": self.ahp.astype(hp),
            "opp_xy": self.oxy.astype(coord),
            "opp_hp": self.ohp.astype(hp),
        }

    def step(self, actions: np.ndarray) -> StepResult:
        actions = checked_actions(actions, self.batch_size, self.spec.n_agents)
        order = self._no_order if self.fixed_order is None else np.asarray(self.fixed_order, dtype=np.int64)
        k.bt_step(
            self._rng, self.axy, self.ahp, self.oxy, self.ohp, self.t, self.done, self.kills,
            actions, self.layout.width, self.layout.height,
            self.hp_max, self.units, self._regen, self.spec.episode_limit, order, self._reward,
        )  # fmt: skip
        return StepResult(team_reward=self._reward.astype(np.float32), done=self.done.copy())

    def metric(self) -> np.ndarray:
        """(opponents killed) - (agents killed) this episode: the paper's kill count."""
        return (self.kills[:, 0] - self.kills[:, 1]).astype(np.float64)

    def set_world(
        self,
        copy: int,
        agent_xy: Any = None,
        agent_hp: Any = None,
        opp_xy: Any = None,
        opp_hp: Any = None,
        t: int | None = None,
    ) -> None:
        """Tests and demos: place units (N, 2) and set HP (N,) in HP (0 = dead; multiples of 1/U)."""
        n, side = self.spec.n_agents, self.layout.width
        for xy, target in ((agent_xy, self.axy), (opp_xy, self.oxy)):
            if xy is not None:
                xy = np.asarray(xy, dtype=np.int64).reshape(n, 2)
                if (xy < 0).any() or (xy >= side).any():
                    raise ValueError("unit cells must lie on the grid")
                target[copy] = xy
        for hp, target in ((agent_hp, self.ahp), (opp_hp, self.ohp)):
            if hp is not None:
                target[copy] = np.rint(np.asarray(hp, dtype=np.float64).reshape(n) * self.units).astype(
                    np.int64
                )
        if t is not None:
            self.t[copy] = t
        self.done[copy] = (
            self.t[copy] >= self.spec.episode_limit
            or not (self.ahp[copy] > 0).any()
            or not (self.ohp[copy] > 0).any()
        )


def make_env(spec: EnvSpec, batch_size: int) -> BattleEnv:
    return BattleEnv(spec, batch_size)


def decode_batch(
    spec: EnvSpec, wire: dict[str, np.ndarray], lead: tuple[int, int]
) -> tuple[Features, np.ndarray]:
    """Rebuild observations (R, T, N, 196) and state (R, T, S) from recorded cells and HP.

    Padding steps (all HP zero) decode to all-zero observations; out-of-grid cells are rejected, since
    the compiled kernels do not bounds-check.
    """
    r, t = lead
    n = spec.n_agents
    lay = layout(n)
    units, _ = hp_units(spec.options.get("regen", DEFAULT_REGEN))
    arrays = {}
    for name in ("agent_xy", "opp_xy"):
        xy = np.ascontiguousarray(wire[name], dtype=np.int64).reshape(r * t, n, 2)
        if xy.size and (xy.min() < 0 or xy.max() >= lay.width):
            raise ValueError(f"{spec.name}: {name} outside the {lay.width} x {lay.height} grid")
        arrays[name] = xy
    for name in ("agent_hp", "opp_hp"):
        hp = np.ascontiguousarray(wire[name], dtype=np.int64).reshape(r * t, n)
        if hp.size and hp.max() > HP_MAX * units:
            raise ValueError(f"{spec.name}: {name} above the maximum HP")
        arrays[name] = hp
    obs = np.empty((r * t, n, spec.obs_dense_dim), dtype=np.float32)
    state = np.empty((r * t, spec.state_dim), dtype=np.float32)
    args = (arrays["agent_xy"], arrays["agent_hp"], arrays["opp_xy"], arrays["opp_hp"], lay.width, lay.height)
    k.bt_observe(*args, HP_MAX * units, obs)
    k.bt_state(*args, HP_MAX * units, state)
    return Features(dense=obs.reshape(r, t, n, -1), onehot=None), state.reshape(r, t, -1)
