"""Transport throughput: actor -> ZeroMQ -> replay (separate process) -> Redis, acknowledged.

Run: .venv/bin/python benchmarks/bench_transport.py [--persistence off everysec always]
Prints, per env and Redis persistence setting: bytes per episode, acknowledged episodes/s and MB/s
(median of repeats). `vast train`'s embedded Redis uses an append-only file fsynced before every reply
(`always`): an acknowledged episode survives even a machine crash.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from vast.bench.transport import bench_env
from vast.common.embedded_redis import EmbeddedRedis


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
