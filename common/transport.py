"""ZeroMQ sockets as every role makes them.

- No linger: closing never blocks on unsent messages (the acknowledged sender resends what matters).
- ZMTP heartbeats: a dead or partitioned peer is noticed within seconds and the connection is re-made
  when the network heals, without restarting anything.
- Optional CURVE (`auth.*` settings): servers (replay's ROUTER, the learner's PUB) admit only clients
  whose public key is in `auth.authorized_keys`, checked by one ZAP authenticator thread per process;
  every refused handshake is counted in `vast_auth_refused_total{socket}` and logged (rate-limited).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from vast.common.config import AuthConfig
from vast.common.logs import RateLimited

HEARTBEAT_IVL_MS = 2000  # ping the peer this often...
HEARTBEAT_TIMEOUT_MS = 10000  # ...and drop the connection (then reconnect) when it stays silent this long
RECONNECT_IVL_MS = 100
RECONNECT_IVL_MAX_MS = 2000

_REFUSALS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


def refusal_counter(metrics, socket: str):
    """`vast_auth_refused_total{socket}` in a role's registry, for one server socket."""
    counter = metrics.counter(
        "vast_auth_refused_total", "Connections refused by CURVE authentication", ("socket",)
    )
    return counter.labels(socket)


def _common_options(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)


def generate_keys(folder: str | Path, name: str) -> tuple[Path, Path]:
    """Write a CURVE keypair: NAME.key (public, to hand out) and NAME.key_secret (owner-readable only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def client_socket(kind: int, addr: str, auth: AuthConfig, configure=None) -> zmq.Socket:
    """A connecting socket (actors): CURVE client when `auth.client_key` is set. `configure(sock)` sets
    further options before the connect (most options only apply to connections made after them). `addr`
    may be several comma-separated addresses: the socket connects to each (DEALER: turns among them)."""
    sock = zmq.Context.instance().socket(kind)
    _common_options(sock)
    if configure is not None:
        configure(sock)
    if auth.client_key:
        public, secret = zmq.auth.load_certificate(auth.client_key)
        if secret is None:
            raise ValueError(f"auth.client_key {auth.client_key} holds no secret key (use NAME.key_secret)")
        server_public, _ = zmq.auth.load_certificate(auth.server_public)
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
    for one in addr.split(","):
        sock.connect(one.strip())
    return sock


class _Admission:
    """The ZAP credentials callback: a client gets in only with an authorised public key."""

    def __init__(self, folder: str, log: logging.Logger):
        self.allowed = set(zmq.auth.load_certificates(folder))
        self.limited = RateLimited(log)

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.allowed:
            return True
        self.limited.warning("auth", "refused a client with unauthorised key %s on %s", key.decode(), domain)
        return False


_authenticators: dict[int, ThreadAuthenticator] = {}
_auth_lock = threading.Lock()


def _admit(ctx: zmq.Context, domain: str, folder: str, log: logging.Logger) -> None:
    """Admit the keys in `folder` to the sockets of ZAP domain `domain`. One ZAP handler per context
    (ZeroMQ allows only one), started on first use; each server socket has its own domain."""
    with _auth_lock:
        if id(ctx) not in _authenticators:
            auth = ThreadAuthenticator(ctx, log=logging.getLogger("vast.auth"))
            auth.start()
            _authenticators[id(ctx)] = auth
        _authenticators[id(ctx)].configure_curve_callback(
            domain, credentials_provider=_Admission(folder, log)
        )


def server_socket(
    kind: int, bind: str, auth: AuthConfig, name: str, refused=None, log=None, configure=None
) -> zmq.Socket:
    """A bound socket (replay, learner): CURVE server when `auth.server_key` is set; failed handshakes
    increment `refused` (a Prometheus counter) from a monitor thread. `configure(sock)` sets further
    options before the bind."""
    log = log or logging.getLogger("vast.transport")
    ctx = zmq.Context.instance()
    sock = ctx.socket(kind)
    _common_options(sock)
    if auth.server_key:
        _admit(ctx, name, auth.authorized_keys, log)
        public, secret = zmq.auth.load_certificate(auth.server_key)
        if secret is None:
            raise ValueError(f"auth.server_key {auth.server_key} holds no secret key (use NAME.key_secret)")
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = public, secret
        sock.zap_domain = name.encode()
        if refused is not None:
            _watch_refusals(sock, refused, name)
    if configure is not None:
        configure(sock)
    sock.bind(bind)
    return sock


def _watch_refusals(sock: zmq.Socket, refused, name: str) -> None:
    monitor = sock.get_monitor_socket(_REFUSALS | zmq.EVENT_MONITOR_STOPPED)

    def run() -> None:
        try:
            while True:
                event = recv_monitor_message(monitor)
                if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                    return
                refused.inc()
        except zmq.ZMQError:  # the context is being torn down
            return
        finally:
            monitor.close(0)

    threading.Thread(target=run, name=f"auth-monitor-{name}", daemon=True).start()


def close_server(sock: zmq.Socket) -> None:
    """Close a socket from `server_socket`, stopping its monitor thread first."""
    with contextlib.suppress(zmq.ZMQError):
        sock.disable_monitor()
    sock.close(0)
