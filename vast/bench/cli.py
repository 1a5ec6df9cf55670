"""`vast bench`: environment stepping, codec, transport, learner update and end-to-end training,
measured side by side in one run, per domain and size, printed as one table with the machine's facts.

    vast bench                          # everything, paper sizes and large ones (tens of minutes)
    vast bench --quick                  # a small subset in about a minute (CI runs it)
    vast bench --sizes large --sections learner,train
    vast bench --envs battle-80,battle-800 --sections train --train-seconds 300
    vast bench --json results.json      # or --json - for stdout; --save DIR writes DATE-HOST.{json,md}

Paper sizes are Warehouse-16, Battle-80 and GaussianSqueeze-800; large ones Warehouse-256, Battle-800
and GaussianSqueeze-12800. The targets of docs/performance.md are checked from the same run's rows.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

SIZES = {
    "paper": ["warehouse-16", "battle-80", "gaussian-squeeze-800"],
    "large": ["warehouse-256", "battle-800", "gaussian-squeeze-12800"],
}
SECTIONS = ("envs", "codec", "transport", "learner", "train")
LEARNER_METHODS = [
    "IL",
    "QMIX",
    "QTRAN",
    "VAST-QTRAN-Fixed η=¼",
    "VAST-QTRAN-MetaGrad η=¼",
    "VAST-QTRAN-Spatial η=¼",
]
TRAIN_METHODS = ["VAST-QTRAN-MetaGrad η=¼", "QTRAN"]
QUICK = {
    "envs": ["warehouse-16", "battle-80", "gaussian-squeeze-800"],
    "codec": ["battle-80", "gaussian-squeeze-800"],
    "transport": ["gaussian-squeeze-800"],
    "learner": ["warehouse-16", "gaussian-squeeze-800"],
    "train": ["gaussian-squeeze-800"],
}


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vast bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a small subset of every section, about a minute")
    p.add_argument("--sizes", default="paper,large", help="paper, large or both (default: both)")
    p.add_argument("--envs", help="comma-separated environments instead of --sizes")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    p.add_argument("--methods", default=",".join(LEARNER_METHODS), help="learner section's methods")
    p.add_argument("--train-methods", default=",".join(TRAIN_METHODS), help="train section's methods")
    p.add_argument(
        "--topologies",
        help="train section: processes and/or serial (default: both at paper sizes, processes at large ones)",
    )
    p.add_argument("--train-updates", type=int, default=0, help="updates per training run (0: by size)")
    p.add_argument(
        "--train-seconds",
        type=float,
        default=180.0,
        help="measure each training run this long after its first update",
    )
    p.add_argument(
        "--actors", type=int, default=0, help="actor processes of the training runs (0: auto, as `actors 0`)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="learner torch threads (learner and train sections)"
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    p.add_argument("--md", metavar="PATH", help="also write the table as Markdown")
    p.add_argument("--save", metavar="DIR", help="write DIR/<date>-<host>.json and .md")
    return p


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.quick = args.quick
        self.rows: list = []
        known = {"paper", "large"}
        sizes = _list(args.sizes)
        if not set(sizes) <= known:
            raise SystemExit(f"vast bench: --sizes takes paper and/or large, got {args.sizes!r}")
        self.envs = _list(args.envs) if args.envs else [e for s in sizes for e in SIZES[s]]
        self.sections = _list(args.sections)
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise SystemExit(f"vast bench: unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")

    def envs_for(self, section: str) -> list[str]:
        if self.quick and not self.args.envs:
            return QUICK[section]
        return self.envs

    def add(self, rows: list) -> None:
        from vast.bench.report import table

        self.rows += rows
        for line in table(rows)[1:]:
            print("  " + line, flush=True)

    # -- sections ---------------------------------------------------------------------------------
    def envs_section(self) -> None:
        from vast.bench.envs import env_rates
        from vast.bench.report import env_rows

        seconds, repeats, batch = (0.2, 1, 32) if self.quick else (1.0, 3, 64)
        for env in self.envs_for("envs"):
            self.add(env_rows(env, env_rates(env, batch, seconds, repeats), batch))

    def codec_section(self) -> None:
        from vast.bench.codec import codec_rates
        from vast.bench.report import codec_rows

        for env in self.envs_for("codec"):
            self.add(codec_rows(env, codec_rates(env, 0.2 if self.quick else 1.0, 4 if self.quick else 8)))

    def transport_section(self) -> None:
        from vast.bench.codec import make_episodes
        from vast.bench.report import transport_rows
        from vast.bench.transport import bench_env
        from vast.common.codec import encode_episode
        from vast.common.embedded_redis import EmbeddedRedis

        with tempfile.TemporaryDirectory(prefix="vast-bench-redis-") as tmp:
            server = EmbeddedRedis(Path(tmp)).start()
            try:
                for env in self.envs_for("transport"):
                    size = len(encode_episode(make_episodes(env, 1)[0]))
                    # about 100 MB per pass (20 MB quick), between 50 and 2,000 episodes
                    episodes = min(2000, max(50, int((20e6 if self.quick else 100e6) / size)))
                    self.add(
                        transport_rows(env, bench_env(env, episodes, 1 if self.quick else 3, server.url))
                    )
            finally:
                server.stop()

    def learner_section(self) -> None:
        from vast.bench.learner import measure, measure_in_subprocess
        from vast.bench.report import learner_rows

        methods = ["QTRAN", "VAST-QTRAN-MetaGrad η=¼"] if self.quick else _list(self.args.methods)
        for env in self.envs_for("learner"):
            for method in methods:
                if self.quick:  # in this process: no interpreter start-up per measurement
                    import torch

                    torch.set_num_threads(self.args.threads)
                    result = measure(env, method, repeats=1)
                else:
                    repeats = 3 if env in SIZES["paper"] else 2
                    result = measure_in_subprocess(env, method, repeats, self.args.threads)
                self.add(learner_rows(result))

    def train_section(self) -> None:
        from vast.bench.report import train_rows
        from vast.bench.train import run_training

        methods = ["VAST-QTRAN-MetaGrad η=¼"] if self.quick else _list(self.args.train_methods)
        for env in self.envs_for("train"):
            if self.args.topologies:
                topologies = _list(self.args.topologies)
            elif self.quick or env not in SIZES["paper"]:
                topologies = ["processes"]  # serial at large N times the same learner once more
            else:
                topologies = ["processes", "serial"]
            for method in methods:
                for topology in topologies:
                    updates = self.args.train_updates or self._updates(env)
                    result = run_training(
                        env,
                        method,
                        topology,
                        updates,
                        self.args.train_seconds,
                        self.args.actors,
                        self.args.threads,
                    )
                    self.add(train_rows(result))

    def _updates(self, env: str) -> int:
        if self.quick:
            return 12
        if env.startswith("gaussian-squeeze") and env in SIZES["paper"]:
            return 200
        return 40 if env in SIZES["paper"] else 8

    def run(self) -> None:
        for section in SECTIONS:
            if section in self.sections:
                print(f"[{section}]", flush=True)
                getattr(self, f"{section}_section")()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba loads: environments step on one core
    import torch

    from vast.bench import machine, report

    torch.set_num_threads(1)  # every measurement on one core unless it says otherwise (--threads)
    facts = machine.facts()
    for line in machine.describe(facts):
        print(line, flush=True)
    bench = Bench(args)
    start = time.perf_counter()
    bench.run()
    seconds = time.perf_counter() - start
    facts["load_average_end"] = machine.load_average()
    rows = bench.rows + report.target_rows(bench.rows)
    command = "vast bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    print()
    for line in machine.describe(facts):
        print(line)
    print(f"load average at the end: {facts['load_average_end']}; {seconds:.0f} s")
    print("\n".join(report.table(rows)))
    if args.json:
        text = report.as_json(facts, rows, command, seconds)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    outputs = []
    if args.save:
        stem = Path(args.save) / f"{facts['date_utc'][:10]}-{facts['host']}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(report.as_json(facts, rows, command, seconds) + "\n")
        outputs.append(stem.with_suffix(".md"))
    if args.md:
        outputs.append(Path(args.md))
    for path in outputs:
        path.write_text(report.markdown(facts, rows, command, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
