"""Battle[N] (reference-spec §1.2): N learning agents against N scripted opponents on an open grid.

Each step the alive agents act in a freshly shuffled order, then the opponents in id order (compiled in
`envs._kernels.bt_step`). Two HP models (option `hp`):

- "float" (default, the reference's): HP is a float64, a hit is max(0, hp - 1), a heal min(3, hp + 0.1),
  and a unit lives while hp > 0. Because 0.1 is not exact in binary, a "lethal" hit can leave a residue
  of about 1e-16 HP: the unit survives and needs one more hit, exactly as in the reference.
- "exact": HP is an integer count of 1/U HP (U = 10 for the code's regeneration of 0.1, 100 for the
  paper's 0.01); healing and damage are exact and no residue survives.

The wire carries the world state, not the observations: cells of both armies and one HP code per unit
(uint8 at U = 10): 0 for dead, 1..3U for HP in units of 1/U, and 3U + k for a float residue of k * 2^-52
HP. Observations and state depend on HP only through float32(HP / 3) per unit, which the code determines
exactly (tested over every HP value the float dynamics can reach in 100 steps), so `decode_batch`
rebuilds them bit for bit with the kernels `observe()` and `state()` use; the wire costs what the integer
HP cost (6 bytes per agent-opponent pair and step).
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
HP_MODES = ("float", "exact")  # the reference's float HP (default) or exact integer tenths
RESIDUE_CODES = 225  # wire codes 3U+1 .. 3U+225 carry residues of 1..225 x 2^-52 HP (100 steps reach 36)
EVENTS = k.BATTLE_EVENTS


def hp_units(regen: float) -> tuple[int, int]:
    """(U, regen in units): the smallest U in 1, 10, .., 10^4 that makes regen * U an integer."""
    if regen < 0 or regen > HP_MAX:
        raise ValueError(f"battle option regen must lie in [0, {HP_MAX}], got {regen}")
    for units in (1, 10, 100, 1000, 10000):
        scaled = regen * units
        if abs(scaled - round(scaled)) < 1e-9:
            return units, round(scaled)
    raise ValueError(f"battle option regen must be a multiple of 1e-4, got {regen}")


def hp_table(units: int) -> np.ndarray:
    """float32(HP / 3) of every HP wire code: c / U HP for c <= 3U, a residue of (c - 3U) * 2^-52 above.

    Over every HP the float dynamics reach (multiples of 1/U plus rounding drift), float32(HP / 3)
    equals the entry of its code, so observations built from codes are the reference's (tested).
    """
    top = HP_MAX * units
    nominal = np.arange(top + 1, dtype=np.float64) / units
    residues = np.arange(1, RESIDUE_CODES + 1, dtype=np.float64) * 2.0**-52
    return (np.concatenate([nominal, residues]) / HP_MAX).astype(np.float32)


def make_spec(
    n_agents: int, regen: float = DEFAULT_REGEN, hp: str = "float", kill_bonus: float = 0.0, **_: Any
) -> EnvSpec:
    """Options: regen (HP per turn: the code's 0.1, the paper's 0.01), hp ("float" as the reference, or
    "exact" tenths), kill_bonus (reward for a kill on top of the hit's +1: the code's 0, the paper's 1)."""
    if hp not in HP_MODES:
        raise ValueError(f"battle option hp must be one of {HP_MODES}, got {hp!r}")
    lay = layout(n_agents)
    units, _regen = hp_units(float(regen))
    coord = "uint8" if lay.width <= 256 else "uint16"
    code = "uint8" if HP_MAX * units + RESIDUE_CODES <= 255 else "uint16"
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
            "agent_hp": ArraySpec(code, (n_agents,)),  # HP codes (see `hp_table`; 0 = dead)
            "opp_xy": ArraySpec(coord, (n_agents, 2)),
            "opp_hp": ArraySpec(code, (n_agents,)),
        },
        options={"regen": float(regen), "hp": hp, "kill_bonus": float(kill_bonus)},
    )


