"""`vast health`: healthy only while the role's metrics endpoint answers and its progress is recent."""

from __future__ import annotations

import time

import pytest

from vast.common.metrics import RoleMetrics
from vast.health import check, main


@pytest.fixture
def actor_metrics():
    metrics = RoleMetrics("actor")
    progress = metrics.progress("test")
    metrics.serve(0)
    yield metrics, progress
    metrics.close()


def _port(metrics: RoleMetrics) -> int:
    return int(metrics.url.rsplit(":", 1)[1].split("/")[0])


def test_recent_progress_is_healthy_and_stale_progress_is_not(actor_metrics, capsys):
    metrics, progress = actor_metrics
    assert main(["--port", str(_port(metrics)), "--max-age", "30"]) == 0
    assert "healthy: actor made progress" in capsys.readouterr().out
    progress.set(time.time() - 100)
    assert main(["--port", str(_port(metrics)), "--max-age", "30"]) == 1
    assert "unhealthy: actor made no progress for 100 s (limit 30 s)" in capsys.readouterr().out
    progress.set_to_current_time()  # it recovers as soon as the role progresses again
    assert check(metrics.url, 30)[0]


def test_an_endpoint_that_does_not_answer_or_is_no_vast_role_is_unhealthy():
    other = RoleMetrics("replay")  # serves metrics, but no progress gauge: not a vast role
    other.serve(0)
    url = other.url
    healthy, reason = check(url, 30)
    assert not healthy and "exports no vast_<role>_last_progress_timestamp_seconds" in reason
    other.close()
    healthy, reason = check(url, 30, timeout_s=2)
    assert not healthy and "does not answer" in reason


def test_vast_health_runs_from_the_vast_command(actor_metrics):
    from vast.cli import main as vast

    metrics, progress = actor_metrics
    assert vast(["health", "--port", str(_port(metrics))]) == 0
    progress.set(0)
    assert vast(["health", "--port", str(_port(metrics))]) == 1
