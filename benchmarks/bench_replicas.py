"""Scale-out of the data path: acknowledged episodes/s and MB/s with 1, 2 and 4 replay replicas sharing one
Redis, and with 2 replicas over two Redis shards, for small (GaussianSqueeze-50) and large (Battle-800)
episodes, next to the raw Redis ceiling on the same machine.

Run: nice -n 5 .venv/bin/python benchmarks/bench_replicas.py [--envs ...] [--seconds 4] [--repeats 3]

Every replay replica is a real `vast replay` process; the senders are real processes (`--senders`, each
one `EpisodeSender`, i.e. one actor's socket, connected to every replica of the layout); Redis is the
embedded redis-server with the append-only file fsynced as `vast train` does (`--aof always`). The layouts
are measured in turns, round after round, and the table shows medians over the rounds. A thread empties
the streams (XTRIM) so that memory stays flat; no learner runs. The Redis ceilings are one client
appending the same payloads, with plain XADDs from a pipeline and with the store's own batched script
(de-duplication and ledger included): what one Redis can take whatever the number of replicas. The last
row per environment is what one actor process plays (one core, `--actor-copies` environment copies):
the sizing inputs of docs/deploy.md, section 7.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ((1, 1), (2, 1), (4, 1), (2, 2))  # (replay replicas, Redis shards)


# -- the sender process ---------------------------------------------------------------------------------
def send_for(path: str, addrs: str, seconds: float, actor: int, run: str) -> None:
    """One actor's socket: send the episodes of `path` (fresh ids) for `seconds`, then wait for the last
    acks; prints acknowledged episodes and the seconds they took."""
    from vast.actors.sender import EpisodeSender
    from vast.common.lifecycle import StopFlag

    episodes = pickle.loads(Path(path).read_bytes())
    sender = EpisodeSender(addrs, 30.0, 64, logging.getLogger("bench"))
    stop = StopFlag()
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        ep = episodes[i % len(episodes)]
        ep.header.update(run=run, actor_id=actor, episode_id=i)
        sender.send(ep, stop)
        sender.poll(0)
        i += 1
    ok = sender.flush(stop, 120)
    elapsed = time.perf_counter() - start
    sender.close()
    print(json.dumps({"acked": sender.acked, "seconds": elapsed, "complete": ok}))


# -- the measurement ------------------------------------------------------------------------------------
def make_episodes(env_name: str, n: int) -> list:
    import torch

    from vast.common.config import AlgoConfig
    from vast.common.networks import make_policy
    from vast.common.rollout import EpisodePlayer
    from vast.envs.registry import make_spec

    spec = make_spec(env_name)
    torch.manual_seed(0)
    player = EpisodePlayer(spec, make_policy(spec, AlgoConfig()), "bench", actor_id=0)
    return player.play(n, 0, list(range(n)), version=0)[0]


def actor_rate(env_name: str, copies: int, repeats: int) -> float:
    """Episodes per CPU-second one actor process plays (one torch thread, `copies` environment copies,
    the initial policy): its rate on a core of its own, which wall time on a shared machine hides. Median
    over repeats after a warm-up round (numba compiles the environment in the first)."""
    import torch

    from vast.common.config import AlgoConfig
    from vast.common.networks import make_policy
    from vast.common.rollout import EpisodePlayer
    from vast.envs.registry import make_spec

    torch.set_num_threads(1)
    spec = make_spec(env_name)
    player = EpisodePlayer(spec, make_policy(spec, AlgoConfig()), "bench", actor_id=0)
    times = []
    for rep in range(repeats + 1):
        start = time.process_time()
        player.play(copies, rep, list(range(copies)), version=0)
        times.append(time.process_time() - start)
    return copies / statistics.median(times[1:])


def redis_ceilings(url: str, blob: bytes, seconds: float) -> tuple[float, float]:
    """Episodes/s one client gets into Redis (a) with plain XADDs from a pipeline and (b) with the store's
    own batched script (`RunStore.record`: de-duplication, ledger; batches as replay forms them)."""
    from vast.common.store import RunStore, connect

    client = connect(url.rsplit("/", 1)[0] + "/1", timeout_s=60)  # database 1: emptied after each run
    store = RunStore(client, "bench-ceiling")
    group = max(1, min(256, (16 << 20) // len(blob)))  # replay's batch: 256 messages or 16 MB
    rates = []
    for use_script in (False, True):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            if use_script:
                store.record([(f"0:{n + i}", 0, blob) for i in range(group)], [], 600, 10**9)
            else:
                pipe = client.pipeline(transaction=False)
                for i in range(group):
                    pipe.xadd(store.episodes_key, {"k": f"0:{n + i}", "v": 0, "d": blob})
                pipe.execute()
            n += group
            if n * len(blob) % (64 << 20) < group * len(blob):  # about every 64 MB: keep memory flat
                client.xtrim(store.episodes_key, maxlen=0)
        rates.append(n / (time.perf_counter() - start))
        client.flushdb()
    client.close()
    return rates[0], rates[1]


class Layout:
    """R running `vast replay` processes storing run `run` over `shards` Redis servers."""

    def __init__(self, env_name: str, replicas: int, urls: list[str], run: str):
        from bench_transport import wait_until  # this folder is on the path of a script run

        from vast.common.ports import free_port
        from vast.common.store import RunStore, connect

        self.run = run
        self.addrs = [f"tcp://127.0.0.1:{free_port()}" for _ in range(replicas)]
        self.stores = [RunStore(connect(u), run) for u in urls]
        common = ["--env", env_name, "--run-name", run, "--redis-url", urls[0]]
        common += ["--replay.max_backlog", str(10**9)]  # no back-pressure: the streams are trimmed
        if len(urls) > 1:
            common += ["--redis-shards", ",".join(urls[1:])]
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "vast", "replay", *common, "--replay.id", str(i), "--replay.bind", a],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, a in enumerate(self.addrs)
        ]
        want = {f"replay:{i}" for i in range(replicas)}
        wait_until(lambda: want <= set(self.stores[0].endpoints()), 120, f"{replicas} replicas of {run}")

    def trim(self) -> None:
        for store in self.stores:
            store.r.xtrim(store.episodes_key, maxlen=0)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)
        for store in self.stores:
            store.r.delete(store.episodes_key)
            store.r.close()


def measure(layout: Layout, path: str, senders: int, seconds: float, first_actor: int) -> float:
    """Acknowledged episodes/s of `senders` sender processes sending at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", path, ",".join(layout.addrs), str(seconds)]
            + [str(first_actor + i), layout.run],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for i in range(senders)
    ]
    stop = threading.Event()

    def trim() -> None:  # keeps Redis memory flat: no learner consumes in this benchmark
        while not stop.wait(0.2):
            layout.trim()

    trimmer = threading.Thread(target=trim, daemon=True)
    trimmer.start()
    try:
        results = [json.loads(p.communicate(timeout=seconds + 300)[0]) for p in procs]
    finally:
        stop.set()
        trimmer.join()
    if not all(r["complete"] for r in results):
        raise RuntimeError(f"unacknowledged episodes left: {results}")
    return sum(r["acked"] / r["seconds"] for r in results)


