"""A network partition of an actor host, for real: actor 1 runs in its own network namespace (a simulated
host) joined to this one by a veth pair; cutting the link (`ip link set ... down`) isolates it from
replay, the learner and Redis. The run goes on without it (its work slots are taken over once its
heartbeat expires), the isolated actor says loudly that the learner is silent, and when the link comes
back it rejoins by itself: same processes, nothing restarted, and the numbers of the serial run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.integration.reliability import audit_ledger, config, reproducible, serial_rows
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.ports import free_port
from vast.common.rundir import read_rows
from vast.common.store import RunStore, connect

ROOT = Path(__file__).resolve().parents[2]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class ActorHost:
    """A network namespace with one veth link to this host: `host_ip` here, `peer_ip` there."""

    def __init__(self):
        tag = os.getpid() % 100_000
        self.ns, self.link, peer = f"vast-{tag}", f"vh{tag}", f"va{tag}"
        self.host_ip, self.peer_ip = f"10.213.{tag % 250}.1", f"10.213.{tag % 250}.2"
        ip("netns", "add", self.ns)
        ip("link", "add", self.link, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", self.ns)
        ip("addr", "add", f"{self.host_ip}/24", "dev", self.link)
        ip("link", "set", self.link, "up")
        ip("netns", "exec", self.ns, "ip", "addr", "add", f"{self.peer_ip}/24", "dev", peer)
        ip("netns", "exec", self.ns, "ip", "link", "set", peer, "up")
        ip("netns", "exec", self.ns, "ip", "link", "set", "lo", "up")

    def cut(self) -> None:
        ip("link", "set", self.link, "down")

    def heal(self) -> None:
        ip("link", "set", self.link, "up")

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.link], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)


@pytest.mark.timeout(300)
def test_a_partitioned_actor_host_heals_without_restarting_anything(tmp_path, run_name):
    host = ActorHost()
    procs: dict[str, subprocess.Popen] = {}
    redis = None
    try:
        redis = EmbeddedRedis(tmp_path / "redis", appendonly=True, bind=("127.0.0.1", host.host_ip)).start()
        url = f"redis://{host.host_ip}:{redis.port}/0"
        cfg = config(
            tmp_path,
            run_name,
            **{"run.updates": 40, "redis_url": url, "run.heartbeat_ttl_s": 3, "actor.learner_silent_s": 3},
        )
        replay_addr, weights_addr = (f"tcp://{host.host_ip}:{free_port()}" for _ in range(2))
        cfg.replay.bind = cfg.actor.replay_addr = replay_addr
        cfg.learner.weights_bind = cfg.actor.weights_addr = weights_addr
        cfg.save(tmp_path / "base.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
        env["VAST_REDIS_URL"] = url
        base = [sys.executable, "-m", "vast"]
        commands = {
            "replay": base + ["replay"],
            "learner": base + ["learner"],
            "actor-0": base + ["actor", "--actor.id", "0"],
            "actor-1": ["ip", "netns", "exec", host.ns, *base, "actor", "--actor.id", "1"],  # the other host
        }
        for name, cmd in commands.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(
                    [*cmd, "--config", str(tmp_path / "base.json")],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
        metrics = tmp_path / run_name / "metrics.jsonl"
        rows = lambda: read_rows(metrics)  # noqa: E731
        wait_until(lambda: len(rows()) >= 4 and rows()[-1]["from_actors"] == [0, 1], 150, "both actors")
        pids = {name: p.pid for name, p in procs.items()}

        host.cut()
        cut_at = len(rows())
        wait_until(lambda: len(rows()) >= cut_at + 5, 90, "progress while actor 1 is cut off")
        # the next two updates may still use what actor 1 sent before the cut (weights of the next version
        # are published just before a row is written); every later one was played without it
        during = rows()[cut_at + 2 :]
        assert during and all(r["from_actors"] == [0] for r in during), "actor 0 took actor 1's slots over"
        actor1_log = tmp_path / "actor-1.log"
        wait_until(lambda: "no new weights" in actor1_log.read_text(), 60, "actor 1 to report the silence")

        host.heal()
        healed_at = len(rows())
        wait_until(
            lambda: any(r["from_actors"] == [0, 1] for r in rows()[healed_at:]),
            120,
            "actor 1 back in batches",
        )
        assert {name: p.pid for name, p in procs.items()} == pids and all(
            p.poll() is None for p in procs.values()
        )
        procs["learner"].wait(180)
        assert procs["learner"].returncode == 0
        for name in ("actor-0", "actor-1", "replay"):
            procs[name].send_signal(signal.SIGTERM)
            assert procs[name].wait(30) == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
        store = RunStore(connect(url), run_name)
        audit_ledger(store)
        store.r.close()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if redis is not None:
            redis.stop()
        host.remove()
    final = read_rows(metrics)
    assert [r["update"] for r in final] == list(range(1, 41))
    assert reproducible(final) == reproducible(serial_rows(tmp_path, cfg))
