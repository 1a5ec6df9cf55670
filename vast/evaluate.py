"""`vast evaluate RUN_DIR|CHECKPOINT`: score a trained policy, render an episode, picture its sub-teams.

    vast evaluate runs/w16 --episodes 100                 # stochastic policy (the paper's protocol)
    vast evaluate runs/w16 --greedy --render w16.gif      # argmax actions; GIF coloured by sub-team
    vast evaluate runs/w16 --subteams w16-subteams.png    # early / middle / late snapshots (Fig. 6)

Works on any run directory (`vast train`, `vast train --serial`, `vast experiment`) or checkpoint
file: the checkpoint carries the config it was trained with. Sub-teams are assigned by the run's
own strategy (learner/algos/assignment) from the state the picture shows, with `--greedy` taking
MetaGrad's most likely team; early/middle snapshots need checkpoints kept during training
(`--learner.keep_every N`), the late one is the final checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vast.common import rundir
from vast.common.config import ConfigError

EVALUATE_STREAM = 0x7EA3  # seed-derivation tag of `vast evaluate`'s episodes
PANEL_GAP = 8


@dataclass
class Loaded:
    path: Path  # the checkpoint file
    cfg: Any
    spec: Any
    algo: Any  # the learning method with the trained weights (its .policy plays)
    updates: int


def checkpoint_path(target: Path) -> Path:
    path = target / rundir.CHECKPOINT if target.is_dir() else target
    if not path.exists():
        raise ConfigError(f"no checkpoint at {path} (give a run directory or a checkpoint file)")
    return path


def load(path: Path) -> Loaded:
    """The method of a checkpoint, rebuilt from the config saved in it, with its trained weights."""
    from vast.common.config import from_dict
    from vast.learner import checkpoint
    from vast.learner.algos import build_algorithm

    payload = checkpoint.load(path, "cpu")
    cfg = from_dict(payload["config"])
    spec = cfg.env.spec()
    algo = build_algorithm(cfg.algo, spec, "cpu", cfg.run.seed)
    algo.load_state_dict(payload["algorithm"])
    algo.policy.eval()
    return Loaded(path, cfg, spec, algo, int(payload["updates"]))


def score(loaded: Loaded, episodes: int, seed: int, greedy: bool) -> dict[str, Any]:
    """Mean domain metric of `episodes` episodes (one batched rollout) with a bootstrap 95% CI."""
    import torch

    from vast.common.rollout import rollout
    from vast.common.seeding import derive_seed
    from vast.envs.registry import make_env
    from vast.plots.stats import mean_ci

    s = derive_seed(seed, EVALUATE_STREAM)
    played, _ = rollout(
        make_env(loaded.spec, episodes),
        loaded.algo.policy,
        s,
        torch.Generator().manual_seed(s),
        greedy=greedy,
    )
    metrics = np.array([ep.header["metric"] for ep in played])
    mean, low, high = mean_ci(metrics)
    return {
        "checkpoint": str(loaded.path),
        "env": loaded.spec.name,
        "updates": loaded.updates,
        "episodes": episodes,
        "policy": "greedy" if greedy else "stochastic",
        "metric": loaded.spec.metric_name,
        "mean": mean,
        "ci95": [low, high],
        "min": float(metrics.min()),
        "max": float(metrics.max()),
    }


# -- pictures ---------------------------------------------------------------------------------------
def _subteams_now(loaded: Loaded, env, generator, greedy: bool) -> np.ndarray | None:
    """Sub-team of every agent of copy 0 in the env's current state (None: a method without them)."""
    import torch

    from vast.common.networks import TorchFeatures
    from vast.learner.batch import Rows

    data = Rows.of_steps(
        TorchFeatures.from_numpy(env.observe()),
        torch.as_tensor(env.state(), dtype=torch.float32),
        torch.from_numpy(env.alive()),
        torch.from_numpy(env.positions().astype(np.float32)),
    )
    k = loaded.algo.subteams(data, generator, greedy)
    return None if k is None else k[0].cpu().numpy()


def play_frames(loaded: Loaded, seed: int, greedy: bool, at: set[int] | None = None) -> list:
    """Play one episode; frames (PIL images) at every step, or only at the steps in `at`."""
    import torch

    from vast.common.rollout import rollout
    from vast.common.seeding import derive_seed
    from vast.envs.registry import make_env, parse_name
    from vast.envs.render import render_frame

    if parse_name(loaded.spec.name)[0] not in ("warehouse", "battle"):
        raise ConfigError(f"pictures are drawn for warehouse-N and battle-N, not {loaded.spec.name}")
    s = derive_seed(seed, EVALUATE_STREAM, 1)
    teams_generator = torch.Generator().manual_seed(s)
    frames = []

    def observe(env, t: int) -> None:
        if at is None or t in at:
            frames.append((t, render_frame(env, 0, _subteams_now(loaded, env, teams_generator, greedy))))

    rollout(
        make_env(loaded.spec, 1),
        loaded.algo.policy,
        s,
        torch.Generator().manual_seed(s),
        greedy=greedy,
        observer=observe,
    )
    return frames


