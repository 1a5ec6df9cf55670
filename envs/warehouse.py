"""Warehouse[N] (reference-spec §1.1): robots serve five-item orders on a grid with collisions.

Each step the robots act one at a time in a freshly shuffled order against the positions as they stand
(compiled in `envs._kernels.wh_step`). The wire carries the world state, not the observations: robot
cells and per-type item counts of the current order (6 bytes per robot and step), from which
`decode_batch` rebuilds observations and state with the same kernels `observe()` and `state()` use.

Options: start="dropoff" (code: robots start on type-0 cells, drawn with replacement) or "stations"
(paper: random work stations, distinct while there are enough).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vast.envs import _kernels as k
from vast.envs.base import ArraySpec, EnvSpec, Features, StepResult, checked_actions
from vast.envs.warehouse_layouts import N_TYPES, WarehouseLayout, layout, station_cells

N_ACTIONS = 6  # NOOP, NORTH, SOUTH, WEST, EAST, DROPOFF
OBS_SHAPE = (5, 5, 5)  # (channels, x, y)
EPISODE_LIMIT = 50
GAMMA = 0.95
STARTS = ("dropoff", "stations")
EVENTS = k.WAREHOUSE_EVENTS


def make_spec(n_agents: int, start: str = "dropoff", **_: Any) -> EnvSpec:
    if start not in STARTS:
        raise ValueError(f"warehouse option start must be one of {STARTS}, got {start!r}")
    lay = layout(n_agents)
    coord = "uint8" if max(lay.width, lay.height) <= 256 else "uint16"
    return EnvSpec(
        name=f"warehouse-{n_agents}",
        n_agents=n_agents,
        n_actions=N_ACTIONS,
        obs_dense_dim=int(np.prod(OBS_SHAPE)),
        obs_onehot_dim=0,
        state_dim=5 * N_TYPES * lay.width * lay.height,
        episode_limit=EPISODE_LIMIT,
        gamma=GAMMA,
        metric_name="completed orders",
        wire={
            "robot_xy": ArraySpec(coord, (n_agents, 2)),  # robot cells before acting
            "robot_items": ArraySpec("uint8", (n_agents, 4)),  # counts of types 2..5 left in bucket 0
        },
        options={"start": start},
    )


class WarehouseEnv:
    """B copies of Warehouse[N]. World state: positions (B, N, 2) and item counts (B, N, 4), int64."""

    def __init__(self, spec: EnvSpec, batch_size: int):
        self.spec = spec
        self.batch_size = batch_size
        self.layout: WarehouseLayout = layout(spec.n_agents)
        self._types = np.ascontiguousarray(self.layout.types, dtype=np.int64)
        self._moves = np.ascontiguousarray(self.layout.moves, dtype=np.int64)
        if spec.options.get("start", "dropoff") == "stations":
            self._starts = station_cells(self.layout.types)
            self._distinct = len(self._starts) >= spec.n_agents
        else:
            self._starts, self._distinct = np.ascontiguousarray(self.layout.starts), False
        b, n = batch_size, spec.n_agents
        self.pos = np.zeros((b, n, 2), dtype=np.int64)
        self.items = np.zeros((b, n, 4), dtype=np.int64)
        self.t = np.zeros(b, dtype=np.int64)
        self.done = np.zeros(b, dtype=bool)
        self.completed = np.zeros(b, dtype=np.int64)
        self.events = np.zeros((b, len(EVENTS)), dtype=np.int64)  # episode totals, columns EVENTS
        self._rng = k.seed_streams(0, b)
        self._no_order = np.full(1, -1, dtype=np.int64)
        self.fixed_order: np.ndarray | None = None  # tests only: force the processing order (N,)
        self._reward = np.zeros(b, dtype=np.float64)

    def reset(self, seed: int) -> None:
        self._rng = k.seed_streams(seed, self.batch_size)
        k.wh_reset(self._rng, self.pos, self.items, self._starts, self._distinct)
        self.t[:] = 0
        self.done[:] = False
        self.completed[:] = 0
        self.events[:] = 0

    def observe(self) -> Features:
        out = np.empty((self.batch_size, self.spec.n_agents, self.spec.obs_dense_dim), dtype=np.float32)
        k.wh_observe(self.pos, self.items, self._types, out)
        return Features(dense=out, onehot=None)

    def state(self) -> np.ndarray:
        out = np.empty((self.batch_size, self.spec.state_dim), dtype=np.float32)
        k.wh_state(self.pos, self.items, self._types, out)
        return out

    def alive(self) -> np.ndarray:
        return np.ones((self.batch_size, self.spec.n_agents), dtype=bool)

    def positions(self) -> np.ndarray:
        return self.pos.astype(np.int16)

    def wire_step(self) -> dict[str, np.ndarray]:
        return {
            "robot_xy": self.pos.astype(self.spec.wire["robot_xy"].dtype),
            "robot_items": self.items.astype(np.uint8),
        }

    def step(self, actions: np.ndarray) -> StepResult:
        actions = checked_actions(actions, self.batch_size, self.spec.n_agents)
        order = self._no_order if self.fixed_order is None else np.asarray(self.fixed_order, dtype=np.int64)
        k.wh_step(
            self._rng, self.pos, self.items, self.t, self.done, self.completed, self.events,
            actions, self._types, self._moves, order,
            self.spec.episode_limit, self._reward,
        )  # fmt: skip
        return StepResult(team_reward=self._reward.astype(np.float32), done=self.done.copy())

    def metric(self) -> np.ndarray:
        return self.completed.astype(np.float64)

    def event_counts(self) -> dict[str, np.ndarray]:
        """Episode totals of every event in EVENTS and of completed orders, (B,) int64 each."""
        counts = {name: self.events[:, c].copy() for c, name in enumerate(EVENTS)}
        counts["completed_orders"] = self.completed.copy()
        return counts

    def set_world(self, copy: int, positions: Any = None, items: Any = None, t: int | None = None) -> None:
        """Tests and demos: place robots (N, 2) and set bucket-0 item counts (N, 4) of types 2..5."""
        if positions is not None:
            pos = np.asarray(positions, dtype=np.int64).reshape(self.spec.n_agents, 2)
            w, h = self._types.shape
            if (pos < 0).any() or (pos[:, 0] >= w).any() or (pos[:, 1] >= h).any():
                raise ValueError("robot positions must lie on the grid")
            if (self._types[pos[:, 0], pos[:, 1]] < 0).any():
                raise ValueError("robots can only stand on locations (type >= 0)")
            self.pos[copy] = pos
        if items is not None:
            self.items[copy] = np.asarray(items, dtype=np.int64).reshape(self.spec.n_agents, 4)
        if t is not None:
            self.t[copy] = t
            self.done[copy] = t >= self.spec.episode_limit


def make_env(spec: EnvSpec, batch_size: int) -> WarehouseEnv:
    return WarehouseEnv(spec, batch_size)


def decode_batch(
    spec: EnvSpec, wire: dict[str, np.ndarray], lead: tuple[int, int], sparse: bool = False
) -> tuple[Features, Features]:
    """Rebuild observations (R, T, N, 125) and state (R, T, S) from recorded robot cells and items;
    with `sparse`, the state's nonzeros too (`Features.csr`: it is ~5% nonzero).

    Padding steps (all zeros) decode to harmless values; out-of-grid cells are rejected, since the
    compiled kernels do not bounds-check.
    """
    r, t = lead
    n = spec.n_agents
    types = np.ascontiguousarray(layout(n).types, dtype=np.int64)
    pos = np.ascontiguousarray(wire["robot_xy"], dtype=np.int64).reshape(r * t, n, 2)
    items = np.ascontiguousarray(wire["robot_items"], dtype=np.int64).reshape(r * t, n, 4)
    if pos.size and (
        pos.min() < 0 or pos[..., 0].max() >= types.shape[0] or pos[..., 1].max() >= types.shape[1]
    ):
        raise ValueError(f"{spec.name}: robot_xy outside the {types.shape} grid")
    if items.size and items.max() > 5:
        raise ValueError(f"{spec.name}: robot_items counts above 5")
    obs = np.empty((r * t, n, spec.obs_dense_dim), dtype=np.float32)
    state = np.empty((r * t, spec.state_dim), dtype=np.float32)
    k.wh_observe(pos, items, types, obs)
    csr = k.wh_state_csr(pos, items, types, state) if sparse else k.wh_state(pos, items, types, state)
    return (
        Features(dense=obs.reshape(r, t, n, -1), onehot=None),
        Features(dense=state.reshape(r, t, -1), onehot=None, csr=csr),
    )
