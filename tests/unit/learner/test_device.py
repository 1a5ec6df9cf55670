"""The learner's device path, checked where no GPU is: device selection, every batch field on the
training device, an update that never waits for the device mid-way (one transfer of its results at the
end), and optional bfloat16 autocast that leaves the default float32 update untouched."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures, pick_device
from vast.common.rollout import rollout
from vast.common.sparse import SparseRows
from vast.envs.registry import family_module, make_env, make_spec
from vast.learner.algos import build_algorithm
from vast.learner.algos.assignment import count_distinct_rows, spatial
from vast.learner.batch import Rows, TrainingBatch, build_batch, to_device

METHODS = [
    AlgoConfig(algo="il"),
    AlgoConfig(algo="vdn"),
    AlgoConfig(algo="qmix"),
    AlgoConfig(algo="qtran"),
    AlgoConfig(algo="vast", mixer="qtran", assign="metagrad"),
    AlgoConfig(algo="vast", mixer="qmix", assign="spatial"),
    AlgoConfig(algo="vast", mixer="vdn", assign="random"),
    AlgoConfig(algo="vast", mixer="independent", assign="fixed"),
]

# Calls that make the host wait for a GPU: reading a value (item, float, int, bool, tolist, numpy) or an
# op whose output size depends on the data (nonzero, unique, masked_select, boolean-mask indexing).
READS = {"item", "__float__", "__int__", "__bool__", "__index__", "tolist", "numpy"}
DATA_DEPENDENT = {"nonzero", "argwhere", "unique", "unique_consecutive", "masked_select", "_unique2"}


class HostSyncs(TorchFunctionMode):
    """Records every torch call that would synchronise with a GPU (what torch.cuda.set_sync_debug_mode
    reports, which exists on CUDA only), as seen from Python."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name in READS or name in DATA_DEPENDENT:
            self.calls.append(name)
        elif name == "__getitem__" and _has_bool_mask(args[1] if len(args) > 1 else None):
            self.calls.append("boolean-mask indexing")
        return func(*args, **(kwargs or {}))