class BattleEnv:
    """B copies of Battle[N]. World state: cells (B, N, 2) and HP (B, N) of both armies: float64 HP
    (hp="float") or int64 counts of 1/U HP (hp="exact")."""

    def __init__(self, spec: EnvSpec, batch_size: int):
        self.spec = spec
        self.batch_size = batch_size
        self.layout: BattleLayout = layout(spec.n_agents)
        regen = float(spec.options.get("regen", DEFAULT_REGEN))
        self.hp_mode = spec.options.get("hp", "float")
        self.units, regen_units = hp_units(regen)
        if self.hp_mode == "float":  # HP in HP: the reference's arithmetic, literally
            hp_dtype, self.hp_max, self._damage, self._regen, self._code_scale = (
                np.float64,
                3.0,
                1.0,
                regen,
                self.units,
            )
        else:  # HP in units of 1/U
            hp_dtype, self.hp_max, self._damage, self._regen = (
                np.int64,
                HP_MAX * self.units,
                self.units,
                regen_units,
            )
            self._code_scale = 1
        self._table = hp_table(self.units)
        self._kill_bonus = float(spec.options.get("kill_bonus", 0.0))
        b, n = batch_size, spec.n_agents
        self.axy = np.zeros((b, n, 2), dtype=np.int64)
        self.ahp = np.zeros((b, n), dtype=hp_dtype)
        self.oxy = np.zeros((b, n, 2), dtype=np.int64)
        self.ohp = np.zeros((b, n), dtype=hp_dtype)
        self.t = np.zeros(b, dtype=np.int64)
        self.done = np.zeros(b, dtype=bool)
        self.events = np.zeros((b, len(EVENTS)), dtype=np.int64)  # episode totals, columns EVENTS
        self._rng = k.seed_streams(0, b)
        self._no_order = np.full(1, -1, dtype=np.int64)
        self.fixed_order: np.ndarray | None = None  # tests only: force the agents' processing order (N,)
        self._reward = np.zeros(b, dtype=np.float64)
        self._codes = np.zeros((2, b, n), dtype=np.int64)

    @property
    def kills(self) -> np.ndarray:
        """(B, 2): (opponents killed, agents killed) this episode."""
        return self.events[:, :2]

    def reset(self, seed: int) -> None:
        self._rng = k.seed_streams(seed, self.batch_size)
        self.axy[:] = self.layout.agents
        self.oxy[:] = self.layout.opponents
        self.ahp[:] = self.hp_max
        self.ohp[:] = self.hp_max
        self.t[:] = 0
        self.done[:] = False
        self.events[:] = 0

    def hit_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(agents, opponents) HP in HP (B, N) float64, whichever model is stored."""
        scale = 1.0 if self.hp_mode == "float" else 1.0 / self.units
        return self.ahp * scale, self.ohp * scale

    def hp_codes(self) -> np.ndarray:
        """(2, B, N) int64 wire codes of the agents' and the opponents' HP (what `wire_step` sends)."""
        base = HP_MAX * self.units
        for side, hp in enumerate((self.ahp, self.ohp)):
            k.bt_hp_codes(hp, self._code_scale, base, RESIDUE_CODES, self._codes[side])
        return self._codes

    def observe(self) -> Features:
        out = np.empty((self.batch_size, self.spec.n_agents, self.spec.obs_dense_dim), dtype=np.float32)
        codes = self.hp_codes()
        w, h = self.layout.width, self.layout.height
        k.bt_observe(self.axy, codes[0], self.oxy, codes[1], self._table, w, h, out)
        return Features(dense=out, onehot=None)

    def state(self) -> np.ndarray:
        out = np.empty((self.batch_size, self.spec.state_dim), dtype=np.float32)
        codes = self.hp_codes()
        k.bt_state(
            self.axy, codes[0], self.oxy, codes[1], self._table, self.layout.width, self.layout.height, out
        )
        return out

    def alive(self) -> np.ndarray:
        return self.ahp > 0

    def positions(self) -> np.ndarray:
        return np.where((self.ahp > 0)[..., None], self.axy, -1).astype(np.int16)

    def wire_step(self) -> dict[str, np.ndarray]:
        coord, code = self.spec.wire["agent_xy"].dtype, self.spec.wire["agent_hp"].dtype
        codes = self.hp_codes()
        return {
            "agent_xy": self.axy.astype(coord),
            "agent_hp": codes[0].astype(code),
            "opp_xy": self.oxy.astype(coord),
            "opp_hp": codes[1].astype(code),
        }

    def step(self, actions: np.ndarray) -> StepResult:
        actions = checked_actions(actions, self.batch_size, self.spec.n_agents)
        order = self._no_order if self.fixed_order is None else np.asarray(self.fixed_order, dtype=np.int64)
        k.bt_step(
            self._rng, self.axy, self.ahp, self.oxy, self.ohp, self.t, self.done, self.events,
            actions, self.layout.width, self.layout.height,
            self.hp_max, self._damage, self._regen, self._kill_bonus, self.spec.episode_limit, order,
            self._reward,
        )  # fmt: skip
        return StepResult(team_reward=self._reward.astype(np.float32), done=self.done.copy())

    def metric(self) -> np.ndarray:
        """(opponents killed) - (agents killed) this episode: the paper's kill count."""
        return (self.events[:, 0] - self.events[:, 1]).astype(np.float64)

    def event_counts(self) -> dict[str, np.ndarray]:
        """Episode totals of every event in EVENTS, (B,) int64 each."""
        return {name: self.events[:, c].copy() for c, name in enumerate(EVENTS)}

    def set_world(
        self,
        copy: int,
        agent_xy: Any = None,
        agent_hp: Any = None,
        opp_xy: Any = None,
        opp_hp: Any = None,
        t: int | None = None,
    ) -> None:
        """Tests and demos: place units (N, 2) and set HP (N,) in HP (0 = dead). Float HP is stored as
        given; exact HP is rounded to multiples of 1/U."""
        n, side = self.spec.n_agents, self.layout.width
        for xy, target in ((agent_xy, self.axy), (opp_xy, self.oxy)):
            if xy is not None:
                xy = np.asarray(xy, dtype=np.int64).reshape(n, 2)
                if (xy < 0).any() or (xy >= side).any():
                    raise ValueError("unit cells must lie on the grid")
                target[copy] = xy
        for hp, target in ((agent_hp, self.ahp), (opp_hp, self.ohp)):
            if hp is not None:
                hp = np.asarray(hp, dtype=np.float64).reshape(n)
                if (hp < 0).any() or (hp > HP_MAX).any():
                    raise ValueError(f"HP must lie in [0, {HP_MAX}]")
                target[copy] = hp if self.hp_mode == "float" else np.rint(hp * self.units)
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
    spec: EnvSpec, wire: dict[str, np.ndarray], lead: tuple[int, int], sparse: bool = False
) -> tuple[Features, Features]:
    """Rebuild observations (R, T, N, 196) and state (R, T, S) from recorded cells and HP codes; with
    `sparse`, the observations' nonzeros too (`Features.csr`: a view is ~4% nonzero).

    Padding steps (all codes zero) decode to all-zero observations; out-of-grid cells and unknown HP
    codes are rejected, since the compiled kernels do not bounds-check.
    """
    r, t = lead
    n = spec.n_agents
    lay = layout(n)
    units, _ = hp_units(spec.options.get("regen", DEFAULT_REGEN))
    table = hp_table(units)
    arrays = {}
    for name in ("agent_xy", "opp_xy"):
        xy = np.ascontiguousarray(wire[name], dtype=np.int64).reshape(r * t, n, 2)
        if xy.size and (xy.min() < 0 or xy.max() >= lay.width):
            raise ValueError(f"{spec.name}: {name} outside the {lay.width} x {lay.height} grid")
        arrays[name] = xy
    for name in ("agent_hp", "opp_hp"):
        code = np.ascontiguousarray(wire[name], dtype=np.int64).reshape(r * t, n)
        if code.size and (code.min() < 0 or code.max() >= len(table)):
            raise ValueError(f"{spec.name}: {name} holds HP codes outside 0..{len(table) - 1}")
        arrays[name] = code
    obs = np.empty((r * t, n, spec.obs_dense_dim), dtype=np.float32)
    state = np.empty((r * t, spec.state_dim), dtype=np.float32)
    args = (
        arrays["agent_xy"],
        arrays["agent_hp"],
        arrays["opp_xy"],
        arrays["opp_hp"],
        table,
        lay.width,
        lay.height,
    )
    csr = k.bt_observe_csr(*args, obs) if sparse else k.bt_observe(*args, obs)
    k.bt_state(*args, state)
    return (
        Features(dense=obs.reshape(r, t, n, -1), onehot=None, csr=csr),
        Features(dense=state.reshape(r, t, -1), onehot=None),
    )
