"""Networks shared by actors (inference) and the learner (training).

The actor network is the reference's parameter-shared MLP: Linear(obs, 64) -> ELU -> Linear(64, 64) -> ELU
with a softmax policy head and a value head (§1.4.2). Its first layer is an `InputLayer`, so one-hot
parts of an input are looked up, not multiplied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from vast.envs.base import EnvSpec, Features

if TYPE_CHECKING:
    from vast.common.config import AlgoConfig

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class TorchFeatures:
    """Features as tensors on a device; leading dims are free."""

    __slots__ = ("dense", "onehot")

    def __init__(self, dense: torch.Tensor | None, onehot: torch.Tensor | None):
        self.dense = dense
        self.onehot = onehot

    @staticmethod
    def from_numpy(features: Features, device: torch.device | str = "cpu") -> TorchFeatures:
        dense = (
            None
            if features.dense is None
            else torch.as_tensor(features.dense, dtype=torch.float32, device=device)
        )
        onehot = (
            None
            if features.onehot is None
            else torch.as_tensor(features.onehot, dtype=torch.long, device=device)
        )
        return TorchFeatures(dense, onehot)

    @property
    def lead_shape(self) -> torch.Size:
        return self.dense.shape[:-1] if self.dense is not None else self.onehot.shape

    def reshape(self, *lead: int) -> TorchFeatures:
        dense = None if self.dense is None else self.dense.reshape(*lead, self.dense.shape[-1])
        onehot = None if self.onehot is None else self.onehot.reshape(*lead)
        return TorchFeatures(dense, onehot)

    def index(self, idx) -> TorchFeatures:
        """Index the leading dims (e.g. a boolean mask over (R, T))."""
        dense = None if self.dense is None else self.dense[idx]
        onehot = None if self.onehot is None else self.onehot[idx]
        return TorchFeatures(dense, onehot)

    def with_prefix(self, prefix: torch.Tensor) -> TorchFeatures:
        """Concatenate a dense prefix (e.g. the global state, broadcast over agents) before the dense part."""
        dense = prefix if self.dense is None else torch.cat([prefix, self.dense], dim=-1)
        return TorchFeatures(dense, self.onehot)


class InputLayer(nn.Module):
    """Linear over [dense, onehot(index)] without building the one-hot: dense @ W + E[index] + b."""

    def __init__(self, dense_dim: int, onehot_dim: int, out_dim: int):
        super().__init__()
        if dense_dim + onehot_dim <= 0:
            raise ValueError("an input layer needs at least one input feature")
        self.dense_dim = dense_dim
        self.onehot_dim = onehot_dim
        self.dense = nn.Linear(dense_dim, out_dim) if dense_dim > 0 else None
        self.onehot = nn.Embedding(onehot_dim, out_dim) if onehot_dim > 0 else None
        self.bias = None if self.dense is not None else nn.Parameter(torch.zeros(out_dim))
        if self.onehot is not None:  # match nn.Linear's default init over the full fan-in
            bound = 1.0 / (dense_dim + onehot_dim) ** 0.5
            nn.init.uniform_(self.onehot.weight, -bound, bound)
            if self.dense is not None:
                nn.init.uniform_(self.dense.weight, -bound, bound)
                nn.init.uniform_(self.dense.bias, -bound, bound)
            else:
                nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: TorchFeatures) -> torch.Tensor:
        out = self.dense(x.dense) if self.dense is not None else self.bias
        if self.onehot is not None:
            out = out + self.onehot(x.onehot)
        return out


class MLPTrunk(nn.Module):
    """InputLayer -> ELU -> (Linear -> ELU) * (layers - 1)."""

    def __init__(self, dense_dim: int, onehot_dim: int, hidden: int, layers: int = 2):
        super().__init__()
        self.input = InputLayer(dense_dim, onehot_dim, hidden)
        self.rest = nn.Sequential(
            *[m for _ in range(layers - 1) for m in (nn.Linear(hidden, hidden), nn.ELU())]
        )

    def forward(self, x: TorchFeatures) -> torch.Tensor:
        return self.rest(nn.functional.elu(self.input(x)))


def per_index(network: nn.Module, obs: TorchFeatures) -> torch.Tensor | None:
    """`network`'s output for one-hot-only observations, computed once per possible index and gathered.

    Why: when an observation is nothing but an index (GaussianSqueeze: the agent's id), the output of a
    per-agent network depends on that index alone, so a batch of R episodes × N agents holds every one
    of the N distinct outputs R times. Evaluating the D = onehot_dim possible inputs and gathering gives
    the same values for D rows of work instead of R·N (GaussianSqueeze-800's update: 800 rows, not 8,000),
    and the gradients summed over the repeats are the same sums. None when it would not save work
    (dense features, or no more rows than indices): the caller then evaluates row by row.
    """
    first = network.trunk.input
    if obs.dense is not None or obs.onehot is None or obs.onehot.numel() <= first.onehot_dim:
        return None
    every = torch.arange(first.onehot_dim, device=obs.onehot.device)
    table = network.per_row(TorchFeatures(None, every))  # (D, width)
    return table.index_select(0, obs.onehot.reshape(-1)).reshape(*obs.onehot.shape, table.shape[-1])


class PolicyNet(nn.Module):
    """The parameter-shared actor: softmax policy head and value head (the value head serves IL)."""

    def __init__(self, obs_dense_dim: int, obs_onehot_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.trunk = MLPTrunk(obs_dense_dim, obs_onehot_dim, hidden)
        self.policy_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)

    def per_row(self, obs: TorchFeatures) -> torch.Tensor:
        """(..., A + 1): the logits and, last, the value."""
        h = self.trunk(obs)
        return torch.cat([self.policy_head(h), self.value_head(h)], dim=-1)

    def logits(self, obs: TorchFeatures) -> torch.Tensor:
        """(..., A): the policy head alone (acting needs no value), the same numbers as `forward`'s."""
        if obs.dense is None:
            return self.forward(obs)[0]
        return self.policy_head(self.trunk(obs))

    def forward(self, obs: TorchFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (logits (..., A), value (...))."""
        out = per_index(self, obs)
        if out is None:
            h = self.trunk(obs)
            return self.policy_head(h), self.value_head(h).squeeze(-1)
        return out[..., :-1], out[..., -1]


def make_policy(spec: EnvSpec, cfg: AlgoConfig) -> PolicyNet:
    """The actor network for an environment: the one constructor actors and the learner share."""
    return PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions, cfg.actor_hidden)


def masked_log_probs(logits: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Log-probabilities with dead agents forced to the uniform distribution (reference masking)."""
    log_probs = torch.log_softmax(logits, dim=-1)
    # −log A as a 0-d tensor on the logits' device: no host round trip in the learner's update
    uniform = -torch.log(log_probs.new_tensor(float(logits.shape[-1])))
    return torch.where(alive.unsqueeze(-1), log_probs, uniform)


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or when asked for), else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
