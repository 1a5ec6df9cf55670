"""Prometheus metrics: one registry per role process, served over HTTP on a configurable port.

Port 0 picks a free port; the chosen URL is announced in Redis (see common.store) so `vast train`,
tests and Prometheus file-based discovery can find every endpoint of a run.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

# Every role stamps this gauge whenever it makes progress (and once at start): `vast health`, container
# health checks, Kubernetes probes and the dashboard read it. What counts as progress is the role's call.
PROGRESS_METRIC = "vast_{role}_last_progress_timestamp_seconds"


class RoleMetrics:
    """Owns a role's registry and its HTTP endpoint; metric factories pre-bind the registry."""

    def __init__(self, role: str):
        self.role = role
        self.registry = CollectorRegistry()
        # process_start_time_seconds, CPU, memory, open files: restarts and process health on dashboards
        ProcessCollector(registry=self.registry)
        self.url = ""
        self._server = None

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def histogram(
        self, name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
    ) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)

    def progress(self, doc: str) -> Gauge:
        """This role's progress gauge, stamped now (a role that just started counts as progressing)."""
        gauge = self.gauge(PROGRESS_METRIC.format(role=self.role), doc)
        gauge.set_to_current_time()
        return gauge

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> str:
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        host = addr if addr not in ("0.0.0.0", "") else "127.0.0.1"
        self.url = f"http://{host}:{server.server_port}/metrics"
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
