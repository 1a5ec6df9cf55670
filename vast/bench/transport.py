"""Transport: actor -> ZeroMQ -> replay (a separate process) -> Redis, acknowledged.

`bench_env` starts `vast replay` against a given Redis, sends `episodes` episodes through the actors'
acknowledged sender and reports acknowledged episodes/s and MB/s (median of repeats). Used by
`vast bench` (section transport) and `benchmarks/bench_transport.py`.
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time

from vast.actors.sender import EpisodeSender
from vast.bench.codec import make_episodes
from vast.common.codec import encode_episode
from vast.common.lifecycle import StopFlag
from vast.common.ports import free_port
from vast.common.store import RunStore, connect


def wait_until(condition, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def bench_env(env_name: str, episodes: int, repeats: int, redis_url: str) -> dict:
    """Acknowledged episodes/s (median of `repeats` passes of `episodes` episodes) through a replay."""
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
