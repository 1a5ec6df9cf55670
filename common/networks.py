"""Networks shared by actors (inference) and the learner (training).

The actor network is the reference's parameter-shared MLP: Linear(obs, 64) -> ELU -> Linear(64, 64) -> ELU
with a softmax policy head and a value head (§1.4.2). Its first layer is an `InputLayer`, so one-hot
parts of an input are looked up, not multiplied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from vast.common import sparse
from vast.envs.base import EnvSpec, Features

if TYPE_CHECKING:
    from vast.common.config import AlgoConfig

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class TorchFeatures:
    """Features as tensors on a device; leading dims are free.

    `sparse`, when set, holds the same dense part as sparse rows (`vast.common.sparse`), flattened over
    the leading dims: first layers then multiply only its nonzeros. Reshaping keeps it, since the rows
    keep their order; indexing drops it. So do `live_rows`, computed once and kept.
    """

    __slots__ = ("dense", "onehot", "sparse", "_live")

    def __init__(
        self,
        dense: torch.Tensor | None,
        onehot: torch.Tensor | None,
        sparse_rows: sparse.SparseRows | None = None,
    ):
        self.dense = dense
        self.onehot = onehot
        self.sparse = sparse_rows
        self._live: LiveRows | None | bool = False  # False: not looked for yet

    def live_rows(self) -> LiveRows | None:
        """The rows with any nonzero, compacted (`LiveRows`), once per features object; None where that
        would not save work."""
        if self._live is False:
            self._live = LiveRows.of(self)
        return self._live

    def with_sparse_rows(self) -> TorchFeatures:
        """These features with their dense part also held as sparse rows, when that pays (see
        `SparseRows.from_dense`); otherwise unchanged."""
        if self.dense is None or self.sparse is not None:
            return self
        return TorchFeatures(self.dense, self.onehot, sparse.SparseRows.from_dense(self.dense))

    def dense_linear(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """`F.linear(self.dense, weight, bias)`, over the sparse rows when they are held."""
        if self.sparse is None or torch.is_autocast_enabled(self.dense.device.type):
            return nn.functional.linear(self.dense, weight, bias)
        if self.sparse.shape != (self.dense.numel() // self.dense.shape[-1], self.dense.shape[-1]):
            raise ValueError(
                f"sparse rows {tuple(self.sparse.shape)} do not hold dense {tuple(self.dense.shape)}"
            )
        return sparse.linear(self.sparse, weight, bias).reshape(*self.dense.shape[:-1], weight.shape[0])

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
        reshaped = TorchFeatures(dense, onehot, self.sparse)
        reshaped._live = self._live
        return reshaped

    def index(self, idx) -> TorchFeatures:
        """Index the leading dims (e.g. a boolean mask over (R, T))."""
        dense = None if self.dense is None else self.dense[idx]
        onehot = None if self.onehot is None else self.onehot[idx]
        return TorchFeatures(dense, onehot)

    def with_prefix(self, prefix: torch.Tensor) -> TorchFeatures:
        """Concatenate a dense prefix (e.g. the global state, broadcast over agents) before the dense part."""
        dense = prefix if self.dense is None else torch.cat([prefix, self.dense], dim=-1)
        return TorchFeatures(dense, self.onehot)


MIN_ZERO_ROWS = 0.1  # below this share of all-zero rows, compacting costs about what it saves


class LiveRows:
    """The rows of features that hold a nonzero ("live"), compacted, for networks that treat rows one by one.

    Why: a dead agent's observation is all zeros (Battle: most of a batch early in training), and a
    per-agent network gives every all-zero row the same output. So the network runs on the R live rows
    plus one zero row, and `where` puts the R + 1 outputs back in place: the same values as row by row,
    and the gradients summed over the repeats are the same sums.

    features: TorchFeatures of R + 1 flat rows (the live ones in order, then a zero row), sparse held;
    index (R,): the live rows' flat indices; where (rows,): every row's position among the R + 1.
    """

    __slots__ = ("features", "index", "where")

    def __init__(self, features: TorchFeatures, index: torch.Tensor, where: torch.Tensor):
        self.features, self.index, self.where = features, index, where

    @property
    def n_live(self) -> int:
        return self.index.numel()

    @staticmethod
    def of(x: TorchFeatures) -> LiveRows | None:
        """Built from the sparse rows, which know each row's nonzeros without a scan: so only where they
        are held (CPU learner batches of sparse domains), the input is dense only, and enough rows are
        all zeros to pay."""
        if x.sparse is None or x.onehot is not None or x.dense is None:
            return None
        rows = x.sparse.shape[0]
        index, compact = sparse.live_rows(x.sparse)
        r = index.numel()
        if rows - r < MIN_ZERO_ROWS * rows:
            return None
        flat = x.dense.reshape(rows, -1)
        dense = torch.cat([flat.index_select(0, index), flat.new_zeros(1, flat.shape[1])])
        where = torch.full((rows,), r, dtype=torch.long, device=flat.device)
        where[index] = torch.arange(r, device=flat.device)
        return LiveRows(TorchFeatures(dense, None, compact), index, where)


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
        out = x.dense_linear(self.dense.weight, self.dense.bias) if self.dense is not None else self.bias
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


def per_index(network: nn.Module, obs: TorchFeatures, rows=None) -> tuple[torch.Tensor, ...] | None:
    """`rows(obs)`'s outputs (default `network.per_row`, a tuple of per-row tensors) for one-hot-only
    observations, computed once per possible index and gathered (each output contiguous, leading dims
    those of `obs`). `rows` must treat every row on its own (a network, a softmax over the last dim).

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
    index, lead = obs.onehot.reshape(-1), obs.onehot.shape
    tables = (rows or network.per_row)(TorchFeatures(None, every))  # each (D, ...)
    return tuple(table.index_select(0, index).reshape(*lead, *table.shape[1:]) for table in tables)


