"""One table for every section of a `vast bench` run, the targets checked from it, JSON and Markdown.

Every measurement becomes rows of (section, env, item, value, unit, details); the targets of the
large-N issue are computed from those rows, side by side in the same run, and appended as rows too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from vast.bench.learner import linear_by_design
from vast.bench.machine import describe

LINEAR_SLACK = 1.2  # update cost per agent-step may grow at most this much from paper to large N
BATTLE_E2E_SLACK = 1.5  # Battle-800 end to end within this factor of Battle-80 per agent-step
MEMORY_GROWTH = 0.10  # a role's memory in the last third of a run at most 10% above the first third
MARKER_BYTES = 200  # Redis memory allowed per de-duplication marker (149 B used, 180 B RSS measured)


def _memory_within(role: str, memory: dict, markers_mb: float) -> bool:
    """A role's memory kept its bound: grew at most MEMORY_GROWTH, or (Redis) by at most its markers."""
    if memory["growth"] <= MEMORY_GROWTH:
        return True
    return role == "redis" and memory.get("grown_MB", float("inf")) <= markers_mb


@dataclass
class Row:
    section: str
    env: str
    item: str
    value: float
    unit: str
    details: str = ""
    data: dict = field(default_factory=dict)  # the raw measurement (JSON only)


def _num(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"


def env_rows(env: str, r: dict, batch: int) -> list[Row]:
    return [
        Row("envs", env, f"step+observe, {batch} copies", r["agent_steps_per_s"], "agent-steps/s", data=r),
        Row("envs", env, f"+ wire_step, {batch} copies", r["with_wire_per_s"], "agent-steps/s"),
    ]


def codec_rows(env: str, r: dict) -> list[Row]:
    size = f"{r['bytes_per_episode']:,.0f} B/episode, {r['steps_per_episode']:.0f} steps"
    return [
        Row(
            "codec",
            env,
            "encode",
            r["encode_MB_per_s"],
            "MB/s",
            f"{r['encode_episodes_per_s']:,.0f} episodes/s; {size}",
            r,
        ),
        Row(
            "codec",
            env,
            "decode + validate",
            r["decode_MB_per_s"],
            "MB/s",
            f"{r['decode_episodes_per_s']:,.0f} episodes/s",
        ),
    ]


def transport_rows(env: str, r: dict) -> list[Row]:
    details = f"{r['MB/s']:.1f} MB/s, {r['bytes/episode']:,} B/episode"
    return [
        Row("transport", env, "actor -> replay -> Redis, acked", r["episodes/s"], "episodes/s", details, r)
    ]


def learner_rows(r: dict) -> list[Row]:
    details = (
        f"K={r['K']}, {r['rows']} rows, {r['us_per_agent_step']:.2f} us/agent-step, fwd+bwd {_num(r['fwd_bwd_s'])} s, "
        f"peak {r['peak_rss_GB']:.2f} GB, {r['threads']} thread(s)"
    )
    return [Row("learner", r["env"], f"{r['method']} update", r["update_s"], "s", details, r)]


def train_rows(r: dict) -> list[Row]:
    cpu = ", ".join(f"{role} {s:.3f}" for role, s in r["cpu_s_per_update"].items())
    peak = ", ".join(f"{role} {m['peak_GB']:.2f}" for role, m in r["memory"].items())
    where = f"{r['actors']} actor processes" if r["topology"] == "processes" else "serial"
    m = r["median_s"]
    details = (
        f"incl. eval {_num(r['with_eval_per_s'])}/s; {r['seconds_per_update']:.3f} s/update; "
        f"learner busy {100 * r['learner_busy']:.0f}% (update {m['update']:.3f} s, wait {m['wait']:.3f}, "
        f"eval {m['eval']:.3f}); CPU s/update: {cpu}; peak GB: {peak}"
    )
    item = f"{r['method']}, {where}" + (f", {r['threads']} threads" if r["threads"] != 1 else "")
    return [Row("train", r["env"], item, r["agent_steps_per_s"], "agent-steps/s", details, r)]


def family(env: str) -> str:
    return env.rsplit("-", 1)[0]


def target_rows(rows: list[Row]) -> list[Row]:
    """The issue's targets, from this run's own measurements."""
    out = []
    learner = [r.data for r in rows if r.section == "learner"]
    for fam in sorted({family(r["env"]) for r in learner}):
        for method in sorted({r["method"] for r in learner if family(r["env"]) == fam}):
            sizes = sorted(
                (r for r in learner if family(r["env"]) == fam and r["method"] == method),
                key=lambda r: r["N"],
            )
            if len(sizes) < 2:
                continue
            small, large = sizes[0], sizes[-1]
            growth = large["us_per_agent_step"] / small["us_per_agent_step"]
            env = f"{small['env']} -> {large['N']}"
            if linear_by_design(method):
                verdict = "ok" if growth <= LINEAR_SLACK else "MISS"
                details = f"{verdict}: linear by design, target <= {LINEAR_SLACK}x per agent-step"
            else:
                k_ratio = large["K"] / small["K"]
                details = f"not linear by design (K grows {k_ratio:.0f}x with N: O(eta N^2) per step)"
            out.append(Row("target", env, f"{method}: update cost per agent-step", growth, "x", details))
    train = [r.data for r in rows if r.section == "train"]
    for method in sorted({r["method"] for r in train}):
        for topology in sorted({r["topology"] for r in train}):
            runs = {
                r["N"]: r
                for r in train
                if r["method"] == method and r["topology"] == topology and family(r["env"]) == "battle"
            }
            if 80 in runs and 800 in runs:
                ratio = runs[80]["agent_steps_per_s"] / runs[800]["agent_steps_per_s"]
                verdict = "ok" if ratio <= BATTLE_E2E_SLACK else "MISS"
                out.append(
                    Row(
                        "target",
                        "battle-80 vs battle-800",
                        f"{method}, {topology}: agent-steps/s ratio",
                        ratio,
                        "x",
                        f"{verdict}: target <= {BATTLE_E2E_SLACK}x",
                    )
                )
    for r in train:
        # Redis keeps one de-duplication marker per accepted episode for `replay.dedupe_ttl_s` (24 h): growth
        # by up to that many markers is bounded by configuration (rate x TTL), not by the run's length
        markers_mb = r["updates"] * r.get("episodes_per_update", 0) * MARKER_BYTES / 2**20

        memory = r["memory"]
        over = {role: m for role, m in memory.items() if not _memory_within(role, m, markers_mb)}
        worst_role = max(over or memory, key=lambda role: memory[role]["growth"])
        worst = memory[worst_role]["growth"]
        verdict = "MISS" if over else "ok"
        note = ""
        if worst_role == "redis" and not over and worst > MEMORY_GROWTH:
            note = f", +{memory['redis']['grown_MB']:.1f} MB: de-duplication markers (<= {markers_mb:.1f} MB)"
        out.append(
            Row(
                "target",
                r["env"],
                f"{r['method']}, {r['topology']}: memory growth over the run",
                100 * worst,
                "%",
                f"{verdict}: largest is {worst_role}'s{note} (last third vs first third of {r['updates']} "
                f"updates, target <= {100 * MEMORY_GROWTH:.0f}%)",
            )
        )
    return out


def table(rows: list[Row]) -> list[str]:
    head = ("section", "env", "what", "value", "unit", "details")
    body = [(r.section, r.env, r.item, _num(r.value), r.unit, r.details) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(5)]
    lines = []
    for cells in [head, *body]:
        left = "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        lines.append(f"{left}  {cells[5]}".rstrip())
    return lines


def markdown(machine: dict, rows: list[Row], command: str, seconds: float) -> str:
    lines = [f"# vast bench, {machine['date_utc']}", "", f"`{command}` ({seconds / 60:.1f} min)", ""]
    lines += [f"- {line}" for line in describe(machine)]
    if machine.get("load_average_end"):
        lines.append(f"- load average at the end: {machine['load_average_end']}")
    lines += ["", "| section | env | what | value | unit | details |", "|---|---|---|---:|---|---|"]
    lines += [
        f"| {r.section} | {r.env} | {r.item} | {_num(r.value)} | {r.unit} | {r.details} |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def as_json(machine: dict, rows: list[Row], command: str, seconds: float) -> str:
    return json.dumps(
        {"command": command, "seconds": seconds, "machine": machine, "rows": [asdict(r) for r in rows]},
        indent=1,
    )
