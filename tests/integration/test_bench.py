"""`vast bench --quick`: every section measured in one short run (CI runs it), one table, JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest


@pytest.mark.timeout(240)
def test_vast_bench_quick_measures_every_section_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vast",
            "bench",
            "--quick",
            "--json",
            str(out),
            "--md",
            str(tmp_path / "b.md"),
        ],
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["torch"].startswith("2.13")
    assert machine["redis_server"][0].isdigit() and isinstance(machine["gpus"], list)
    rows = result["rows"]
    sections = {r["section"] for r in rows}
    assert sections == {"envs", "codec", "transport", "learner", "train", "target"}
    for r in rows:
        if r["section"] != "target":
            assert math.isfinite(r["value"]) and r["value"] > 0, r
    train = next(r for r in rows if r["section"] == "train")["data"]
    assert train["updates"] >= 10 and train["topology"] == "processes"
    assert train["with_eval_per_s"] > train["agent_steps_per_s"]  # evaluation episodes counted too
    assert train["actors"] >= 1  # `--actors` 0: one per spare core
    actors = {f"actor-{i}" for i in range(train["actors"])}
    assert {"learner", "replay", "redis"} | actors <= set(train["memory"])
    assert all(train["cpu_s_per_update"][role] > 0 for role in ("learner", "actor-0"))
    learner = [r["data"] for r in rows if r["section"] == "learner"]
    assert {r["method"] for r in learner} == {"QTRAN", "VAST-QTRAN-MetaGrad η=¼"}
    assert all(r["rows"] > 0 and r["us_per_agent_step"] > 0 for r in learner)
    assert any(r["section"] == "target" and "memory growth" in r["item"] for r in rows)
    table = done.stdout
    assert "section" in table and "machine:" in table and "versions:" in table
    assert (tmp_path / "b.md").read_text().startswith("# vast bench")
