"""Weight publishing against a real Redis and a real ZeroMQ subscriber: the broadcast does not wait for
Redis's reply, `publish` returns only once the copy is stored, and with Redis down nothing is broadcast
before it is stored."""

from __future__ import annotations

import threading

import torch
import zmq

from tests.helpers import wait_until
from vast.common.codec import decode_weights
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.metrics import RoleMetrics
from vast.common.ports import free_port
from vast.common.store import RunStore, connect
from vast.learner.publisher import WeightPublisher

STATE = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}


def _subscribed(publisher: WeightPublisher, port: int) -> zmq.Socket:
    """A subscriber that has provably joined: version 0 is published until one copy reaches it."""
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    wait_until(lambda: publisher.publish(0, STATE) and sub.poll(100), 10, "the subscription")
    while sub.poll(0):
        sub.recv()
    return sub


def _publish_in_thread(publisher: WeightPublisher, version: int) -> threading.Thread:
    thread = threading.Thread(target=publisher.publish, args=(version, STATE), daemon=True)
    thread.start()
    return thread


def test_the_broadcast_goes_out_while_redis_stores_and_publish_returns_once_it_is_stored(store, redis_server):
    port = free_port()
    publisher = WeightPublisher(f"tcp://127.0.0.1:{port}", store)
    sub = _subscribed(publisher, port)
    admin = connect(redis_server.url)
    try:
        admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")  # Redis holds the write unanswered
        try:
            thread = _publish_in_thread(publisher, 1)
            assert sub.poll(10_000), "the broadcast must not wait for Redis's reply"
            assert decode_weights(sub.recv()).version == 1
            assert thread.is_alive() and store.published_version() == 0  # not stored yet: still waiting
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        thread.join(10)
        assert not thread.is_alive()
        assert store.published_version() == 1
        assert decode_weights(store.get_weights()).version == 1
    finally:
        admin.close()
        sub.close(0)
        publisher.close()


def test_with_redis_down_nothing_is_broadcast_before_the_copy_is_stored(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    store = RunStore(connect(server.url, timeout_s=1.0), "redis-down")
    metrics = RoleMetrics("learner")
    errors = metrics.counter("vast_learner_redis_errors_total", "Failed Redis calls")
    port = free_port()
    publisher = WeightPublisher(f"tcp://127.0.0.1:{port}", store, redis_errors=errors)
    sub = _subscribed(publisher, port)
    try:
        server.stop()
        thread = _publish_in_thread(publisher, 1)
        wait_until(
            lambda: metrics.registry.get_sample_value("vast_learner_redis_errors_total") >= 2,
            10,
            "publishing to fail and retry",
        )
        assert not sub.poll(0), "nothing broadcast while the copy cannot be stored"
        server.start()  # same port, empty: the retry stores the copy, then broadcasts
        assert sub.poll(15_000), "broadcast once stored"
        assert decode_weights(sub.recv()).version == 1
        assert store.published_version() == 1  # stored before the broadcast went out
        thread.join(10)
        assert not thread.is_alive()
    finally:
        publisher.stop.set()
        sub.close(0)
        publisher.close()
        server.stop()
        store.r.close()
