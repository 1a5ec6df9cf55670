"""The real docker-compose.yml on a real Docker engine, with the CI override (deploy/compose/ci.yml:
Redis and Prometheus from locally built images, no Grafana). Checked through Prometheus' HTTP API:
every actor up, the policy version advancing, actors scaled up and down live, a killed container
restarted, and `down` + `up` resuming the run from its version. The project and its volumes are removed
at the end; nothing else on the engine is touched.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.helpers import wait_until
from tests.integration.deploy.conftest import DEPLOY, DOCKER, DOCKER_ENV, ROOT, compose_binary, run

RUN = "ci"


class Stack:
    def __init__(self, env: dict, project: str):
        self.project = project
        self.env = {
            **env,
            "REDIS_PASSWORD": secrets.token_hex(12),
            "RUN_NAME": RUN,
            "TRAIN_ENV": "gaussian-squeeze-50",
        }
        self.base = [compose_binary(), "-p", project, "-f", ROOT / "docker-compose.yml", "-f"]
        self.base.append(DEPLOY / "compose" / "ci.yml")
        self.prometheus = ""

    def compose(self, *args, timeout_s: float = 300) -> str:
        return run([*self.base, *args], f"docker compose {' '.join(args)}", timeout_s, self.env)

    def up(self, actors: int) -> None:
        self.compose("up", "-d", "--wait", "--no-build", "--scale", f"actor={actors}")
        port = self.compose("port", "prometheus", "9090").strip()
        self.prometheus = f"http://{port}"

    def query(self, expr: str) -> list[dict]:
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.load(resp)["data"]["result"]
        except OSError:
            return []  # Prometheus (re)starting

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def actors_up(self) -> int:
        return int(self.value('count(up{job="vast-actor"} == 1)') or 0)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def inspect(self, container: str, template: str) -> str:
        return run([DOCKER, "inspect", "-f", template, container], "docker inspect", 30, self.env).strip()


@pytest.fixture
def stack(images):
    s = Stack(images, f"vastci{os.getpid()}")
    try:
        yield s
    finally:  # everything of this project, volumes included; nothing else
        down = [*map(str, s.base), "down", "-v", "--timeout", "20"]
        done = subprocess.run(down, env=s.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:  # once more: a stack left running would slow every test after it
            done = subprocess.run(down, env=s.env, capture_output=True, text=True, timeout=300)
        label = f"label=com.docker.compose.project={s.project}"
        left = subprocess.run(
            [DOCKER, "ps", "-aq", "--filter", label],
            env=DOCKER_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
        assert done.returncode == 0 and not left, (
            f"docker compose down left {len(left)} containers of {s.project}: {done.stderr[-2000:]}"
        )


@pytest.mark.timeout(1800)
def test_compose_trains_scales_heals_and_resumes(stack, tmp_path):
    times = {}
    t0 = time.monotonic()
    stack.up(actors=3)
    times["up with 3 actors"] = time.monotonic() - t0
    wait_until(lambda: stack.actors_up() == 3, 60, "Prometheus to see 3 actors up")
    for job in ("vast-replay", "vast-learner"):
        wait_until(lambda job=job: stack.value(f'up{{job="{job}"}}') == 1, 60, f"{job} up")
    # every vast container passed its health check (`vast health`: serving and progressing)
    for service in ("replay", "learner", "actor"):
        for container in stack.containers(service):
            assert stack.inspect(container, "{{.State.Health.Status}}") == "healthy", service
    # each replica claimed its own actor id from Redis: distinct seeds, not 3 copies of one actor
    claimed = stack.compose("exec", "-T", "redis", "redis-cli", "get", f"vast:{RUN}:actor_ids")
    assert int(claimed) == 3

    first = wait_until(lambda: stack.value("vast_learner_policy_version"), 60, "a published version")
    wait_until(
        lambda: (stack.value("vast_learner_policy_version") or 0) >= first + 20, 120, "the version to advance"
    )
    wait_until(lambda: (stack.value("sum(vast:actor_episodes:rate1m)") or 0) > 0, 60, "episode throughput")

    t = time.monotonic()
    stack.up(actors=5)
    wait_until(lambda: stack.actors_up() == 5, 90, "Prometheus to see 5 actors")
    times["scale 3 -> 5"] = time.monotonic() - t
    t = time.monotonic()
    stack.up(actors=2)
    wait_until(lambda: stack.actors_up() == 2, 90, "Prometheus to see 2 actors")
    times["scale 5 -> 2"] = time.monotonic() - t

    # a crash: kill an actor's process from outside; the restart policy brings it back
    victim = stack.containers("actor")[0]
    newest = 'max(process_start_time_seconds{job="vast-actor"})'
    newest_before = wait_until(lambda: stack.value(newest), 30, "actor start times")
    os.kill(int(stack.inspect(victim, "{{.State.Pid}}")), signal.SIGKILL)
    t = time.monotonic()
    wait_until(lambda: int(stack.inspect(victim, "{{.RestartCount}}")) >= 1, 60, "a restart")
    wait_until(lambda: stack.inspect(victim, "{{.State.Status}}") == "running", 60, "running again")
    # Prometheus scrapes the new process (started after the kill) and counts 2 actors up again
    wait_until(lambda: (stack.value(newest) or 0) > newest_before, 90, "Prometheus to scrape the new process")
    wait_until(lambda: stack.actors_up() == 2, 60, "both actors up after the restart")
    times["kill -> restarted and scraped"] = time.monotonic() - t

    picture = tmp_path / "compose-live-metrics.png"
    minutes = (time.monotonic() - t0) / 60 + 0.5
    out = run(
        [sys.executable, DEPLOY / "grafana" / "render.py", "--prometheus", stack.prometheus,
         "--out", picture, "--minutes", f"{minutes:.1f}",
         "--title", "vast on docker compose (CI override): live metrics from Prometheus"],
        "rendering the live metrics", 120,
    )  # fmt: skip
    assert picture.stat().st_size > 50_000 and "panels with data" in out
    if os.environ.get("COMPOSE_TEST_PICTURE"):  # how docs/img/compose-live-metrics.png is made
        shutil.copy(picture, os.environ["COMPOSE_TEST_PICTURE"])

    # down keeps the volumes; up again resumes the run from the learner's final checkpoint
    t = time.monotonic()
    stack.compose("down", "--timeout", "60")
    times["down"] = time.monotonic() - t
    t, up_again_at = time.monotonic(), time.time()
    stack.up(actors=2)
    times["up again"] = time.monotonic() - t
    summary = json.loads(stack.compose("exec", "-T", "learner", "cat", f"/runs/{RUN}/summary.json"))
    stopped_at = summary["version"]
    assert stopped_at >= first + 20 and "SIGTERM" in summary["stopped_by"]
    log = wait_until(
        lambda: (text := stack.compose("logs", "learner")) and "resumed from" in text and text,
        60,
        "the learner to resume",
    )
    assert f"resumed from /runs/{RUN}/checkpoints/update-{stopped_at:08d}.pt at version {stopped_at}" in log
    # Prometheus (its data kept too) sees the new learner continue from there, never from 0
    restarted = (
        "(vast_learner_policy_version and on (instance) "
        f'process_start_time_seconds{{job="vast-learner"}} > {up_again_at - 5})'
    )
    # its first published version (0 is the gauge before the checkpoint is loaded) is where it stopped
    first_seen = wait_until(
        lambda: (v := stack.value(restarted)) and v > 0 and v, 90, "the new learner to publish a version"
    )
    assert first_seen >= stopped_at
    wait_until(lambda: (stack.value(restarted) or 0) > stopped_at + 5, 120, "training to continue")
    times["total"] = time.monotonic() - t0
    print("compose test timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
