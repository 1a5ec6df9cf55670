"""Replaying the reference's recorded updates through vast's methods (tests/data/reference/, README there).

The authors' code, run as an oracle, recorded for every method: the exact batches its update consumed,
the sub-teams those updates used, every loss it back-propagated in three consecutive updates, a sketch of
every gradient its optimisers stepped with in the first and of every parameter after the third, all
starting from initial weights that both sides generate from one recipe (`recipe_init`). This module maps the reference's parameter layout onto vast's networks and back,
builds vast's TrainingBatch from a recorded batch and replays the recorded sub-teams, so that
`test_reference_updates.py` only has to run three updates and compare.

Layout differences handled here: vast's `InputLayer` splits a first Linear into a dense Linear and an
Embedding for one-hot inputs (GaussianSqueeze's id), and names its layers differently; otherwise every
reference tensor has exactly one vast counterpart with the same shape.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vast.common.config import AlgoConfig
from vast.common.networks import InputLayer, TorchFeatures
from vast.envs.registry import make_spec
from vast.learner.algos import build_algorithm
from vast.learner.algos.base import PolicyGradientMethod
from vast.learner.batch import TrainingBatch

DATA = Path(__file__).resolve().parents[2] / "data" / "reference"
FLOAT32_EPS = float(np.finfo(np.float32).eps)
FULL_LIMIT = 256  # tensors up to this many entries are recorded in full, larger ones as a sketch
SAMPLED = 256  # entries of a sketched tensor recorded individually (besides all row and column sums)
RECIPE_SEED = 20211206

INSTANCES = {
    "Warehouse-4": "warehouse-4",
    "Battle-20": "battle-20",
    "GaussianSqueeze-200": "gaussian-squeeze-200",
}
METHODS = {  # reference name -> vast config (eta comes with the recorded data)
    "IL": {"algo": "il"},
    "QMIX": {"algo": "qmix"},
    "QTRAN": {"algo": "qtran"},
    "VAST-IL": {"algo": "vast", "mixer": "independent", "assign": "metagrad"},
    "VAST-VDN": {"algo": "vast", "mixer": "vdn", "assign": "metagrad"},
    "VAST-QMIX": {"algo": "vast", "mixer": "qmix", "assign": "metagrad"},
    "VAST-QTRAN": {"algo": "vast", "mixer": "qtran", "assign": "metagrad"},
    "VAST-QTRAN-RANDOM": {"algo": "vast", "mixer": "qtran", "assign": "random"},
    "VAST-QTRAN-FIXED": {"algo": "vast", "mixer": "qtran", "assign": "fixed"},
    "VAST-QTRAN-SPATIAL": {"algo": "vast", "mixer": "qtran", "assign": "spatial"},
}


# ------------------------------------------------------------------------------------ shared with the data


def recipe_init(name: str, shape: tuple[int, ...], shapes: dict[str, tuple[int, ...]]) -> np.ndarray:
    """The initial value of reference parameter `name` ("actor/fc_net.0.weight"): uniform in ±1/√fan_in
    (the distribution of torch's default Linear init), drawn from numpy's frozen legacy RandomState
    seeded by the name, so the oracle run and this test generate the same float32 values."""
    weight = shapes[name.removesuffix(".bias") + ".weight"] if name.endswith(".bias") else shape
    bound = 1.0 / np.sqrt(weight[1])
    rs = np.random.RandomState((RECIPE_SEED + zlib.crc32(name.encode())) % 2**32)
    return ((rs.random_sample(shape) * 2.0 - 1.0) * bound).astype(np.float32)


def sampled_entries(name: str, size: int) -> np.ndarray:
    """The flat indices of a sketched tensor whose values are recorded one by one (seeded by the name)."""
    rs = np.random.RandomState(zlib.crc32(name.encode()))
    return np.sort(rs.choice(size, SAMPLED, replace=False))


def sketch(name: str, value: np.ndarray) -> dict[str, np.ndarray]:
    """A small record of a parameter tensor: all of it, or for a large matrix every row sum and column sum
    (summed in float64, stored in float32: each entry is covered twice) and SAMPLED entries."""
    absmax = np.array(np.abs(value).max(), dtype=np.float64)
    if value.ndim == 1 or value.size <= FULL_LIMIT:
        return {"full": value, "absmax": absmax}
    flat = value.reshape(value.shape[0], -1)
    return {
        "rows": flat.sum(1, dtype=np.float64).astype(np.float32),
        "cols": flat.sum(0, dtype=np.float64).astype(np.float32),
        "sampled": flat.reshape(-1)[sampled_entries(name, flat.size)],
        "absmax": absmax,
    }


def sketch_errors(name: str, recorded: dict[str, np.ndarray], value: np.ndarray) -> dict[str, float]:
    """Largest differences between a recorded sketch and the same sketch of `value`: "entries" (the full
    tensor or its sampled entries) and "sums" (row and column sums), both absolute; "scale" is the
    recorded tensor's largest magnitude."""
    ours = sketch(name, value)
    errors = {"scale": float(recorded["absmax"])}
    if "full" in recorded:
        errors["entries"] = float(np.abs(ours["full"] - recorded["full"]).max())
        errors["sums"] = 0.0
    else:
        errors["entries"] = float(np.abs(ours["sampled"] - recorded["sampled"]).max())
        sums = (np.abs(ours[k].astype(np.float64) - recorded[k]).max() for k in ("rows", "cols"))
        errors["sums"] = float(max(sums))
    return errors


# ------------------------------------------------------------------------------------- the recorded data


class RecordedMethod:
    """One method's record on one instance: meta (networks, losses, eta), sketches and sub-teams."""

    def __init__(self, method: str, instance: str, data: Path = DATA):
        self.method, self.instance = method, instance
        with np.load(data / f"{method}__{instance}.npz") as z:
            self.arrays = {k: z[k] for k in z.files}
        self.meta: dict[str, Any] = json.loads(str(self.arrays.pop("meta")))
        self.shapes = {
            f"{net}/{p}": tuple(shape)
            for net, info in self.meta["networks"].items()
            for p, shape in info.items()
        }

    def init(self) -> dict[str, np.ndarray]:
        """The reference's initial parameters: recorded in full, or (the committed data) by recipe."""
        if any(k.startswith("init/") for k in self.arrays):
            return {name: self.arrays[f"init/{name}"] for name in self.shapes}
        return {name: recipe_init(name, shape, self.shapes) for name, shape in self.shapes.items()}

    def after(self) -> dict[str, dict[str, np.ndarray]]:
        """name -> sketch of the parameter after the third update."""
        return self._sketches("upd3/")

    def gradients(self) -> dict[str, dict[str, np.ndarray]]:
        """name -> sketch of the gradient each optimiser step of update 1 used (after clipping)."""
        return self._sketches("grad1/")

    def _sketches(self, prefix: str) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        for key, value in self.arrays.items():
            if key.startswith(prefix) and key.count("/") == 3:
                name, part = key[len(prefix) :].rsplit("/", 1)
                out.setdefault(name, {})[part] = value
        return out

    def subteams(self, update: int) -> np.ndarray | None:
        return self.arrays.get(f"upd{update}/subteams")

    def losses(self, update: int) -> dict[str, float]:
        return self.meta["losses"][update - 1]


def recorded_batches(instance: str, data: Path = DATA) -> list[dict[str, np.ndarray]]:
    """The three batches (one per update) exactly as the reference's update consumed them."""
    with np.load(data / f"batches_{instance}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return [{k.split("/")[1]: v for k, v in arrays.items() if k.startswith(f"e{e}/")} for e in range(3)]


# ---------------------------------------------------------------------------------- vast's side of it


def build(method: str, instance: str, eta: float | None, **overrides: Any) -> PolicyGradientMethod:
    """vast's counterpart of a reference method, with vast's defaults (= the reference's settings)."""
    spec = make_spec(INSTANCES[instance])
    cfg = AlgoConfig(**METHODS[method], **({"eta": eta} if eta else {}), **overrides)
    return build_algorithm(cfg, spec, "cpu", seed=0)


def training_batch(algo: PolicyGradientMethod, batch: dict[str, np.ndarray]) -> TrainingBatch:
    """vast's TrainingBatch holding exactly the reference's batch: one "episode" of B rows in the
    reference's row order (its memory stores episodes backwards; nothing depends on the order), its
    states and observations as stored (first-transition quirks included), its returns, and its masking
    rule for dead agents (observation sum <= float32 eps)."""
    spec = algo.spec
    obs = torch.from_numpy(batch["observations"]).float()  # (B, N, O)
    b, n = obs.shape[:2]
    if spec.obs_onehot_dim:  # GaussianSqueeze: the one-hot id becomes an index
        assert torch.all(obs.sum(-1) == 1)
        features = TorchFeatures(None, obs.argmax(-1))
    else:
        features = TorchFeatures(obs, None)
    returns = torch.from_numpy(batch["returns"]).float()[None]
    return TrainingBatch(
        obs=features,
        state=torch.from_numpy(batch["states"]).float(),
        actions=torch.from_numpy(batch["joint_actions"].astype(np.int64))[None],
        rewards=torch.zeros_like(returns),
        returns=returns,
        valid=torch.ones((1, b), dtype=torch.bool),
        alive=(obs.sum(-1) > FLOAT32_EPS)[None],
        positions=torch.zeros((1, b, n, 2)),
        behaviour_logp=torch.zeros((1, b, n)),
        policy_version=torch.zeros(1, dtype=torch.long),
        learner_version=0,
    )


class ReplayedAssignment:
    """Stands in for the strategy X: hands each update the sub-teams the reference's update used (its
    MetaGrad samples, or its Random/Fixed/Spatial indices). MetaGrad still trains: its loss recomputes
    log X(k | s, o_i) of these k with vast's VASTNet."""

    def __init__(self, inner: Any, draws: Iterator[np.ndarray]):
        self.inner, self.draws = inner, draws

    def __getattr__(self, name: str) -> Any:  # trainable, net, ...: the real strategy's
        return getattr(self.inner, name)

    def assign(self, data, generator, out):
        return torch.from_numpy(next(self.draws).astype(np.int64))

    def loss(self, data, k, advantage):
        return self.inner.loss(data, k, advantage)


def _pairs(algo: PolicyGradientMethod) -> dict[str, tuple[torch.nn.Module, str]]:
    """Reference parameter prefix -> (vast module, layer name) for every layer of the method."""
    pairs: dict[str, tuple[torch.nn.Module, str]] = {
        "actor/fc_net.0": (algo.policy.trunk.input, ""),
        "actor/fc_net.2": (algo.policy.trunk.rest, "0"),
        "actor/action_head": (algo.policy, "policy_head"),
        "actor/value_head": (algo.policy, "value_head"),
    }
    if hasattr(algo, "qnet"):
        pairs |= {
            "qnet/layer_1": (algo.qnet.trunk.input, ""),
            "qnet/layer_2": (algo.qnet.trunk.rest, "0"),
            "qnet/Q_head": (algo.qnet, "head"),
        }
        op = algo.operator
        if hasattr(op, "mixer"):
            for ref, ours in (
                ("hyper_w_1", "hyper_w1"),
                ("hyper_w_final", "hyper_w_final"),
                ("V", "hyper_v"),
            ):
                pairs |= {f"mixer/{ref}.{i}": (getattr(op.mixer, ours), str(i)) for i in (0, 2)}
            pairs["mixer/hyper_b_1"] = (op.mixer, "hyper_b1")
        if hasattr(op, "net"):
            for ref, ours in (
                ("fc_net.0", "input"),
                ("fc_net.2", "hidden"),
                ("joint_action_head", "joint_q"),
            ):
                pairs[f"qtran/{ref}"] = (op.net, ours)
            pairs["qtran/state_value_head"] = (op.net, "v")
        assigner = getattr(algo, "assignment", None)
        if assigner is not None and assigner.trainable:
            net = assigner.net
            pairs |= {
                "vastnet/fc_net.0": (net.input, ""),
                "vastnet/fc_net.2": (net, "hidden"),
                "vastnet/action_head": (net, "out"),
            }
    return pairs


def _layer(module: torch.nn.Module, name: str) -> torch.nn.Module:
    return module.get_submodule(name) if name else module


def load_reference(algo: PolicyGradientMethod, params: dict[str, np.ndarray]) -> None:
    """Copy reference-layout parameters into vast's networks (every vast parameter must be covered)."""
    covered: set[int] = set()
    with torch.no_grad():
        for prefix, (module, name) in _pairs(algo).items():
            layer = _layer(module, name)
            weight, bias = (torch.from_numpy(params[f"{prefix}.{p}"]) for p in ("weight", "bias"))
            targets = _split(layer, weight, bias)
            for param, value in targets:
                param.copy_(value)
                covered.add(id(param))
    for name, module in algo.modules.items():
        if name == "assigner" and not _is_trained(algo):
            continue
        missing = [n for n, p in module.named_parameters() if id(p) not in covered]
        assert not missing, f"{name}: no reference counterpart for {missing}"


def _is_trained(algo: PolicyGradientMethod) -> bool:
    assigner = getattr(algo, "assignment", None)
    return assigner is not None and assigner.trainable


def _split(layer: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor):
    """(vast parameter, value) pairs of one reference Linear: an InputLayer takes the dense columns in
    its Linear and the one-hot columns (transposed) in its Embedding."""
    if not isinstance(layer, InputLayer):
        return [(layer.weight, weight), (layer.bias, bias)]
    pairs = []
    d = layer.dense_dim
    if layer.dense is not None:
        pairs += [(layer.dense.weight, weight[:, :d]), (layer.dense.bias, bias)]
    else:
        pairs.append((layer.bias, bias))
    if layer.onehot is not None:
        pairs.append((layer.onehot.weight, weight[:, d:].T))
    return pairs


def reference_view(algo: PolicyGradientMethod, grads: bool = False) -> dict[str, np.ndarray]:
    """vast's current parameters (or their .grad, where there is one) in the reference's layout and names."""

    def get(p: torch.Tensor) -> torch.Tensor | None:
        return p.grad if grads else p

    out = {}
    for prefix, (module, name) in _pairs(algo).items():
        layer = _layer(module, name)
        if isinstance(layer, InputLayer):
            parts = []
            if layer.dense is not None:
                parts.append(get(layer.dense.weight))
            if layer.onehot is not None:
                embedding = get(layer.onehot.weight)
                parts.append(None if embedding is None else embedding.T)
            weight = None if None in parts else torch.cat(parts, dim=1)
            bias = get(layer.dense.bias if layer.dense is not None else layer.bias)
        else:
            weight, bias = get(layer.weight), get(layer.bias)
        for suffix, value in (("weight", weight), ("bias", bias)):
            if value is not None:
                out[f"{prefix}.{suffix}"] = value.detach().numpy().copy()
    return out