def render_gif(loaded: Loaded, out: Path, seed: int, greedy: bool, frame_ms: int = 150) -> int:
    frames = [f for _, f in play_frames(loaded, seed, greedy)]
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return len(frames)


def snapshot_checkpoints(run_dir: Path) -> list[tuple[str, int, Path]]:
    """(stage, update, checkpoint) for early / middle / late: the first and middle kept copies and the
    final checkpoint (fewer stages when fewer checkpoints exist)."""
    kept = rundir.kept_checkpoints(run_dir)
    final = run_dir / rundir.CHECKPOINT
    chosen: list[tuple[int, Path]] = []
    if kept:
        chosen = [kept[0], kept[len(kept) // 2]]
    picks = [(u, p) for u, p in dict.fromkeys(chosen)]
    stages = ["early", "middle"][: len(picks)]
    out = [(stage, u, p) for stage, (u, p) in zip(stages, picks)]
    if final.exists():
        out.append(("late", -1, final))
    return out


def subteam_snapshots(target: Path, out: Path, seed: int, greedy: bool, step: int | None) -> list[str]:
    """One panel per stage: the state at `step` of an episode played by that stage's policy, agents
    coloured by their sub-team. Returns the panel captions."""
    from PIL import Image, ImageDraw

    run_dir = target if target.is_dir() else target.parent
    stages = snapshot_checkpoints(run_dir) if target.is_dir() else [("checkpoint", -1, target)]
    if not stages:
        raise ConfigError(f"no checkpoints in {run_dir}")
    panels, captions = [], []
    for stage, _, path in stages:
        loaded = load(path)
        if loaded.cfg.algo.algo != "vast":
            raise ConfigError(f"{path}: {loaded.cfg.algo.algo} has no sub-teams (only vast runs do)")
        at = step if step is not None else max(1, loaded.spec.episode_limit // 10)
        frames = play_frames(loaded, seed, greedy, at=set(range(at + 1)))
        t, frame = frames[-1]  # the episode may end before `at`
        caption = f"{stage}: update {loaded.updates}, t={t} ({loaded.cfg.algo.assign})"
        panels.append(frame)
        captions.append(caption)
    width = sum(p.width for p in panels) + PANEL_GAP * (len(panels) - 1)
    height = max(p.height for p in panels) + 16
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    x = 0
    for panel, caption in zip(panels, captions):
        sheet.paste(panel, (x, 16))
        draw.text((x + 2, 2), caption, fill=(0, 0, 0))
        x += panel.width + PANEL_GAP
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return captions


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vast evaluate",
        description="Evaluate a trained policy from a run directory or checkpoint; optionally render an "
        "episode (GIF) and the sub-teams at early/middle/late checkpoints (PNG).",
        allow_abbrev=False,
    )
    p.add_argument("target", help="run directory (uses its checkpoint.pt) or a checkpoint file")
    p.add_argument("--episodes", type=int, default=10, help="episodes to score (default 10, as the paper)")
    p.add_argument("--greedy", action="store_true", help="argmax actions (and MetaGrad's most likely team)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes (default 0)")
    p.add_argument("--render", metavar="OUT.gif", help="also render one episode as an animated GIF")
    p.add_argument("--subteams", metavar="OUT.png", help="also draw sub-team snapshots (early/middle/late)")
    p.add_argument(
        "--step", type=int, help="time step of the snapshots (default: a tenth of the episode limit)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    target = Path(args.target)
    loaded = load(checkpoint_path(target))
    result = score(loaded, args.episodes, args.seed, args.greedy)
    if args.render:
        result["render"] = {
            "path": args.render,
            "frames": render_gif(loaded, Path(args.render), args.seed, args.greedy),
        }
    if args.subteams:
        result["subteams"] = {
            "path": args.subteams,
            "panels": subteam_snapshots(target, Path(args.subteams), args.seed, args.greedy, args.step),
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        low, high = result["ci95"]
        print(
            f"{result['env']} after {result['updates']} updates, {result['episodes']} episodes "
            f"({result['policy']}): {result['metric']} {result['mean']:.3f} [95% CI {low:.3f}, {high:.3f}], "
            f"min {result['min']:.3f}, max {result['max']:.3f}"
        )
        if args.render:
            print(f"wrote {args.render} ({result['render']['frames']} frames)")
        if args.subteams:
            print(f"wrote {args.subteams}: " + "; ".join(result["subteams"]["panels"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
