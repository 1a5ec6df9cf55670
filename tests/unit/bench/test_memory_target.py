"""The bench's memory-growth target: Redis may grow by its de-duplication markers, nothing else may grow."""

from __future__ import annotations

from vast.bench.report import MARKER_BYTES, Row, target_rows


def _train_row(memory: dict, updates: int = 1000) -> Row:
    data = {"env": "gaussian-squeeze-800", "N": 800, "method": "QTRAN", "topology": "processes"}
    data.update(updates=updates, episodes_per_update=10, memory=memory)
    return Row("train", data["env"], "QTRAN", 1.0, "agent-steps/s", data=data)


def _verdict(memory: dict) -> str:
    (row,) = [r for r in target_rows([_train_row(memory)]) if "memory growth" in r.item]
    return row.details


def test_redis_growing_by_its_markers_is_within_the_target():
    markers_mb = 1000 * 10 * MARKER_BYTES / 2**20  # 1.9 MB for 10,000 episodes
    memory = {
        "redis": {"peak_GB": 0.01, "growth": 0.30, "grown_MB": 0.9 * markers_mb},
        "learner": {"peak_GB": 0.5, "growth": 0.02, "grown_MB": 10.0},
    }
    assert _verdict(memory).startswith("ok: largest is redis's, +1.7 MB: de-duplication markers")


def test_redis_growing_beyond_its_markers_misses():
    memory = {"redis": {"peak_GB": 0.05, "growth": 0.30, "grown_MB": 12.0}}
    assert _verdict(memory).startswith("MISS: largest is redis's")


def test_another_role_growing_misses_even_when_redis_grows_more():
    memory = {
        "redis": {"peak_GB": 0.01, "growth": 0.50, "grown_MB": 1.0},
        "actor-0": {"peak_GB": 0.4, "growth": 0.12, "grown_MB": 40.0},
    }
    assert _verdict(memory).startswith("MISS: largest is actor-0's")
