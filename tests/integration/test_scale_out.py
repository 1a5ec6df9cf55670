"""The data path scaled out: two replay replicas serving one run whose episode stream is sharded over two
Redis servers, with real processes (learner, 3 actors, 2 replicas) and a probe actor in the test.

Sync: the numbers are those of the serial run (work slots from both shards meet in one batch). Async: the
flow bound holds across shards. In both, one replica is killed and restarted mid-run, both replicas and
both shards carry episodes, the ledger identity holds on each shard, and every episode replay
acknowledged is accounted for on the shard its actor id names."""

from __future__ import annotations

import pytest

from tests.helpers import scrape, wait_until
from tests.integration.reliability import Probe, audit_ledger, config, reproducible, serial_rows, wait_rows
from vast.common import rundir
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.flow import backlog_bound
from vast.common.store import RunStore, connect, shard_index
from vast.launch.local import LocalCluster

UPDATES = 16
E = 6


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_two_replicas_two_redis_shards_lose_nothing_and_keep_every_identity(tmp_path, redis_server, mode):
    second = EmbeddedRedis(tmp_path / "shard-1").start()
    cfg = config(
        tmp_path,
        f"scale-out-{mode}",
        **{
            "run.updates": UPDATES,
            "actors": 3,
            "learner.episodes_per_update": E,
            "learner.mode": mode,
            "replay.replicas": 2,
            "redis_url": redis_server.url,
            "redis_shards": second.url,
        },
    )
    cluster = LocalCluster(cfg).start()
    shards = [RunStore(connect(url, timeout_s=2), cfg.run.name) for url in (redis_server.url, second.url)]
    most_buffered = 0

    def sample_backlog() -> None:
        """Track the most episodes the actors had in the streams (the probe is not flow-controlled)."""
        nonlocal most_buffered
        keys = [f[b"k"] for s in shards for _, f in s.r.xrange(s.episodes_key)]
        most_buffered = max(most_buffered, sum(not k.startswith(b"99:") for k in keys))

    try:
        endpoints = cluster.endpoints(timeout_s=90)
        assert {"replay:0", "replay:1"} <= set(endpoints), endpoints
        assert len(cfg.actor.replay_addr.split(",")) == 2
        probe = Probe(cfg, cfg.actor.replay_addr, actor_id=99)  # 99 is odd: shard 1
        wait_rows(cluster, 5, 120)
        per_replica = [
            scrape(endpoints[f"replay:{i}"])["vast_replay_episodes_accepted_total"] for i in (0, 1)
        ]
        cluster.procs["replay-0"].kill()  # the launcher restarts it; meanwhile replay-1 serves everyone
        wait_until(lambda: cluster.learner_done() or sample_backlog(), 150, "the run to finish")
        wait_until(lambda: cluster.restarts.get("replay-0"), 30, "replay-0 to be restarted")
        acknowledged = probe.finish()
        cluster.stop(keep_redis=True)
        ledgers = [
            audit_ledger(shard, {k for k in acknowledged if shard_index(k, 2) == i})
            for i, shard in enumerate(shards)
        ]
    finally:
        cluster.stop()
        for shard in shards:
            shard.r.close()
        second.stop()

    rows = rundir.read_rows(cluster.run_dir / rundir.METRICS)
    assert [r["update"] for r in rows] == list(range(1, UPDATES + 1))
    assert all(n > 0 for n in per_replica), f"a replica stored nothing before the kill: {per_replica}"
    assert all(ledger["accepted"] > 0 for ledger in ledgers), f"a shard holds nothing: {ledgers}"
    assert sum(ledger.get("consumed", 0) for ledger in ledgers) == UPDATES * E
    assert any(k for k in acknowledged if shard_index(k, 2) == 1)
    if mode == "sync":
        assert reproducible(rows) == reproducible(serial_rows(tmp_path, cfg))
    else:  # one bound for the whole run, up to what is stored during one reservation's round trip
        assert 0 < most_buffered <= backlog_bound(E, cfg.learner.queue_updates) + E, most_buffered
    print(f"scale-out {mode}: replicas stored {per_replica}; most buffered {most_buffered}; {ledgers}")
