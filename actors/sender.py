"""Episode sender: ZeroMQ DEALER to replay with acknowledged, resent-until-acked delivery.

An episode stays in `pending` until replay answers for it; unanswered ones are resent after
`ack_timeout_s` (replay de-duplicates by episode key). `addr` may list several replay replicas
(comma-separated): the DEALER socket connects to each and hands out messages in turn, and a resend that
reaches another replica is still answered `duplicate` if stored before, since de-duplication is in Redis. `max_in_flight` bounds memory and gives
back-pressure: `send` waits (bounded, interruptible) while the window is full.

Every episode handed over ends in exactly one outcome, so at every moment
sent = accepted + duplicate + rejected + in flight (exported as `vast_actor_episodes_*`). "duplicate"
means replay had stored it before (a resend whose first acknowledgement was lost): it is in Redis too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import zmq

from vast.common import protocol
from vast.common.codec import encode_episode
from vast.common.config import AuthConfig
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.transport import client_socket

OUTCOMES = ("accepted", "duplicate", "rejected")


@dataclass
class _Pending:
    blob: bytes
    sent_at: float
    attempts: int


class EpisodeSender:
    def __init__(
        self,
        addr: str,
        ack_timeout_s: float,
        max_in_flight: int,
        log: logging.Logger,
        metrics=None,
        auth: AuthConfig | None = None,
        on_answer=None,
    ):
        self.addr = addr
        self.on_answer = on_answer  # optional callback(key, outcome), e.g. to audit deliveries
        self.ack_timeout_s = ack_timeout_s
        self.max_in_flight = max_in_flight
        self.log = log
        self.pending: dict[bytes, _Pending] = {}
        self.sent = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.rejected: dict[str, int] = {}
        self.send_full = 0  # transmissions skipped because the socket queue was full
        hwm = max(4 * max_in_flight, 100)
        self.sock = client_socket(
            zmq.DEALER, addr, auth or AuthConfig(), configure=lambda s: s.setsockopt(zmq.SNDHWM, hwm)
        )
        self.m = None
        if metrics is not None:
            self.m = {
                "sent": metrics.counter(
                    "vast_actor_episodes_sent_total", "Episodes handed to replay (once each)"
                ),
                "acked": metrics.counter(
                    "vast_actor_episodes_acked_total", "Episodes answered by replay", ("outcome",)
                ),
                "in_flight": metrics.gauge(
                    "vast_actor_episodes_in_flight", "Episodes sent, not yet answered"
                ),
                "resent": metrics.counter("vast_actor_episodes_resent_total", "Resends after an ack timeout"),
                "bytes": metrics.counter("vast_actor_bytes_sent_total", "Episode bytes transmitted"),
            }
            for outcome in OUTCOMES:
                self.m["acked"].labels(outcome)
            self.m["in_flight"].set_function(lambda: len(self.pending))

    @property
    def acked(self) -> int:
        """Episodes replay holds (accepted now or before: duplicate)."""
        return self.outcomes["accepted"] + self.outcomes["duplicate"]

    def ledger(self) -> dict[str, int]:
        return {"sent": self.sent, **self.outcomes, "in_flight": len(self.pending)}

    def _transmit(self, key: bytes, blob: bytes) -> None:
        """Never blocks: with replay unreachable and the queue full, the message is simply resent later."""
        try:
            self.sock.send_multipart([protocol.EPISODE, key, blob], flags=zmq.NOBLOCK, copy=len(blob) < 65536)
        except zmq.Again:
            self.send_full += 1
            return
        if self.m:
            self.m["bytes"].inc(len(blob))

    def send(self, episode: Episode, stop: StopFlag) -> bool:
        """Queue and transmit one episode; False if stopped while waiting for window space."""
        while len(self.pending) >= self.max_in_flight:
            if stop.is_set():
                return False
            self.poll(0.2)
        key = episode.key.encode()
        blob = encode_episode(episode)
        self.pending[key] = _Pending(blob, time.monotonic(), 1)
        self.sent += 1
        if self.m:
            self.m["sent"].inc()
        self._transmit(key, blob)
        return True

    def poll(self, timeout_s: float) -> int:
        """Read acks for up to timeout_s, then resend overdue episodes; returns acks read."""
        n = 0
        if self.sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            while True:
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                n += self._on_ack(frames)
        self._resend_overdue()
        return n

    def _on_ack(self, frames: list[bytes]) -> int:
        if len(frames) != 3 or frames[0] != protocol.ACK:
            self.log.warning("ignoring malformed reply from replay (%d frames)", len(frames))
            return 0
        _, key, status = frames
        kind, reason = protocol.parse_status(status)
        outcome = "accepted" if kind == "stored" else kind
        if outcome not in OUTCOMES:
            self.log.warning("unknown status %r from replay: the episode stays pending", status)
            return 0
        if self.pending.pop(key, None) is None:
            return 0  # ack of a resend that was already answered
        if outcome == "rejected":
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            self.log.error("replay rejected episode %s: %s", key.decode(errors="replace"), reason)
        self.outcomes[outcome] += 1
        if self.on_answer is not None:
            self.on_answer(key.decode(), outcome)
        if self.m:
            self.m["acked"].labels(outcome).inc()
        return 1

    def _resend_overdue(self) -> None:
        now = time.monotonic()
        for key, p in self.pending.items():
            if now - p.sent_at > self.ack_timeout_s * min(p.attempts, 6):  # linear backoff, capped
                p.sent_at, p.attempts = now, p.attempts + 1
                self._transmit(key, p.blob)
                if self.m:
                    self.m["resent"].inc()

    def flush(self, stop: StopFlag, deadline_s: float) -> bool:
        """Wait (bounded) until every sent episode is acknowledged."""
        end = time.monotonic() + deadline_s
        while self.pending and time.monotonic() < end and not stop.is_set():
            self.poll(0.1)
        return not self.pending

    def close(self) -> None:
        self.sock.close(0)
