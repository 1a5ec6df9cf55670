"""The Kubernetes manifests, checked offline (no API server can run here): every overlay renders with
kustomize, every rendered object passes kubernetes-validate --strict for Kubernetes 1.37, and what the
manifests promise is really in the rendered objects: the vast config they carry is valid, probes run
`vast health`, containers are unprivileged and read-only, only actors reach replay."""

from __future__ import annotations

import os

import pytest
import yaml

from tests.integration.deploy.conftest import DEPLOY, run, tool
from vast.common.config import resolve

K8S = DEPLOY / "k8s"
OVERLAYS = ("cpu", "gpu", "large-n")
KUBERNETES_VERSION = "1.37.0"


def render(path) -> list[dict]:
    return list(yaml.safe_load_all(run([tool("kubectl"), "kustomize", path], f"kustomize {path}", 60)))


def validate(objects: list[dict], tmp_path) -> str:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(objects))
    cmd = [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, rendered]
    return run(cmd, "kubernetes-validate", 120)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def vast_environment(objects: list[dict], deployment: dict) -> dict[str, str]:
    """The VAST_* variables a vast container starts with: its ConfigMap, then its own env."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    maps = by_kind(objects, "ConfigMap")
    env = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return {k: v for k, v in env.items() if k.startswith("VAST_")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(overlay, tmp_path):
    objects = render(K8S / "overlays" / overlay)
    out = validate(objects, tmp_path)
    assert out.count("passed") == len(objects) > 10, out
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"vast-actor", "vast-replay", "vast-learner"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        cfg = resolve(None, environ=vast_environment(objects, deployment))  # a typo would raise here
        assert cfg.learner.mode == "async" and cfg.actor.id == -1 and cfg.learner.resume == "auto"
        assert "$(REDIS_PASSWORD)@vast-redis:6379" in str(container["env"])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"][:2] == ["vast", "health"], (name, probe)
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"]
        assert not container["securityContext"]["allowPrivilegeEscalation"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9100"
    learner = deployments["vast-learner"]["spec"]["template"]["spec"]
    assert {"name": "runs", "persistentVolumeClaim": {"claimName": "vast-runs"}} in learner["volumes"]
    redis = by_kind(objects, "StatefulSet")["vast-redis"]
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "--requirepass" in redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert by_kind(objects, "PodDisruptionBudget")["vast-actor"]["spec"]["maxUnavailable"] == "25%"


def test_only_actors_reach_replay_and_the_weights():
    policies = by_kind(render(K8S / "overlays" / "cpu"), "NetworkPolicy")
    assert policies["vast-default-deny"]["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "vast"}},
        "policyTypes": ["Ingress"],
    }
    actors = {"matchLabels": {"app.kubernetes.io/name": "vast", "app.kubernetes.io/component": "actor"}}
    for name, port in (("vast-replay-from-actors", 5555), ("vast-weights-to-actors", 5556)):
        (rule,) = policies[name]["spec"]["ingress"]
        assert rule == {"from": [{"podSelector": actors}], "ports": [{"port": port, "protocol": "TCP"}]}


def test_overlays_differ_where_they_should():
    gpu = by_kind(render(K8S / "overlays" / "gpu"), "Deployment")
    (learner,) = gpu["vast-learner"]["spec"]["template"]["spec"]["containers"]
    assert learner["resources"]["limits"]["nvidia.com/gpu"] == "1" and learner["image"] == "vast:cuda"
    (actor,) = gpu["vast-actor"]["spec"]["template"]["spec"]["containers"]
    assert actor["image"] == "vast:cpu" and "nvidia.com/gpu" not in actor["resources"]["limits"]
    large = render(K8S / "overlays" / "large-n")
    deployments = by_kind(large, "Deployment")
    assert deployments["vast-actor"]["spec"]["replicas"] == 8
    cfg = resolve(None, environ=vast_environment(large, deployments["vast-actor"]))
    assert cfg.env.name == "battle-800" and cfg.learner.device == "cuda"
    assert by_kind(render(K8S / "overlays" / "cpu"), "Deployment")["vast-actor"]["spec"]["replicas"] == 8


# The measured inputs of the large-n sizing (docs/deploy.md, section 7: the same numbers, with how each
# was measured) and the design rate of the learner.
EPISODE_MB = 1.3  # a Battle-800 episode at its full 100 steps
ACTOR_EPISODES_S = 11  # one actor on one core, 2 copies, full-length episodes
LEARNER_EPISODES_S = 40  # design rate: E = 10 episodes per update, 4 updates/s on the GPU
REPLICA_MB_S = 98  # one replay replica, acknowledged, AOF fsync every second
REDIS_MB_S = 130  # one Redis, the store's batched script, AOF fsync every second
MARKER_BYTES = 150  # one de-duplication marker (149 B of used_memory measured in Redis 6.2)


def _bytes(quantity: str) -> float:
    units = {"gb": 1e9, "mb": 1e6, "Gi": 2**30, "Mi": 2**20}
    number = quantity.rstrip("".join(units))
    return float(number) * units[quantity[len(number) :]]


def test_large_n_sizing_follows_from_the_measurements():
    objects = render(K8S / "overlays" / "large-n")
    deployments = by_kind(objects, "Deployment")
    cfg = resolve(None, environ=vast_environment(objects, deployments["vast-actor"]))
    assert cfg.env.name == "battle-800" and cfg.learner.mode == "async"
    actors = deployments["vast-actor"]["spec"]["replicas"]
    replicas = deployments["vast-replay"]["spec"]["replicas"]
    inflow_mb_s = LEARNER_EPISODES_S * EPISODE_MB
    # with a quarter of the actors down (the PodDisruptionBudget) they still outpace the learner by half
    assert 0.75 * actors * ACTOR_EPISODES_S >= 1.5 * LEARNER_EPISODES_S
    assert actors * ACTOR_EPISODES_S <= 4 * LEARNER_EPISODES_S  # and are not idle at the gate
    assert (replicas - 1) * REPLICA_MB_S >= inflow_mb_s  # one replica lost: the others take it all
    assert inflow_mb_s <= 0.5 * REDIS_MB_S  # one Redis, at most half busy: no shards needed
    redis = by_kind(objects, "StatefulSet")["vast-redis"]["spec"]
    (container,) = redis["template"]["spec"]["containers"]
    args = dict(zip(container["args"][1::2], container["args"][2::2]))
    assert args["--appendonly"] == "yes" and args["--appendfsync"] == "everysec"
    maxmemory = _bytes(args["--maxmemory"])
    backlog = cfg.replay.max_backlog * EPISODE_MB * 1e6
    markers = LEARNER_EPISODES_S * cfg.replay.dedupe_ttl_s * MARKER_BYTES
    assert maxmemory >= 2 * (backlog + markers)
    assert _bytes(container["resources"]["limits"]["memory"]) >= 2 * maxmemory  # a rewrite's fork
    volume = _bytes(redis["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])
    assert volume >= 2 * _bytes(args["--auto-aof-rewrite-min-size"]) + maxmemory
    (learner,) = deployments["vast-learner"]["spec"]["template"]["spec"]["containers"]
    assert learner["resources"]["limits"]["nvidia.com/gpu"] == "1"
    (replay,) = deployments["vast-replay"]["spec"]["template"]["spec"]["containers"]
    queued = actors * cfg.actor.max_in_flight * EPISODE_MB * 1e6  # every actor's window at one replica
    assert _bytes(replay["resources"]["limits"]["memory"]) >= 2 * queued


def render_with_component(base: str, component: str, tmp_path) -> list[dict]:
    """`base` overlay plus an optional component, through a throwaway overlay (relative paths only)."""
    overlay = tmp_path / f"with-{component}"
    overlay.mkdir()
    relative = os.path.relpath(K8S, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [f"{relative}/overlays/{base}"],
                "components": [f"{relative}/components/{component}"],
            }
        )
    )
    cmd = [tool("kubectl"), "kustomize", "--load-restrictor", "LoadRestrictionsNone", overlay]
    return list(yaml.safe_load_all(run(cmd, "kustomize", 60)))


def test_optional_actor_autoscaling_component(tmp_path):
    objects = render_with_component("cpu", "actor-autoscaling", tmp_path)
    validate(objects, tmp_path)
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["vast-actor"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "vast-actor"
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "vast_learner_wait_ratio"


def test_optional_redis_shards_component_gives_every_role_both_shards(tmp_path):
    objects = render_with_component("large-n", "redis-shards", tmp_path)
    validate(objects, tmp_path)
    redis = by_kind(objects, "StatefulSet")["vast-redis"]["spec"]
    headless = by_kind(objects, "Service")[redis["serviceName"]]["spec"]
    assert redis["replicas"] == 2 and headless["clusterIP"] == "None"
    assert headless["selector"] == redis["selector"]["matchLabels"]
    for deployment in by_kind(objects, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        names = [e["name"] for e in container["env"]]
        assert names.index("REDIS_PASSWORD") < names.index("VAST_REDIS_URL")  # expanded in order
        cfg = resolve(None, environ=vast_environment(objects, deployment))
        assert "@vast-redis-0.vast-redis-pods:6379" in cfg.redis_url
        assert [u.split("@")[1] for u in cfg.shard_urls()] == ["vast-redis-1.vast-redis-pods:6379/0"]
