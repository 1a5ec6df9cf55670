"""Transport throughput: actor -> ZeroMQ -> replay (separate process) -> Redis, acknowledged.

Run: .venv/bin/python benchmarks/bench_transport.py
Prints, per env: bytes per episode, acknowledged episodes/s and MB/s (median of repeats).
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
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp)).start()
        try:
            rows = [bench_env(name, args.episodes, args.repeats, server.url) for name in args.envs]
        finally:
            server.stop()
    print(f"{'env':<24}{'bytes/episode':>15}{'episodes/s':>13}{'MB/s':>9}")
    for r in rows:
        print(f"{r['env']:<24}{r['bytes/episode']:>15,}{r['episodes/s']:>13,.0f}{r['MB/s']:>9.1f}")


if __name__ == "__main__":
    main()
