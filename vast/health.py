"""`vast health`: is the role on this host serving and making progress? Exit 0 if so, 1 if not.

Container HEALTHCHECKs and Kubernetes probes run it next to the role. It reads the role's own metrics
endpoint (so the process answers) and the role's progress gauge, which each role stamps when it does
useful work: an actor when replay acknowledges one of its episodes, replay after every successful Redis
round trip (idle but able to store counts), the learner after each update and after each Redis read
while it waits for data. A role that is alive but stuck (replay or Redis unreachable, a hung update)
goes unhealthy once its last progress is older than --max-age.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from vast.common.metrics import PROGRESS_METRIC

CONTAINER_METRICS_PORT = 9100  # the port every role serves metrics on in the images (compose, Kubernetes)
_PROGRESS = re.compile("^" + PROGRESS_METRIC.format(role="(?P<role>[a-z]+)") + "$")


def check(url: str, max_age_s: float, timeout_s: float = 5.0, now: float | None = None) -> tuple[bool, str]:
    """(healthy, one-line reason) for the role serving metrics at `url`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return False, f"metrics endpoint {url} does not answer: {exc}"
    stamps = {
        m.group("role"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if (m := _PROGRESS.match(sample.name))
    }
    if not stamps:
        return False, f"{url} exports no {PROGRESS_METRIC.format(role='<role>')} gauge: not a vast role?"
    role, stamp = max(stamps.items(), key=lambda item: item[1])
    age = (time.time() if now is None else now) - stamp
    if age > max_age_s:
        return False, f"{role} made no progress for {age:.0f} s (limit {max_age_s:g} s)"
    return True, f"{role} made progress {max(age, 0.0):.1f} s ago"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vast health", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="host of the metrics endpoint (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=CONTAINER_METRICS_PORT,
        help=f"metrics port of the role (default: {CONTAINER_METRICS_PORT}, as in the images)",
    )
    p.add_argument(
        "--max-age",
        type=float,
        default=120.0,
        help="unhealthy when the last progress is older than this many seconds (default: 120)",
    )
    args = p.parse_args(argv)
    healthy, reason = check(f"http://{args.host}:{args.port}/metrics", args.max_age)
    print(("healthy: " if healthy else "unhealthy: ") + reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
