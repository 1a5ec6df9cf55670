"""Transport throughput: actor -> ZeroMQ -> replay (separate process) -> Redis, acknowledged.

Run: .venv/bin/python benchmarks/bench_transport.py [--persistence off everysec always]
Prints, per env and Redis persistence setting: bytes per episode, acknowledged episodes/s and MB/s
(median of repeats). `vast train`'s embedded Redis uses an append-only file fsynced before every reply
(`always`): an acknowledged episode survives even a machine crash.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vast.actors.sender import EpisodeSender
from vast.common.codec import encode_episode
from vast.common.config import AlgoConfig
from vast.common.embedded_redis import EmbeddedRedis, free_port
from vast.common.lifecycle import StopFlag
from vast.common.networks import make_policy
from vast.common.rollout import EpisodePlayer
from vast.common.store import RunStore, connect
from vast.envs.registry import make_spec

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def make_episodes(env_name: str, n: int, run: str) -> list:
    spec = make_spec(env_name)
    torch.manual_seed(0)
    player = EpisodePlayer(spec, make_policy(spec, AlgoConfig()), run, actor_id=0)
    return player.play(n, 0, list(range(n)), version=0)[0]


def bench_env(env_name: str, episodes: int, repeats: int, redis_url: str) -> dict:
    run = f"bench-{env_name}"
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vast",
            "replay",
            "--env",
            env_name,
            "--run-name",
            run,
            "--redis-url",
            redis_url,
            "--replay.bind",
            addr,
            "--replay.max_backlog",
            str(10 * episodes),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = RunStore(connect(redis_url), run)
    try:
        wait_until(lambda: "replay:0" in store.endpoints(), 30, "replay to start")
        batch = make_episodes(env_name, min(episodes, 64), run)
        size = len(encode_episode(batch[0]))
        rates = []
        for rep in range(repeats):
            sender = EpisodeSender(addr, ack_timeout_s=30, max_in_flight=256, log=logging.getLogger("bench"))
            stop = StopFlag()
            start = time.perf_counter()
            for i in range(episodes):
                ep = batch[i % len(batch)]
                ep.header["episode_id"] = rep * 10_000_000 + i
                sender.send(ep, stop)
            assert sender.flush(stop, 300)
            rates.append(episodes / (time.perf_counter() - start))
            sender.close()
            store.r.delete(store.episodes_key)
        eps = statistics.median(rates)
        return {"env": env_name, "bytes/episode": size, "episodes/s": eps, "MB/s": eps * size / 1e6}
    finally:
        replay.terminate()
        replay.wait(10)
        store.r.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", nargs="+", default=["gaussian-squeeze-200", "gaussian-squeeze-800"])
    p.add_argument("--episodes", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--persistence",
        nargs="+",
        default=["always"],
        choices=["off", "everysec", "always"],
        help="Redis append-only file: off, or on with this fsync policy (vast train: always)",
    )
    args = p.parse_args()
    rows = []
    for persistence in args.persistence:
        with tempfile.TemporaryDirectory() as tmp:
            server = EmbeddedRedis(
                Path(tmp),
                appendonly=persistence != "off",
                appendfsync=persistence if persistence != "off" else "no",
            ).start()
            try:
                for name in args.envs:
                    rows.append(
                        {"aof": persistence, **bench_env(name, args.episodes, args.repeats, server.url)}
                    )
            finally:
                server.stop()
    print(f"{'env':<24}{'AOF fsync':>10}{'bytes/episode':>15}{'episodes/s':>13}{'MB/s':>9}")
    for r in rows:
        print(
            f"{r['env']:<24}{r['aof']:>10}{r['bytes/episode']:>15,}{r['episodes/s']:>13,.0f}{r['MB/s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
