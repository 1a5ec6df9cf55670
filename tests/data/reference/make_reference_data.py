"""Turn the oracle's raw update records into the compact files of this folder (see README.md).

Not used by the tests: it documents and repeats how the committed files were derived from the oracle run's
output. Usage (in the project's venv):

    python tests/data/reference/make_reference_data.py updates ORACLE_UPDATES_DIR [--out DIR] [--with-init]
    python tests/data/reference/make_reference_data.py stats ORACLE_RANDOM_RAW_DIR [--out DIR]

ORACLE_UPDATES_DIR holds the oracle's `batches_<INSTANCE>.npz` and `<METHOD>__<INSTANCE>.npz`. Without
--with-init the initial parameters are not written (the committed data: the oracle run started from
`recipe_init` weights, which the tests regenerate); --with-init copies them in full (for a run that
started from other weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.unit.learner.reference_updates import DATA, INSTANCES, METHODS, recipe_init, sketch  # noqa: E402

OPTIMIZER_NAMES = {"critic": "critic", "assignment": "meta", "actor": "actor"}


def convert_batches(instance: str, src: Path, dst: Path) -> None:
    with np.load(src / f"batches_{instance}.npz") as z:
        out = {}
        for e in range(3):
            returns = z[f"e{e}/returns"]
            assert (returns == returns[:, :1]).all(), "every agent's return is the team return"
            out[f"e{e}/states"] = z[f"e{e}/states"]
            out[f"e{e}/observations"] = z[f"e{e}/observations"]
            out[f"e{e}/joint_actions"] = z[f"e{e}/joint_actions"].astype(np.int8)
            out[f"e{e}/returns"] = returns[:, 0]
            # the agent infos Random / Spatial assigned from, (x, y) or -1 for dead (with the reference's lag)
            out[f"e{e}/positions"] = z[f"e{e}/assignment_infos"].astype(np.int16)
    np.savez_compressed(dst / f"batches_{instance}.npz", **out)


def losses_and_norms(events: list[dict]) -> dict[str, float]:
    """Per optimiser: the loss it stepped on and the gradient norm the reference's clip call computed."""
    out: dict[str, float] = {}
    loss = norm = None
    for event in events:
        if event["event"] == "backward":
            loss = event["loss"]
        elif event["event"] == "clip_grad_norm_":
            norm = event["total_norm_before_clip"] if event["n_params_seen"] else None
        elif event["event"] == "optimizer_step":
            name = OPTIMIZER_NAMES[event["optimizer"]]
            out[f"loss/{name}"] = loss
            if norm is not None:
                out[f"grad_norm/{name}"] = norm
    return out


def convert_method(method: str, instance: str, src: Path, dst: Path, with_init: bool) -> None:
    with np.load(src / f"{method}__{instance}.npz") as z:
        meta = json.loads(str(z["meta"]))
        networks = {net: info["params"] for net, info in meta["networks"].items()}
        shapes = {
            f"{net}/{p}": tuple(shape) for net, params in networks.items() for p, shape in params.items()
        }
        out: dict[str, np.ndarray] = {}
        for net, params in networks.items():
            for p in params:
                name = f"{net}/{p}"
                if with_init:
                    out[f"init/{name}"] = z[f"init/{name}"]
                else:  # the run must have started from the recipe, which the tests regenerate
                    assert np.array_equal(z[f"init/{name}"], recipe_init(name, shapes[name], shapes)), name
                if f"grad1/{name}" in z.files:
                    for part, value in sketch(name, z[f"grad1/{name}"]).items():
                        out[f"grad1/{name}/{part}"] = value
                for part, value in sketch(name, z[f"upd3/{name}"]).items():
                    out[f"upd3/{name}/{part}"] = value
        for u in (1, 2, 3):
            if f"upd{u}/subteam_ids_used" in z.files:
                out[f"upd{u}/subteams"] = z[f"upd{u}/subteam_ids_used"].astype(np.int8)
    record = {
        "method": method,
        "instance": instance,
        "eta": meta["eta"],
        "K": meta["K"],
        "networks": networks,
        "init": "recorded in full" if with_init else "recipe_init",
        "losses": [losses_and_norms(u["events"]) for u in meta["updates"]],
        "reference_commit": meta["reference_commit"],
        "date_utc": meta["date_utc"],
    }
    np.savez_compressed(dst / f"{method}__{instance}.npz", meta=np.array(json.dumps(record)), **out)


def convert_random_stats(raw_dir: Path, dst: Path) -> None:
    """The oracle's random-policy statistics from its per-instance raw files (every episode's quantities,
    saved every 500 episodes while it runs): per instance and quantity the episode count, mean and std
    (ddof 1), and each file's provenance. An instance may come in several files (`Battle-80.npz`,
    `Battle-80.part2.npz`, ...: runs with other seeds that added episodes); they are pooled, and each
    part's provenance is kept under `parts`."""
    aggregate = raw_dir.parent / "random_stats.json"  # the oracle's own summary, for the descriptions
    described = json.loads(aggregate.read_text()) if aggregate.exists() else {}
    keep = ("n_episodes", "final", "seed", "action_generator_seed", "command_line", "date_utc", "elapsed_s")
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    parts: dict[str, list[dict]] = {}
    commits: dict[str, str] = {}
    for path in sorted(raw_dir.glob("*.npz")):
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            for k in z.files:
                if k != "meta":
                    pooled.setdefault(meta["instance"], {}).setdefault(k, []).append(z[k].astype(np.float64))
        parts.setdefault(meta["instance"], []).append({k: meta[k] for k in keep})
        commits[meta["instance"]] = meta["reference_commit"]
    instances = {}
    for instance, columns in pooled.items():
        values = {k: np.concatenate(v) for k, v in columns.items()}
        first = parts[instance][0]
        instances[instance] = {
            **first,
            "n_episodes": sum(part["n_episodes"] for part in parts[instance]),
            "reference_commit": commits[instance],
            **({"parts": parts[instance]} if len(parts[instance]) > 1 else {}),
            "quantities": {
                k: {"mean": float(v.mean()), "std": float(v.std(ddof=1))} for k, v in values.items()
            },
        }
    out = {
        "policy": described.get("policy", ""),
        "descriptions": described.get("descriptions", {}),
        "instances": dict(sorted(instances.items())),
    }
    (dst / "random_stats.json").write_text(json.dumps(out, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("updates", "stats"))
    p.add_argument("src", type=Path)
    p.add_argument("--out", type=Path, default=DATA)
    p.add_argument("--with-init", action="store_true")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "stats":
        convert_random_stats(args.src, args.out)
        return 0
    for instance in INSTANCES:
        if not (args.src / f"batches_{instance}.npz").exists():
            continue
        convert_batches(instance, args.src, args.out)
        for method in METHODS:
            if (args.src / f"{method}__{instance}.npz").exists():
                convert_method(method, instance, args.src, args.out, args.with_init)
    return 0


if __name__ == "__main__":
    sys.exit(main())
