"""Run-scoped Redis operations that the roles share."""

from __future__ import annotations

from vast.common.store import RunStore


def test_replicas_claim_distinct_actor_ids_per_run(store, redis_server):
    """Compose and Kubernetes start every actor replica with actor.id -1: each claims its own id."""
    assert [store.claim_actor_id() for _ in range(3)] == [0, 1, 2]
    other_run = RunStore(store.r, store.run + "-other")
    assert other_run.claim_actor_id() == 0  # ids are per run
    assert store.claim_actor_id() == 3