def per_live_row(network: nn.Module, obs: TorchFeatures, rows=None) -> tuple[torch.Tensor, ...] | None:
    """`rows(obs)`'s outputs (default `network.per_row`) computed on the live rows and one zero row only
    (`LiveRows`) and gathered; None where `obs` has no live rows worth compacting. Same contract as
    `per_index`."""
    live = obs.live_rows()
    if live is None:
        return None
    lead = obs.lead_shape
    tables = (rows or network.per_row)(live.features)  # each (R + 1, ...)
    return tuple(table.index_select(0, live.where).reshape(*lead, *table.shape[1:]) for table in tables)


def per_distinct_row(network: nn.Module, obs: TorchFeatures, rows=None) -> tuple[torch.Tensor, ...] | None:
    """`per_index` for one-hot-only observations, `per_live_row` for mostly-zero ones, else None."""
    return per_index(network, obs, rows) or per_live_row(network, obs, rows)


class PolicyNet(nn.Module):
    """The parameter-shared actor: softmax policy head and value head (the value head serves IL)."""

    def __init__(self, obs_dense_dim: int, obs_onehot_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.trunk = MLPTrunk(obs_dense_dim, obs_onehot_dim, hidden)
        self.policy_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)

    def per_row(self, obs: TorchFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.policy_head(h), self.value_head(h).squeeze(-1)

    def _log_probs_per_row(self, obs: TorchFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = self.per_row(obs)  # float32 for the softmax, also under bf16 autocast
        return torch.log_softmax(logits.float(), dim=-1), value.float()

    def log_probs_and_value(
        self, obs: TorchFeatures, alive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log π(· | o_i) (..., A) with dead agents uniform, value (...)): `masked_log_probs` of
        `forward`'s logits, the softmax too taken once per index for one-hot-only observations."""
        out = per_distinct_row(self, obs, self._log_probs_per_row) or self._log_probs_per_row(obs)
        return mask_dead(out[0], alive), out[1]

    def act_log_probs(self, obs: TorchFeatures, alive: torch.Tensor) -> torch.Tensor:
        """`log_probs_and_value`'s log-probabilities without the value head, which acting does not need."""
        if obs.dense is None:
            return self.log_probs_and_value(obs, alive)[0]
        return masked_log_probs(self.policy_head(self.trunk(obs)), alive)

    def forward(self, obs: TorchFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (logits (..., A), value (...))."""
        out = per_distinct_row(self, obs)
        return self.per_row(obs) if out is None else out


def make_policy(spec: EnvSpec, cfg: AlgoConfig) -> PolicyNet:
    """The actor network for an environment: the one constructor actors and the learner share."""
    return PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions, cfg.actor_hidden)


def masked_log_probs(logits: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Log-probabilities with dead agents forced to the uniform distribution (reference masking)."""
    return mask_dead(torch.log_softmax(logits, dim=-1), alive)


def mask_dead(log_probs: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Dead agents' rows of `log_probs` replaced by the uniform distribution's −log A."""
    return torch.where(
        alive.unsqueeze(-1), log_probs, _uniform(log_probs.new_tensor(0.0), log_probs.shape[-1])
    )


def uniform_log_probs(rows: int, n_actions: int) -> torch.Tensor:
    """(rows, A) of the uniform distribution's −log A, the very float `mask_dead` gives a dead agent."""
    return _uniform(torch.zeros(()), n_actions).expand(rows, n_actions).clone()


def _uniform(like: torch.Tensor, n_actions: int) -> torch.Tensor:
    # −log A as a 0-d tensor on `like`'s device: no host round trip in the learner's update
    return -torch.log(like.new_tensor(float(n_actions)))


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or when asked for), else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
