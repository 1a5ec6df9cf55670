"""Pictures of Warehouse and Battle episodes (PNG frames and animated GIFs), like the paper's Fig. 6.

Why: seeing layouts, formations and sub-team assignments is the quickest check that a domain or an
assignment strategy behaves as intended. Agents are coloured by sub-team id when one is given.

Warehouse is drawn with NORTH (y+1) up, as the reference's own map lists y = H-1 first. Battle is drawn
as the reference's ASCII map: y is the row counted from the top.

Command line (`vast render`): --env NAME --out DIR --seed S --steps T [--subteams K]; writes
DIR/NAME-seedS.png (the first frame) and DIR/NAME-seedS.gif (the episode under a random policy).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vast.envs.registry import make_env, make_spec, parse_name

CELL = 32
HEADER = 18
PALETTE = [  # tab20 without its reds (opponents are red), dark shades first
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
    (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138),
    (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
]  # fmt: skip
AGENT = (31, 119, 180)
OPPONENT = (200, 30, 30)
WAREHOUSE_COLORS = {
    -1: (70, 70, 70),  # wall
    0: (150, 215, 150),  # drop-off
    1: (238, 238, 238),  # corridor
    2: (255, 200, 120),
    3: (170, 200, 255),
    4: (225, 170, 225),
    5: (250, 235, 130),
}
_FONT = ImageFont.load_default()


def _agent_color(i: int, subteams: np.ndarray | None) -> tuple[int, int, int]:
    return AGENT if subteams is None else PALETTE[int(subteams[i]) % len(PALETTE)]


def _slots(count: int) -> list[tuple[float, float, float]]:
    """(dx, dy, radius) as fractions of a cell for up to four markers sharing a cell."""
    if count == 1:
        return [(0.5, 0.5, 0.36)]
    return [(0.28, 0.28, 0.2), (0.72, 0.28, 0.2), (0.28, 0.72, 0.2), (0.72, 0.72, 0.2)][:count]


def _header(draw: ImageDraw.ImageDraw, text: str) -> None:
    draw.text((4, 3), text, fill=(0, 0, 0), font=_FONT)


def _warehouse(env: Any, copy: int, subteams: np.ndarray | None) -> Image.Image:
    types = env.layout.types
    w, h = types.shape
    img = Image.new("RGB", (w * CELL, h * CELL + HEADER), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    _header(draw, f"{env.spec.name}  t={int(env.t[copy])}  orders={int(env.completed[copy])}")

    def box(x: int, y: int) -> tuple[int, int]:
        return x * CELL, HEADER + (h - 1 - y) * CELL

    for x in range(w):
        for y in range(h):
            px, py = box(x, y)
            ty = int(types[x, y])
            draw.rectangle(
                [px, py, px + CELL - 1, py + CELL - 1], fill=WAREHOUSE_COLORS[ty], outline=(200, 200, 200)
            )
            if ty == 0 or ty >= 2:
                draw.text((px + 2, py + 1), "D" if ty == 0 else str(ty), fill=(90, 90, 90), font=_FONT)
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(env.pos[copy].tolist()):
        cells.setdefault((x, y), []).append(i)
    for (x, y), robots in cells.items():
        px, py = box(x, y)
        for i, (fx, fy, fr) in zip(robots, _slots(min(len(robots), 4))):
            cx, cy, r = px + fx * CELL, py + fy * CELL, fr * CELL
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_agent_color(i, subteams), outline=(0, 0, 0))
        if len(robots) > 4:
            draw.text((px + CELL - 12, py + CELL - 12), str(len(robots)), fill=(0, 0, 0), font=_FONT)
    return img


def _battle(env: Any, copy: int, subteams: np.ndarray | None) -> Image.Image:
    w, h = env.layout.width, env.layout.height
    img = Image.new("RGB", (w * CELL, h * CELL + HEADER), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    kills = env.kills[copy]
    _header(draw, f"{env.spec.name}  t={int(env.t[copy])}  kills={int(kills[0])}  lost={int(kills[1])}")
    for x in range(w):
        for y in range(h):
            px, py = x * CELL, HEADER + y * CELL
            draw.rectangle(
                [px, py, px + CELL - 1, py + CELL - 1], fill=(245, 245, 240), outline=(215, 215, 215)
            )
    hp_max = float(env.hp_max)
    for side, (xy, hp) in enumerate(((env.axy[copy], env.ahp[copy]), (env.oxy[copy], env.ohp[copy]))):
        cells: dict[tuple[int, int], list[int]] = {}
        for j in np.flatnonzero(hp > 0).tolist():
            cells.setdefault(tuple(xy[j].tolist()), []).append(j)
        for (x, y), units in cells.items():
            px, py = x * CELL + side * CELL // 2, HEADER + y * CELL
            half = CELL // 2
            color = _agent_color(units[0], subteams) if side == 0 else OPPONENT
            if side == 0:
                draw.ellipse([px + 2, py + 4, px + half - 2, py + CELL - 10], fill=color, outline=(0, 0, 0))
            else:
                draw.rectangle([px + 2, py + 4, px + half - 2, py + CELL - 10], fill=color, outline=(0, 0, 0))
            frac = float(hp[units].mean()) / hp_max
            draw.rectangle(
                [px + 2, py + CELL - 7, px + 2 + int((half - 4) * frac), py + CELL - 4], fill=(40, 170, 40)
            )
            if len(units) > 1:
                draw.text((px + 4, py + 8), str(len(units)), fill=(255, 255, 255), font=_FONT)
    return img


def render_frame(env: Any, copy: int = 0, subteams: Sequence[int] | np.ndarray | None = None) -> Image.Image:
    """One frame of copy `copy` of a Warehouse or Battle env; subteams: (N,) sub-team id per agent."""
    family, _ = parse_name(env.spec.name)
    teams = None if subteams is None else np.asarray(subteams)
    if family == "warehouse":
        return _warehouse(env, copy, teams)
    if family == "battle":
        return _battle(env, copy, teams)
    raise ValueError(f"rendering is available for warehouse and battle, not {env.spec.name}")


SubTeams = Sequence[int] | np.ndarray | Callable[[int, Any], np.ndarray] | None


def render_episode_gif(
    name: str,
    path_png: str | Path,
    path_gif: str | Path,
    seed: int = 0,
    steps: int | None = None,
    subteams: SubTeams = None,
    frame_ms: int = 150,
) -> int:
    """Play a random-policy episode and save its first frame (PNG) and all frames (GIF).

    subteams: None, a fixed (N,) array, a (T, N) array (one row per step), or a callable (t, env) -> (N,).
    Returns the number of frames written.
    """
    spec = make_spec(name)
    env = make_env(spec, 1)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    steps = spec.episode_limit if steps is None else min(int(steps), spec.episode_limit)

    def teams(t: int) -> np.ndarray | None:
        if subteams is None:
            return None
        if callable(subteams):
            return np.asarray(subteams(t, env))
        arr = np.asarray(subteams)
        return arr[min(t, len(arr) - 1)] if arr.ndim == 2 else arr

    frames = [render_frame(env, 0, teams(0))]
    for t in range(steps):
        if env.step(rng.integers(0, spec.n_actions, (1, spec.n_agents))).done[0]:
            frames.append(render_frame(env, 0, teams(t + 1)))
            break
        frames.append(render_frame(env, 0, teams(t + 1)))
    Path(path_png).parent.mkdir(parents=True, exist_ok=True)
    Path(path_gif).parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path_png)
    frames[0].save(path_gif, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vast render", description="Render a random-policy episode to PNG and GIF."
    )
    p.add_argument("--env", default="warehouse-16", help="warehouse-N or battle-N")
    p.add_argument("--out", default="renders", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="at most this many steps (default: episode limit)")
    p.add_argument("--subteams", type=int, default=0, help="colour agents by the fixed assignment i mod K")
    args = p.parse_args(argv)
    family, n = parse_name(args.env)
    if family not in ("warehouse", "battle"):
        p.error(f"rendering is available for warehouse-N and battle-N, not {args.env}")
    teams = np.arange(n) % args.subteams if args.subteams > 0 else None
    out = Path(args.out)
    stem = f"{args.env}-seed{args.seed}"
    count = render_episode_gif(
        args.env, out / f"{stem}.png", out / f"{stem}.gif", args.seed, args.steps, teams
    )
    print(f"wrote {out / stem}.png and {out / stem}.gif ({count} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
