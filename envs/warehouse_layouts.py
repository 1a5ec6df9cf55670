"""Warehouse[N] layouts: the reference's three named grids verbatim, and a generator for any other N.

A layout is a cell-type grid (x, y) plus a directed move graph stored as a per-cell bitmask of allowed
moves (bit 0 NORTH, 1 SOUTH, 2 WEST, 3 EAST), and the list of start cells. The named tables are copied
from reference-spec §1.1 (rows are y = 0 .. H-1) so that the faulty Warehouse-8 edge is kept exactly.

Generated layouts (any N other than 4, 8, 16) tile the Warehouse-16 pattern: a block of `p` shelf
columns and `q` shelf rows inside a corridor ring, drop-offs on the border next to every wall column and
wall row, and the move graph "every move into a location". `generate(p=5, q=2)` is Warehouse-16 itself
(tested), and `p, q` are chosen to keep Warehouse-16's density of 117 / 16 cells per robot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NORTH, SOUTH, WEST, EAST = 1, 2, 4, 8  # move bits; action a in 1..4 uses bit 1 << (a - 1)
MOVE_BITS = {"N": NORTH, "S": SOUTH, "W": WEST, "E": EAST}
DELTAS = {NORTH: (0, 1), SOUTH: (0, -1), WEST: (-1, 0), EAST: (1, 0)}
N_TYPES = 6  # location types -1 (not stored as a channel), 0 .. 5
CELLS_PER_ROBOT = 13 * 9 / 16  # Warehouse-16 density


@dataclass(frozen=True)
class WarehouseLayout:
    types: np.ndarray  # (W, H) int8: -1 wall, 0 drop-off, 1 corridor, 2..5 work stations
    moves: np.ndarray  # (W, H) uint8 bitmask of allowed moves
    starts: np.ndarray  # (K, 2) int64 start cells (x, y) in the reference's list order

    @property
    def width(self) -> int:
        return int(self.types.shape[0])

    @property
    def height(self) -> int:
        return int(self.types.shape[1])


# --- the reference's tables, one string per y = 0 .. H-1 -------------------------------------------------

_W4_TYPES = ["-1 0 -1", "1 2 1", "4 -1 5", "1 3 1", "-1 0 -1"]
_W4_MOVES = ["- N -", "NE SWE NW", "NS - NS", "SE NWE SW", "- S -"]
_W4_STARTS = [(1, 0), (1, 4)]

_W8_TYPES = ["1 0 1 0 1", "1 2 1 3 1", "4 -1 5 -1 4", "1 3 1 2 1", "1 0 1 0 1"]
_W8_MOVES = [
    "NE NWE NWE NWE NW",
    "NSE SWE NSWE NWE NSW",
    "NS - NS - NS",
    "NSE NWE NSWE NWE NSW",
    "SE SWE SWE SWE SW",
]
_W8_STARTS = [(1, 0), (1, 4), (3, 0), (3, 4)]

_W16_TYPES = [
    "-1 -1 -1 0 -1 0 -1 0 -1 0 -1 -1 -1",
    "-1 1 1 1 1 1 1 1 1 1 1 1 -1",
    "-1 1 1 2 1 3 1 2 1 3 1 1 -1",
    "0 1 4 -1 5 -1 4 -1 5 -1 4 1 0",
    "-1 1 1 3 1 2 1 3 1 2 1 1 -1",
    "0 1 4 -1 5 -1 4 -1 5 -1 4 1 0",
    "-1 1 1 3 1 2 1 3 1 2 1 1 -1",
    "-1 1 1 1 1 1 1 1 1 1 1 1 -1",
    "-1 -1 -1 0 -1 0 -1 0 -1 0 -1 -1 -1",
]
_W16_MOVES = [
    "- - - N - N - N - N - - -",
    "- NE NWE NSWE NWE NSWE NWE NSWE NWE NSWE NWE NW -",
    "- NSE NSWE SWE NSWE SWE NSWE SWE NSWE SWE NSWE NSW -",
    "E NSWE NSW - NS - NS - NS - NSE NSWE W",
    "- NSE NSWE WE NSWE WE NSWE WE NSWE WE NSWE NSW -",
    "E NSWE NSW - NS - NS - NS - NSE NSWE W",
    "- NSE NSWE NWE NSWE NWE NSWE NWE NSWE NWE NSWE NSW -",
    "- SE SWE NSWE SWE NSWE SWE NSWE SWE NSWE SWE SW -",
    "- - - S - S - S - S - - -",
]
_W16_STARTS = [
    (0, 3),
    (0, 5),
    (12, 3),
    (12, 5),
    (3, 0),
    (5, 0),
    (7, 0),
    (9, 0),
    (3, 8),
    (5, 8),
    (7, 8),
    (9, 8),
]


def parse_types(rows: list[str]) -> np.ndarray:
    """Rows listed for y = 0 .. H-1 -> (W, H) int8 grid indexed [x, y]."""
    grid = np.array([[int(v) for v in row.split()] for row in rows], dtype=np.int8)  # [y, x]
    return np.ascontiguousarray(grid.T)


def parse_moves(rows: list[str]) -> np.ndarray:
    cells = [row.split() for row in rows]
    out = np.zeros((len(cells[0]), len(cells)), dtype=np.uint8)
    for y, row in enumerate(cells):
        for x, text in enumerate(row):
            out[x, y] = sum(MOVE_BITS[c] for c in text if c != "-")
    return out


def valid_moves(types: np.ndarray) -> np.ndarray:
    """The move graph "every move from a location into a location" (used by generated layouts)."""
    w, h = types.shape
    out = np.zeros((w, h), dtype=np.uint8)
    loc = types >= 0
    for bit, (dx, dy) in DELTAS.items():
        target = np.zeros_like(loc)
        xs = slice(max(dx, 0), w + min(dx, 0))
        ys = slice(max(dy, 0), h + min(dy, 0))
        xd = slice(max(-dx, 0), w + min(-dx, 0))
        yd = slice(max(-dy, 0), h + min(-dy, 0))
        target[xd, yd] = loc[xs, ys]
        out[loc & target] |= bit
    return out


def generate(p: int, q: int) -> WarehouseLayout:
    """Tile the Warehouse-16 pattern: p shelf columns (x = 2, 4, .., 2p), q wall rows (y = 3, 5, .., 2q+1).

    Width 2p + 3, height 2q + 5. Shelf cells in wall rows alternate types 4/5 by column; the cells
    between shelves are walls; station rows (y = 2, 4, .., 2q+2) carry types 2/3 at the wall columns,
    starting with 2 in the first station row and with 3 in the others (as Warehouse-16 does).
    Drop-offs sit on the border at every wall column (top and bottom) and wall row (left and right).
    """
    if p < 2 or q < 1:
        raise ValueError(f"warehouse generator needs p >= 2 and q >= 1, got p={p}, q={q}")
    w, h = 2 * p + 3, 2 * q + 5
    types = np.full((w, h), -1, dtype=np.int8)
    types[1 : w - 1, 1 : h - 1] = 1
    wall_cols = range(3, 2 * p, 2)
    wall_rows = range(3, 2 * q + 2, 2)
    for y in wall_rows:
        for i, x in enumerate(range(2, 2 * p + 1, 2)):
            types[x, y] = 4 if i % 2 == 0 else 5
        for x in wall_cols:
            types[x, y] = -1
    for j, y in enumerate(range(2, 2 * q + 3, 2)):
        for i, x in enumerate(wall_cols):
            first = 2 if j == 0 else 3
            types[x, y] = first if i % 2 == 0 else 5 - first
    starts = [(0, y) for y in wall_rows] + [(w - 1, y) for y in wall_rows]
    starts += [(x, 0) for x in wall_cols] + [(x, h - 1) for x in wall_cols]
    for x, y in starts:
        types[x, y] = 0
    return WarehouseLayout(types, valid_moves(types), np.array(starts, dtype=np.int64))


def generated_shape(n_agents: int) -> tuple[int, int]:
    """(p, q) for N robots: scale Warehouse-16's 13 x 9 by sqrt(N / 16), then fit the height to the density."""
    scale = math.sqrt(n_agents / 16)
    p = max(2, math.floor((13 * scale - 3) / 2 + 0.5))
    width = 2 * p + 3
    height = CELLS_PER_ROBOT * n_agents / width
    q = max(1, math.floor((height - 5) / 2 + 0.5))
    return p, q


def _named(types: list[str], moves: list[str], starts: list[tuple[int, int]]) -> WarehouseLayout:
    return WarehouseLayout(parse_types(types), parse_moves(moves), np.array(starts, dtype=np.int64))


def layout(n_agents: int) -> WarehouseLayout:
    """The layout of Warehouse-N: the reference's table for N in {4, 8, 16}, generated otherwise."""
    if n_agents == 4:
        return _named(_W4_TYPES, _W4_MOVES, _W4_STARTS)
    if n_agents == 8:
        return _named(_W8_TYPES, _W8_MOVES, _W8_STARTS)
    if n_agents == 16:
        return _named(_W16_TYPES, _W16_MOVES, _W16_STARTS)
    if n_agents < 1:
        raise ValueError(f"warehouse needs at least one robot, got {n_agents}")
    return generate(*generated_shape(n_agents))


def station_cells(types: np.ndarray) -> np.ndarray:
    """Work-station cells (types 2..5), x-major: the paper's start cells (option start="stations")."""
    return np.argwhere((types >= 2) & (types <= 5)).astype(np.int64)
