"""Mostly-zero input rows as sparse matrices, for the first layers of the learner's networks on the CPU.

Why: Battle's observations are about 4% nonzero (a 7x7 view of a sparse grid), yet a dense first layer
multiplies every zero. A CSR product skips them: the same sums of the same nonzero terms, so the outputs
agree with the dense layer's up to the order of float32 additions (a Battle-80 update: 13-14% less CPU).

The matrix is kept twice, as CSR and as the CSR of its transpose, built by compiled passes (count, fill,
counting sort). The forward product needs the first. The weight gradient (xᵀ · ∂out) is a compiled pass
over the first as well (`transposed_product`): torch's product of the transposed CSR gives the same
numbers on this VM, but reads ∂out out of order and is 7 times slower at Battle-800. The transpose remains for
other dtypes.

The default (`algo.sparse_inputs auto`). The rows come from whoever holds the nonzeros already:
Battle's decoder emits them as it rebuilds the batch (`from_csr`); a scan of the dense matrix
(`from_dense`) is the fallback for batches built without them. The scan's passes run on the calling
thread: numba's parallel passes brought a second OpenMP runtime (numba's own libgomp) whose spinning
threads slowed torch's update, by 16% at Warehouse-16 where the pass only counted nonzeros to find the
rows too dense.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from numba import njit

MAX_DENSITY = 0.1  # above this share of nonzeros conversion + sparse products cost about what dense ones do
MIN_ELEMENTS = 1 << 16  # below this the dense product costs microseconds: not worth a conversion
INDEX_MAX = np.iinfo(np.int32).max  # int32 indices: half the memory traffic of int64


class SparseRows:
    """A float32 (rows, D) matrix held as CSR and as the CSR of its transpose (int32 indices)."""

    __slots__ = ("csr", "csr_t")

    def __init__(self, csr: torch.Tensor, csr_t: torch.Tensor):
        self.csr = csr
        self.csr_t = csr_t

    @property
    def shape(self) -> torch.Size:
        return self.csr.shape

    @staticmethod
    def from_dense(x: torch.Tensor, max_density: float = MAX_DENSITY) -> SparseRows | None:
        """`x` flattened to (rows, D) as sparse rows; None where that would not pay: not a CPU float32
        tensor, too small, or more than `max_density` of it nonzero."""
        if x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() < 2 or x.numel() < MIN_ELEMENTS:
            return None
        flat = x.detach().reshape(-1, x.shape[-1])
        dense = np.ascontiguousarray(flat.numpy())
        rows, d = dense.shape
        counts = np.zeros(rows + 1, np.int64)
        _row_counts(dense, counts[1:])
        np.cumsum(counts, out=counts)
        nnz = int(counts[-1])
        if nnz > max_density * dense.size or nnz > INDEX_MAX:
            return None
        crow = counts.astype(np.int32)
        col, val = np.empty(nnz, np.int32), np.empty(nnz, np.float32)
        _fill_rows(dense, crow, col, val)
        return SparseRows._with_transpose(crow, col, val, d)

    @staticmethod
    def from_csr(crow: np.ndarray, col: np.ndarray, val: np.ndarray, d: int) -> SparseRows | None:
        """Rows some producer already holds as CSR (e.g. `Features.csr` from an environment's decoder,
        which emits the nonzeros as it builds them): no scan of the dense matrix. None where the
        product would not pay (more than MAX_DENSITY nonzero, too small) or int32 cannot index it."""
        rows, nnz = crow.shape[0] - 1, col.shape[0]
        if int(crow[-1]) != nnz or val.shape[0] != nnz:
            raise ValueError(
                f"CSR rows end at {int(crow[-1])} but hold {nnz} columns and {val.shape[0]} values"
            )
        if rows * d < MIN_ELEMENTS or nnz > MAX_DENSITY * rows * d or nnz > INDEX_MAX:
            return None
        return SparseRows._with_transpose(
            crow.astype(np.int32), col.astype(np.int32, copy=False), val.astype(np.float32, copy=False), d
        )

    @staticmethod
    def _with_transpose(crow: np.ndarray, col: np.ndarray, val: np.ndarray, d: int) -> SparseRows:
        rows, nnz = crow.shape[0] - 1, col.shape[0]
        col_t, val_t = np.empty(nnz, np.int32), np.empty(nnz, np.float32)
        crow_t = np.zeros(d + 1, np.int32)
        _transpose(crow, col, val, d, crow_t, col_t, val_t)
        crow, col, val, crow_t, col_t, val_t = map(torch.from_numpy, (crow, col, val, crow_t, col_t, val_t))
        with warnings.catch_warnings():  # torch calls CSR "beta"; the two products used here are not new
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            csr = torch.sparse_csr_tensor(crow, col, val, (rows, d), check_invariants=False)
            csr_t = torch.sparse_csr_tensor(crow_t, col_t, val_t, (d, rows), check_invariants=False)
        return SparseRows(csr, csr_t)


def live_rows(x: SparseRows) -> tuple[torch.Tensor, SparseRows]:
    """The rows of `x` holding a nonzero, as (their indices (R,) long, a SparseRows of R + 1 rows: those
    rows in order, then one empty row). Cheap: the empty rows own no entries, so the nonzeros stay as
    they are; only the transpose's row numbers are renumbered."""
    crow, crow_t = x.csr.crow_indices(), x.csr_t.crow_indices()
    live = crow[1:] > crow[:-1]
    index = live.nonzero().squeeze(1)
    rank = torch.cumsum(live, 0, dtype=torch.int32) - 1  # a live row's number among the live rows
    r, d = index.numel(), x.shape[1]
    crow_c = torch.cat([crow[:1], crow[1:].index_select(0, index), crow[-1:]])
    col_t = rank.index_select(0, x.csr_t.col_indices().long())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        csr = torch.sparse_csr_tensor(
            crow_c, x.csr.col_indices(), x.csr.values(), (r + 1, d), check_invariants=False
        )
        csr_t = torch.sparse_csr_tensor(crow_t, col_t, x.csr_t.values(), (d, r + 1), check_invariants=False)
    return index, SparseRows(csr, csr_t)


