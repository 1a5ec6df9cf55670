"""Run-scoped Redis operations that the roles share."""

from __future__ import annotations

import pytest
import redis

from vast.common.embedded_redis import EmbeddedRedis
from vast.common.store import RunStore, connect


def test_replicas_claim_distinct_actor_ids_per_run(store, redis_server):
    """Compose and Kubernetes start every actor replica with actor.id -1: each claims its own id."""
    assert [store.claim_actor_id() for _ in range(3)] == [0, 1, 2]
    other_run = RunStore(store.r, store.run + "-other")
    assert other_run.claim_actor_id() == 0  # ids are per run
    assert store.claim_actor_id() == 3


def test_send_weights_returns_before_redis_answers_and_confirm_waits_for_the_copy(store, redis_server):
    """The write is sent without waiting for Redis (here: writes paused); `confirm` returns once Redis
    stored the blob and its version, and leaves the connection usable."""
    blob = bytes(range(256)) * 200
    admin, reader = connect(redis_server.url), RunStore(connect(redis_server.url), store.run)
    try:
        store.put_weights(1, b"weights of version 1")
        admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        try:
            confirm = store.send_weights(2, blob)  # returns although Redis has not executed it
            assert reader.published_version() == 1  # reads go on; the write waits
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        assert confirm() == len(blob)
        assert (reader.published_version(), reader.get_weights()) == (2, blob)
        for version in (3, 4):  # the connection went back to the pool in a usable state
            assert store.send_weights(version, blob)() == len(blob)
        assert reader.published_version() == 4
    finally:
        admin.close()
        reader.r.close()


def test_a_sent_weights_write_whose_reply_is_lost_raises(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    admin = connect(server.url)
    store = RunStore(connect(server.url, timeout_s=2.0), "lost-reply")
    try:
        admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")  # the MSET waits, unanswered
        confirm = store.send_weights(3, b"weights of version 3")
        server.proc.kill()  # Redis dies before it answers
        server.proc.wait(5)
        with pytest.raises(redis.RedisError):
            confirm()
        with pytest.raises(redis.ConnectionError):  # nothing left to send to
            store.send_weights(4, b"weights of version 4")
    finally:
        server.stop()
        admin.close()
        store.r.close()
