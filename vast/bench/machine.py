"""The facts of the machine a benchmark ran on: what a number means depends on them."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def redis_server_version() -> str:
    from vast.common.embedded_redis import redis_server_binary

    try:
        out = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"
    words = out.stdout.split()
    version = next((w.split("=", 1)[1] for w in words if w.startswith("v=")), out.stdout.strip())
    return version


def gpus() -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return []
    found = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        found.append({"name": props.name, "memory_GiB": round(props.total_memory / 2**30, 1)})
    return found


def facts() -> dict:
    """Cores, CPU, memory, GPUs, load and the versions of everything on the measured paths."""
    import numpy
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "cores": cores,
        "cpu": cpu_model(),
        "memory_GiB": None if memory_gib() is None else round(memory_gib(), 1),
        "gpus": gpus(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "redis_server": redis_server_version(),
        "platform": platform.platform(),
    }


def describe(f: dict) -> list[str]:
    gpu = ", ".join(f"{g['name']} ({g['memory_GiB']} GiB)" for g in f["gpus"]) or "no GPU"
    load = f["load_average"]
    return [
        f"machine: {f['cores']} cores ({f['cpu']}), {f['memory_GiB']} GiB, {gpu}",
        f"versions: python {f['python']}, torch {f['torch']}, numpy {f['numpy']}, "
        f"redis-server {f['redis_server']}",
        f"load average (1/5/15 min) at start: {load}" if load else "load average: n/a",
    ]