def linear(x: SparseRows, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear` over sparse rows: (rows, out), differentiable in `weight` and `bias` (inputs are data)."""
    if bias is None:
        bias = weight.new_zeros(())
    return _SparseLinear.apply(x.csr, x.csr_t, weight, bias)


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, csr, csr_t, weight, bias):
        ctx.save_for_backward(csr, csr_t)
        ctx.bias_shape = bias.shape
        if bias.dim() == 0:
            return torch.mm(csr, weight.t())
        return torch.addmm(bias, csr, weight.t())

    @staticmethod
    def backward(ctx, grad_out):
        csr, csr_t = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_weight = transposed_product(csr, csr_t, grad_out).t() if ctx.needs_input_grad[2] else None
        grad_bias = None
        if ctx.needs_input_grad[3] and len(ctx.bias_shape) > 0:
            grad_bias = grad_out.sum(0)
        return None, None, grad_weight, grad_bias


def transposed_product(csr: torch.Tensor, csr_t: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """xᵀ · grad (D, H) for x (rows, D) held as `csr` and its transpose `csr_t`: the weight gradient.

    Why compiled: torch's product of the transposed CSR reads grad's rows in the transpose's order, over
    and over; once grad outgrows the cache that is slow (Battle-800's live rows: 336 k × 128, 0.64 s).
    `_accumulate_rows` reads x's rows in order, so grad streams from memory once while the (D, H) sum
    stays in cache: 0.09 s there. Each sum adds the same terms in the same order (rows ascending): on
    this VM the result is torch's bit for bit, and `tests/unit/common/test_sparse.py` allows 1e-6 for
    CPUs that fuse the multiply-adds differently. Other dtypes keep torch's.
    """
    if grad.dtype != torch.float32 or csr.values().dtype != torch.float32:
        return torch.mm(csr_t, grad)
    out = np.zeros((csr.shape[1], grad.shape[1]), dtype=np.float32)
    _accumulate_rows(
        csr.crow_indices().numpy(), csr.col_indices().numpy(), csr.values().numpy(), grad.numpy(), out
    )
    return torch.from_numpy(out)


@njit(cache=True)
def _accumulate_rows(crow, col, val, grad, out):
    """out[j] += v · grad[i] for every nonzero v = x[i, j], row i by row i."""
    rows, h = crow.shape[0] - 1, grad.shape[1]
    for i in range(rows):
        for q in range(crow[i], crow[i + 1]):
            j, v = col[q], val[q]
            for k in range(h):
                out[j, k] += v * grad[i, k]


@njit(cache=True)
def _row_counts(a, counts):
    """Nonzeros per row of `a` (branch-free inner loop, so that it vectorises)."""
    rows, d = a.shape
    for i in range(rows):
        row = a[i]
        nonzeros = 0
        for j in range(d):
            nonzeros += np.int64(row[j] != 0)
        counts[i] = nonzeros


@njit(cache=True)
def _fill_rows(a, crow, col, val):
    """Column indices and values of `a`, row by row."""
    rows, d = a.shape
    for i in range(rows):
        k = crow[i]
        if crow[i + 1] == k:
            continue  # an all-zero row (a dead agent, a padding step)
        row = a[i]
        for j in range(d):
            v = row[j]
            if v != 0:
                col[k] = j
                val[k] = v
                k += 1


@njit(cache=True)
def _transpose(crow, col, val, d, crow_t, col_t, val_t):
    """The CSR of the transpose: a counting sort of the nonzeros by column, rows ascending within one."""
    for q in range(col.shape[0]):
        crow_t[col[q] + 1] += 1
    for j in range(d):
        crow_t[j + 1] += crow_t[j]
    fill = crow_t[:-1].copy()
    for i in range(crow.shape[0] - 1):
        for q in range(crow[i], crow[i + 1]):
            p = fill[col[q]]
            col_t[p] = i
            val_t[p] = val[q]
            fill[col[q]] = p + 1