def _has_bool_mask(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


def _episodes(env_name: str, n: int = 4):
    spec = make_spec(env_name)
    torch.manual_seed(0)
    policy = build_algorithm(AlgoConfig(), spec, "cpu", 0).policy
    episodes, _ = rollout(make_env(spec, n), policy, 3, torch.Generator().manual_seed(3))
    return spec, episodes


def test_auto_picks_cuda_exactly_when_it_is_available(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("env_name", ["battle-20", "warehouse-4", "gaussian-squeeze-20"])
def test_every_batch_field_is_built_on_the_training_device(env_name):
    """On the meta device (shapes and dtypes without data) nothing can stay behind on the host."""
    spec, episodes = _episodes(env_name)
    batch = build_batch(episodes, spec, torch.device("meta"), learner_version=2, sparse_rows=True)
    # sparse rows are a CPU-only product: asked for on another device, none are built or promised
    assert batch.obs.sparse is None and batch.state_rows is None and not batch.sparse_decided
    tensors = {"obs.dense": batch.obs.dense, "obs.onehot": batch.obs.onehot}
    for f in dataclasses.fields(TrainingBatch):
        value = getattr(batch, f.name)
        if isinstance(value, torch.Tensor):
            tensors[f.name] = value
        elif f.name not in ("obs", "learner_version", "sparse_decided", "state_rows"):
            pytest.fail(f"field {f.name} is not a tensor: {type(value)}")
    present = {name: t for name, t in tensors.items() if t is not None}
    assert len(present) >= 11
    assert {name: t.device.type for name, t in present.items()} == dict.fromkeys(present, "meta")
    cpu = build_batch(episodes, spec, "cpu", learner_version=2)
    for name, t in present.items():  # same dtypes and shapes as the CPU batch
        ref = getattr(cpu.obs, name[4:]) if name.startswith("obs.") else getattr(cpu, name)
        assert (t.dtype, t.shape) == (ref.dtype, ref.shape), name
    assert cpu.actions.dtype == torch.long and cpu.state.dtype == torch.float32
    assert cpu.positions.dtype == torch.float32 and cpu.alive.dtype == torch.bool


def test_host_arrays_become_cpu_tensors_without_a_copy():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = to_device(array, torch.device("cpu"))
    array[0, 0] = 42.0
    assert tensor[0, 0].item() == 42.0  # shared memory: the batch costs no second copy on the CPU
    assert to_device(array, torch.device("cpu"), np.int64).dtype == torch.int64


def test_rows_are_selected_by_host_built_indices_exactly_as_by_the_mask():
    spec, episodes = _episodes("battle-20", 5)  # Battle episodes end at different steps: padding
    batch = build_batch(episodes, spec, "cpu", 0)
    assert not bool(batch.valid.all())
    rows = Rows.select(batch, batch.valid_rows())
    mask = batch.valid
    for name in ("actions", "returns", "alive", "positions", "behaviour_logp"):
        assert torch.equal(getattr(rows, name), getattr(batch, name)[mask]), name
    assert torch.equal(batch.valid_rows(), mask.flatten().nonzero().squeeze(1))
    # observations and state, decoded for the valid rows only, are the padded decode's valid rows
    r, t = mask.shape
    padded = {}
    for name in spec.wire:
        padded[name] = np.zeros((r, t, *spec.wire[name].shape), dtype=spec.wire[name].dtype)
        for i, ep in enumerate(episodes):
            padded[name][i, : ep.length] = ep.arrays[name]
    obs, state = family_module(spec.name).decode_batch(spec, padded, (r, t))
    assert torch.equal(rows.obs.dense, torch.from_numpy(obs.dense)[mask])
    assert torch.equal(rows.state, torch.from_numpy(state.dense)[mask])
    with pytest.raises(ValueError, match="valid rows only"):
        Rows.select(batch, batch.valid_rows()[:-1])


@pytest.mark.parametrize("cfg", METHODS, ids=lambda c: f"{c.algo}-{c.mixer}-{c.assign}")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_update_reads_nothing_back_from_the_device_until_its_results(cfg, mode, monkeypatch):
    """(On the CPU, which stands in for the GPU here, with `sparse_inputs` off: the sparse first layers
    read the observations on the host, which is why they are built for CPU tensors only. For the same
    reason Spatial's k-means takes the tensor ops, as it does for any tensor not on the CPU.)"""
    monkeypatch.setattr(spatial, "batched_kmeans", spatial.batched_kmeans_torch)
    spec, episodes = _episodes("battle-20", 3)
    algo = build_algorithm(dataclasses.replace(cfg, sparse_inputs="off"), spec, "cpu", seed=0)
    batch = build_batch(episodes, spec, "cpu", 0)
    with HostSyncs() as syncs:
        out = algo.update(batch, mode=mode)
    assert syncs.calls == ["tolist"], syncs.calls  # the one transfer of all results (to_host)
    assert all(isinstance(v, float) for v in out.values())


def test_spatial_kmeans_compiles_on_the_cpu_only_and_its_tensor_path_reads_nothing_back():
    gen = torch.Generator().manual_seed(0)
    points = torch.randint(0, 20, (6, 30, 2), generator=gen).float()
    alive = torch.rand(6, 30, generator=gen) < 0.6
    with HostSyncs() as syncs:
        spatial.batched_kmeans(points, alive, 5, gen)
    assert "numpy" in syncs.calls  # the compiled pass works on host arrays: CPU tensors only
    with HostSyncs() as syncs:
        spatial.batched_kmeans_torch(points, alive, 5, gen)
    assert syncs.calls == []  # what a GPU runs: no host round trip


def test_sparse_rows_are_never_built_from_device_tensors():
    x = torch.zeros(1000, 196, device="meta")
    assert SparseRows.from_dense(x) is None  # on a GPU the dense product stays: no host round trip
    assert TorchFeatures(x, None).with_sparse_rows().sparse is None


def test_the_sync_guard_sees_what_would_wait_for_a_gpu():
    x = torch.arange(6.0)
    with HostSyncs() as syncs:
        float(x.sum())
        _ = x[x > 2]
        torch.unique(x)
        x.nonzero()
        (x * 2).tolist()
    assert syncs.calls == ["__float__", "boolean-mask indexing", "unique", "nonzero", "tolist"]


def test_distinct_rows_are_counted_on_the_device_as_unique_counts_them():
    gen = torch.Generator().manual_seed(0)
    for m, k in [(1, 3), (7, 5), (40, 62), (40, 63), (25, 200)]:
        rows = torch.rand((m, k), generator=gen) < 0.5
        rows = torch.cat([rows, rows[: m // 2]])  # with duplicates
        assert count_distinct_rows(rows).item() == torch.unique(rows, dim=0).shape[0], (m, k)
    assert count_distinct_rows(torch.zeros((0, 4), dtype=torch.bool)).item() == 0


@pytest.mark.parametrize("cfg", [METHODS[3], METHODS[4]], ids=["qtran", "vast-metagrad"])
def test_bf16_autocast_is_opt_in_and_close_to_float32(cfg):
    spec, episodes = _episodes("warehouse-4", 4)
    batch = build_batch(episodes, spec, "cpu", 0)
    results = {}
    for amp in ("off", "bf16", "off"):
        algo = build_algorithm(dataclasses.replace(cfg, amp=amp), spec, "cpu", seed=0)
        before = [p.detach().clone() for p in algo.policy.parameters()]
        out = algo.update(batch)
        after = list(algo.policy.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after))
        results.setdefault(amp, []).append(out)
    off, again, bf16 = results["off"][0], results["off"][1], results["bf16"][0]
    assert off == again  # the default update is deterministic and untouched by the option
    assert bf16 != off  # the networks really ran in bfloat16
    for key in ("loss/actor", "entropy", "q_taken_mean"):
        assert np.isfinite(bf16[key])
        assert bf16[key] == pytest.approx(off[key], rel=0.05, abs=0.05), key
