"""Shared tools of the failure-injection tests: configs, the serial reference run, a probe actor that
records which episodes replay acknowledged, and the audit of the run's ledger in Redis."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tests.helpers import make_episodes, scrape, wait_until
from vast.actors.sender import EpisodeSender
from vast.common import rundir
from vast.common.config import Config, resolve
from vast.common.lifecycle import StopFlag
from vast.common.store import RunStore
from vast.learner.local_source import LocalEpisodeSource
from vast.learner.trainer import Trainer

# Fields that depend on timing or on who played an episode, not on what was trained (drops by reason
# count episodes a crash made redundant, which a run without crashes never sees).
NOT_REPRODUCIBLE = {"wall_s", "from_actors"}


def config(tmp_path: Path, name: str, **extra) -> Config:
    overrides = {
        "env.name": "gaussian-squeeze-50",
        "run.dir": str(tmp_path),
        "run.name": name,
        "run.seed": "4",
        "learner.eval_every": "5",
        "learner.checkpoint_every": "5",
        "actor.ack_timeout_s": "1",
        "run.heartbeat_ttl_s": "4",
        "actors": "2",
    }
    overrides.update({k: str(v) for k, v in extra.items()})
    return resolve(None, overrides, environ={})


def reproducible(rows: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in NOT_REPRODUCIBLE and not k.startswith(("time_", "dropped/"))}
        for r in rows
    ]


def serial_rows(tmp_path: Path, cfg: Config) -> list[dict]:
    """The same config trained in one process, no failures: the reference a sync run must match."""
    ref = resolve(
        None,
        {**_flat(cfg), "run.name": cfg.run.name + "-serial", "redis_url": "", "redis_shards": ""},
        environ={},
    )
    source = LocalEpisodeSource(ref, ref.env.spec())
    Trainer(ref, source, source, tmp_path / ref.run.name).run(StopFlag())
    return rundir.read_rows(tmp_path / ref.run.name / rundir.METRICS)


def _flat(cfg: Config) -> dict:
    from vast.common.config import iter_fields

    return {key: value for key, _, value in iter_fields(cfg) if key not in ("learner.resume",)}


def wait_rows(cluster, n: int, timeout_s: float) -> list[dict]:
    """Supervise the cluster until its metrics log has `n` rows."""
    path = cluster.run_dir / rundir.METRICS
    wait_until(lambda: cluster.learner_done() or len(rundir.read_rows(path)) >= n, timeout_s, f"{n} updates")
    return rundir.read_rows(path)


class Probe:
    """An extra actor in the test process: sends valid episodes that no update may use (slot -1, an old
    version) through the whole run and records which ones replay acknowledged."""

    def __init__(self, cfg: Config, addr: str, actor_id: int = 99):
        self.answers: dict[str, str] = {}
        self.sender = EpisodeSender(
            addr, 0.5, 16, logging.getLogger("probe"), on_answer=self.answers.__setitem__
        )
        self.template = make_episodes(cfg.env.name, 1, cfg.run.name, actor_id=actor_id)[0]
        self.template.header["slot"] = -1
        self.stop = StopFlag()
        self.sent: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            self.template.header["episode_id"] = i
            self.sender.send(self.template, self.stop)
            self.sent.append(self.template.key)
            i += 1
            self.sender.poll(0.1)
            self.stop.wait(0.2)

    def finish(self, deadline_s: float = 30.0) -> set[str]:
        """Stop sending, wait for the answers; the keys replay holds (accepted now or before)."""
        self.stop.set()
        self.thread.join(10)
        self.sender.flush(StopFlag(), deadline_s)
        self.sender.close()
        assert not self.sender.pending, f"{len(self.sender.pending)} probe episodes never answered"
        return {k for k, outcome in self.answers.items() if outcome in ("accepted", "duplicate")}


def finish_and_audit(cluster, store: RunStore, probe: Probe) -> tuple[dict, dict]:
    """Wait for the run to end, stop every role but Redis, audit the ledger against what the probe got
    acknowledged; (ledger, the launcher's metrics)."""
    wait_until(cluster.learner_done, 180, "the run to finish")
    acknowledged = probe.finish()
    launcher = scrape(cluster.metrics_url)
    cluster.stop(keep_redis=True)
    ledger = audit_ledger(store, acknowledged)
    assert len(acknowledged) > 10, "the probe must have delivered episodes throughout"
    return ledger, launcher


def audit_ledger(store: RunStore, acknowledged: set[str] = frozenset()) -> dict[str, int]:
    """accepted = consumed + dropped + buffered, and every episode replay acknowledged is accounted for:
    each stored episode's marker says consumed, dropped (with its reason) or accepted; the accepted ones
    are exactly the ones still in the stream."""
    ledger = store.ledger()
    dropped = sum(v for k, v in ledger.items() if k.startswith("dropped:"))
    assert ledger["accepted"] == ledger.get("consumed", 0) + dropped + ledger["buffered"], ledger
    markers = {
        key.decode().rsplit(":seen:", 1)[1]: store.r.get(key).decode()
        for key in store.r.scan_iter(match=f"{store.prefix}:seen:*", count=1000)
    }
    assert len(markers) == ledger["accepted"], "an accepted episode has no marker"
    states: dict[str, int] = {}
    for state in markers.values():
        states[state] = states.get(state, 0) + 1
    assert states.get("consumed", 0) == ledger.get("consumed", 0)
    assert states.get("accepted", 0) == ledger["buffered"]
    for key, value in ledger.items():
        if key.startswith("dropped:"):
            assert states.get(key, 0) == value, key
    in_stream = {f[b"k"].decode() for _, f in store.r.xrange(store.episodes_key)}
    assert in_stream == {k for k, s in markers.items() if s == "accepted"}
    lost = sorted(acknowledged - set(markers))
    assert not lost, f"acknowledged but not accounted for: {lost[:5]}"
    return ledger