def bench_env(env_name: str, args, urls: list[str], tmp: Path) -> list[dict]:
    from vast.common.codec import encode_episode

    episodes = make_episodes(env_name, 4)
    size = len(encode_episode(episodes[0]))
    path = tmp / f"{env_name}.pickle"
    path.write_bytes(pickle.dumps(episodes))
    layouts = {
        (r, s): Layout(env_name, r, urls[:s], f"bench-{env_name}-{r}x{s}")
        for r, s in LAYOUTS
        if s <= len(urls)
    }
    rates: dict = {key: [] for key in layouts}
    ceilings = []
    try:
        for rep in range(args.repeats):  # side by side: every layout once per round
            ceilings.append(redis_ceilings(urls[0], encode_episode(episodes[0]), args.seconds))
            for n, (key, layout) in enumerate(layouts.items()):
                rates[key].append(
                    measure(layout, str(path), args.senders, args.seconds, 1000 * rep + 100 * n)
                )
    finally:
        for layout in layouts.values():
            layout.close()
    rows = [
        {"env": env_name, "layout": name, "bytes": size, "eps": statistics.median(c[i] for c in ceilings)}
        for i, name in enumerate(("Redis: XADD pipeline", "Redis: record script"))
    ]
    copies = args.actor_copies
    rows.append({"env": env_name, "layout": f"1 actor/core, {copies} copies", "bytes": size, "eps": 0.0})
    rows[-1]["eps"] = actor_rate(env_name, copies, args.repeats)
    for (r, s), got in rates.items():
        layout = f"{r} replica{'s' if r > 1 else ''}, {s} Redis"
        rows.append({"env": env_name, "layout": layout, "bytes": size, "eps": statistics.median(got)})
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, path, addrs, seconds, actor, run = sys.argv
        send_for(path, addrs, float(seconds), int(actor), run)
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=["gaussian-squeeze-50", "battle-800"])
    p.add_argument("--senders", type=int, default=4, help="sender processes (one actor socket each)")
    p.add_argument("--seconds", type=float, default=4.0, help="sending time of one measurement")
    p.add_argument("--repeats", type=int, default=3, help="rounds over every layout (medians)")
    p.add_argument("--aof", default="always", choices=["off", "everysec", "always"])
    p.add_argument("--actor-copies", type=int, default=2, help="environment copies of the actor row")
    args = p.parse_args()

    from vast.common.embedded_redis import EmbeddedRedis

    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        servers = [
            EmbeddedRedis(
                Path(tmp) / f"redis-{i}",
                appendonly=args.aof != "off",
                appendfsync=args.aof if args.aof != "off" else "no",
            ).start()
            for i in range(2)
        ]
        try:
            for env_name in args.envs:
                rows += bench_env(env_name, args, [s.url for s in servers], Path(tmp))
        finally:
            for server in servers:
                server.stop()
    print(
        f"{os.cpu_count()} cores, load average {load:.1f} at start; {args.senders} sender processes; "
        f"AOF {args.aof}; medians of {args.repeats} rounds of {args.seconds:.0f} s"
    )
    print(f"{'env':<22}{'layout':<22}{'bytes/episode':>15}{'episodes/s':>12}{'MB/s':>9}{'vs 1 replica':>14}")
    for env_name in args.envs:
        env_rows = [r for r in rows if r["env"] == env_name]
        base = next(r["eps"] for r in env_rows if r["layout"].startswith("1 replica"))
        for r in env_rows:
            print(
                f"{r['env']:<22}{r['layout']:<22}{r['bytes']:>15,}{r['eps']:>12,.0f}"
                f"{r['eps'] * r['bytes'] / 1e6:>9.1f}"
                + (f"{r['eps'] / base:>13.2f}x" if "replica" in r["layout"] else "")
            )


if __name__ == "__main__":
    main()
