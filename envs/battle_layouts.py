"""Battle[N] layouts: square grid and the two mirrored start formations, for any N.

One rule reproduces the reference's Battle-20/40/80 exactly (tested against reference-spec §1.2) and
grows the same way for any other N:

- formation width  w = ceil(sqrt(N / 1.25)), rounded up to even      (20 -> 4, 40 -> 6, 80 -> 8)
- formation height h = ceil(N / w) + 1, rounded up to even           (20 -> 6, 40 -> 8, 80 -> 12)
- grid side L = 2w + 2, so the two armies start two columns apart    (20 -> 10, 40 -> 14, 80 -> 18)
- the agents' w x h block sits at x = 0 .. w-1, vertically centred (y0 = (L - h) // 2); the w*h - N
  surplus cells are cut from the block's corners, most "outside the inscribed ellipse" first, four at a
  time (one per corner, mirror-symmetric); a remainder below four is cut from the next group in the order
  top-left, top-right, bottom-left, bottom-right.
- opponents are the mirror image about the vertical centre line (x -> L - 1 - x).

Agent and opponent ids follow row-major order over the reference's ASCII map (y first, then x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BattleLayout:
    width: int
    height: int
    agents: np.ndarray  # (N, 2) int64 start cells (x, y), in id order
    opponents: np.ndarray  # (N, 2) int64


def _even_up(v: int) -> int:
    return v + (v % 2)


def formation_size(n_agents: int) -> tuple[int, int]:
    w = _even_up(max(1, math.ceil(math.sqrt(n_agents / 1.25) - 1e-12)))
    h = _even_up(math.ceil(n_agents / w) + 1)
    return w, h


def formation(n_agents: int) -> np.ndarray:
    """The agents' cells inside their w x h block, (N, 2) local (x, y), row-major (y, then x)."""
    w, h = formation_size(n_agents)
    cut = w * h - n_agents
    cx, cy = (w - 1) / 2, (h - 1) / 2
    keep = np.ones((w, h), dtype=bool)
    quarter = [(x, y) for x in range(w // 2) for y in range(h // 2)]  # top-left quarter (low y)
    quarter.sort(key=lambda c: (-(((c[0] - cx) / (w / 2)) ** 2 + ((c[1] - cy) / (h / 2)) ** 2), c[1], c[0]))
    for x, y in quarter:
        if cut <= 0:
            break
        for mx, my in ((x, y), (w - 1 - x, y), (x, h - 1 - y), (w - 1 - x, h - 1 - y)):
            if cut > 0:
                keep[mx, my] = False
                cut -= 1
    cells = np.argwhere(keep)  # (x, y) pairs in x-major order
    order = np.lexsort((cells[:, 0], cells[:, 1]))  # row-major: y first, then x
    return cells[order].astype(np.int64)


def layout(n_agents: int) -> BattleLayout:
    if n_agents < 1:
        raise ValueError(f"battle needs at least one agent, got {n_agents}")
    w, h = formation_size(n_agents)
    side = 2 * w + 2
    local = formation(n_agents)
    agents = local + np.array([0, (side - h) // 2], dtype=np.int64)
    opponents = agents.copy()
    opponents[:, 0] = side - 1 - agents[:, 0]
    opponents = opponents[np.lexsort((opponents[:, 0], opponents[:, 1]))]
    return BattleLayout(width=side, height=side, agents=agents, opponents=opponents)
