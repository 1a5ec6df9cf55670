"""docker-compose.yml and its overrides, as docker compose itself resolves them (no engine needed):
the vast settings they pass are a valid vast config, actors scale freely, the GPU override reserves a
GPU for the learner only, and the CI override swaps exactly the images a registry would provide."""

from __future__ import annotations

import json

import pytest

from tests.integration.deploy.conftest import DEPLOY, ROOT, compose_binary, run
from vast.common.config import resolve


def resolved(*overrides: str) -> dict:
    files = ["-f", ROOT / "docker-compose.yml"]
    for name in overrides:
        files += ["-f", DEPLOY / "compose" / name]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}  # .env supplies REDIS_PASSWORD
    out = run([compose_binary(), *files, "config", "--format", "json"], "docker compose config", 60, env)
    return json.loads(out)["services"]


def test_user_facing_file():
    services = resolved()
    assert set(services) == {"redis", "replay", "learner", "actor", "prometheus", "grafana"}
    assert services["redis"]["image"].startswith("redis:") and "--requirepass" in services["redis"]["command"]
    for role in ("replay", "learner", "actor"):
        cfg = resolve(None, environ=services[role]["environment"])  # an unknown key or bad value raises
        assert cfg.learner.mode == "async" and cfg.learner.resume == "auto"
        assert services[role]["read_only"] and services[role]["healthcheck"]["test"][1:3] == [
            "vast",
            "health",
        ]
    actor = services["actor"]
    assert "container_name" not in actor and "ports" not in actor  # --scale needs neither
    assert resolve(None, environ=actor["environment"]).actor.id == -1
    assert any(v["target"] == "/runs" for v in services["learner"]["volumes"])
    assert "deploy" not in services["learner"]  # CPU by default


@pytest.mark.parametrize("override", ["gpu.yml"])
def test_gpu_override_reserves_a_gpu_for_the_learner_only(override):
    services = resolved(override)
    (device,) = services["learner"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and services["learner"]["build"]["args"]["VARIANT"] == "cuda"
    assert resolve(None, environ=services["learner"]["environment"]).learner.device == "cuda"
    assert "deploy" not in services["actor"]


def test_ci_override_uses_local_images_and_no_grafana():
    services = resolved("ci.yml")
    assert "grafana" not in services
    assert services["redis"]["image"] == "vast-redis:local"
    assert services["prometheus"]["image"] == "vast-prometheus:local"
    assert {services[r]["image"] for r in ("replay", "learner", "actor")} == {"vast:cpu"}
    assert all(s.get("pull_policy") == "never" for s in services.values())
    assert [p["host_ip"] for p in services["prometheus"]["ports"]] == ["127.0.0.1"]
