"""Chaos, bounded in time: during one sync training run, random actors are killed (kill -9) and restarted
by the launcher, the learner is killed once and resumes from its checkpoint, and replay is killed once
and restarted. At the end: one row per update, training went past the checkpoint the learner resumed
from, the numbers are those of the failure-free serial run, the ledger identity holds, and every episode
replay acknowledged (the probe's included) is accounted for."""

from __future__ import annotations

import random
import time

import pytest

from tests.integration.reliability import (
    Probe,
    config,
    finish_and_audit,
    reproducible,
    serial_rows,
    wait_rows,
)
from vast.common import rundir
from vast.common.store import RunStore, connect
from vast.launch.local import LocalCluster

UPDATES = 30


@pytest.mark.timeout(240)
def test_chaos_run_loses_nothing_acknowledged_and_changes_no_number(tmp_path):
    started = time.monotonic()
    rng = random.Random(9)
    cfg = config(
        tmp_path,
        "chaos",
        **{"run.updates": UPDATES, "actors": 3, "learner.episodes_per_update": 6, "run.heartbeat_ttl_s": 3},
    )
    cluster = LocalCluster(cfg).start()
    store = RunStore(connect(cfg.redis_url, timeout_s=2), cfg.run.name)
    killed: list[str] = []

    def kill(name: str) -> None:
        cluster.procs[name].kill()
        killed.append(name)

    try:
        cluster.endpoints(timeout_s=90)
        probe = Probe(cfg, cfg.actor.replay_addr)
        progress = 3
        for step in ("actor", "actor", "learner", "replay", "actor"):
            if step == "learner":
                progress = max(progress, 12)  # past the checkpoint of update 10
                resumed_from = 10
            rows = wait_rows(cluster, progress, 120)
            kill(f"actor-{rng.randrange(3)}" if step == "actor" else step)
            progress = len(rows) + 3  # each failure is followed by 3 more updates
        ledger, launcher = finish_and_audit(cluster, store, probe)
    finally:
        cluster.stop()
        store.r.close()
    elapsed = time.monotonic() - started
    rows = rundir.read_rows(cluster.run_dir / rundir.METRICS)
    assert [r["update"] for r in rows] == list(range(1, UPDATES + 1))
    assert rows[-1]["update"] > resumed_from
    assert reproducible(rows) == reproducible(serial_rows(tmp_path, cfg))
    assert sum(cluster.restarts.values()) == len(killed) == 5
    assert launcher['vast_launcher_restarts_total{role="actor"}'] == 3
    assert launcher['vast_launcher_restarts_total{role="learner"}'] == 1
    assert launcher['vast_launcher_restarts_total{role="replay"}'] == 1
    assert ledger["consumed"] >= UPDATES * 6
    print(f"chaos: {killed} in {elapsed:.0f}s; ledger {ledger}")
