"""Prometheus and the dashboard against the real thing: promtool runs the alert unit tests, and a real
Prometheus (Debian's package) scrapes a real local run (`vast train`'s LocalCluster) through the
Kubernetes scrape config's own relabelling. Every query of the generated dashboard must return data,
and `vast health` must tell a progressing role from a stuck one."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
import yaml

from tests.helpers import wait_until
from tests.integration.deploy.conftest import DEPLOY, ROOT, host_packages, run
from vast.common.config import resolve
from vast.common.ports import free_port
from vast.launch.local import LocalCluster

PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vast.json"


@pytest.fixture(scope="session")
def prometheus_package():
    host_packages("prometheus")  # prometheus and promtool


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels if p["type"] == "timeseries" for t in p["targets"]]


def test_alert_rules_pass_their_unit_tests(prometheus_package):
    run(["promtool", "check", "rules", *sorted((PROMETHEUS / "rules").glob("*.yml"))], "promtool check", 60)
    out = run(
        ["promtool", "test", "rules", "alerts.test.yml"], "promtool test rules", 120, cwd=PROMETHEUS / "tests"
    )
    assert "SUCCESS" in out
    alerts = {r["alert"] for g in yaml.safe_load((PROMETHEUS / "rules" / "alerts.yml").read_text())["groups"]
              for r in g["rules"]}  # fmt: skip
    tested = (PROMETHEUS / "tests" / "alerts.test.yml").read_text()
    untested = {a for a in alerts if f"alertname: {a}" not in tested}
    assert not untested and len(alerts) >= 7, f"alerts without a unit test: {untested}"


def test_compose_scrape_config_is_valid(prometheus_package):
    run(["promtool", "check", "config", PROMETHEUS / "prometheus.yml"], "promtool check config", 60)


def test_dashboard_json_is_what_the_code_generates():
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import dashboard
    finally:
        sys.path.pop(0)
    assert dashboard.render() == DASHBOARD.read_text(), "run: python deploy/grafana/dashboard.py"
    assert len(dashboard_queries()) >= 20


def _k8s_config_for(endpoints: dict[str, str], tmp_path) -> dict:
    """prometheus-k8s.yml with pod discovery replaced by a file listing the local run's processes
    labelled as Kubernetes would label the vast pods: its relabelling runs unchanged."""
    config = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(p) for p in sorted((PROMETHEUS / "rules").glob("*.yml"))]
    pods = []
    for name, url in endpoints.items():
        role, ident = name.split(":")
        port = urllib.parse.urlparse(url).port
        labels = {
            "__meta_kubernetes_namespace": "vast",
            "__meta_kubernetes_pod_name": f"vast-{role}-{ident}",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "vast",
            "__meta_kubernetes_pod_label_app_kubernetes_io_component": role,
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
            "__meta_kubernetes_pod_annotation_prometheus_io_port": str(port),
            "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        }
        pods.append({"targets": ["127.0.0.1"], "labels": labels})
    pods.append(
        {
            "targets": ["127.0.0.1:1"],
            "labels": {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "other"},
        }
    )
    (tmp_path / "pods.json").write_text(json.dumps(pods))
    (job,) = config["scrape_configs"]
    del job["kubernetes_sd_configs"]
    job["file_sd_configs"] = [{"files": [str(tmp_path / "pods.json")]}]
    return config


def _api(base: str, path: str, **params) -> dict:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]


def _has_data(base: str, expr: str) -> bool:
    result = _api(base, "query", query=expr)["result"]
    return any(not math.isnan(float(r["value"][1])) for r in result)


def _health(port: int, max_age: float) -> int:
    cmd = [sys.executable, "-m", "vast", "health", "--port", str(port), "--max-age", str(max_age)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=60).returncode


@pytest.mark.timeout(400)
def test_every_dashboard_query_has_data_from_a_real_run(prometheus_package, tmp_path):
    overrides = {
        "env.name": "gaussian-squeeze-50",
        "run.dir": str(tmp_path),
        "run.name": "observed",
        "run.minutes": "5",
        "learner.mode": "async",
        "actors": "2",
    }
    cluster = LocalCluster(resolve(None, overrides, environ={})).start()
    prometheus = None
    try:
        endpoints = cluster.endpoints(timeout_s=90)
        assert len(endpoints) == 4, endpoints
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_k8s_config_for(endpoints, tmp_path)))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
        )  # fmt: skip

        def targets():
            try:
                return _api(base, "targets")["activeTargets"]
            except OSError:
                return None

        # the Kubernetes relabelling kept the vast pods only, and named their jobs after their role
        found = wait_until(
            lambda: (t := targets()) and all(x["health"] == "up" for x in t) and t, 60, "targets up"
        )
        assert sorted(t["labels"]["job"] for t in found) == [
            "vast-actor",
            "vast-actor",
            "vast-learner",
            "vast-replay",
        ]
        assert {t["labels"]["namespace"] for t in found} == {"vast"}

        queries = dashboard_queries()
        missing = queries

        def still_missing():
            nonlocal missing
            missing = [(title, expr) for title, expr in missing if not _has_data(base, expr)]
            return not missing

        try:
            wait_until(still_missing, 150, "data for every dashboard query", interval_s=2)
        except AssertionError:
            pytest.fail(f"dashboard queries without data: {missing}")

        ports = {name: urllib.parse.urlparse(url).port for name, url in endpoints.items()}
        assert all(_health(p, 60) == 0 for p in ports.values()), "every role healthy while training"
        # replay goes away: actors get no acknowledgements, so they stop progressing; the learner keeps
        # reading Redis while it waits, which is progress for it
        cluster.procs["replay"].send_signal(signal.SIGTERM)
        cluster.procs["replay"].wait(30)
        wait_until(lambda: _health(ports["actor:0"], 4) == 1, 60, "the actor to turn unhealthy")
        assert _health(ports["learner:0"], 30) == 0
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        cluster.stop()
