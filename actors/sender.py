"""Episode sender: ZeroMQ DEALER to replay with acknowledged, resent-until-acked delivery.

An episode stays in `pending` until replay answers for it; unanswered ones are resent after
`ack_timeout_s` (replay de-duplicates by episode key). `max_in_flight` bounds memory and gives
back-pressure: `send` waits (bounded, interruptible) while the window is full.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import zmq

from vast.common import protocol
from vast.common.codec import encode_episode
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag


@dataclass
class _Pending:
    blob: bytes
    sent_at: float
    attempts: int


class EpisodeSender:
    def __init__(
        self, addr: str, ack_timeout_s: float, max_in_flight: int, log: logging.Logger, metrics=None
    ):
        self.addr = addr
        self.ack_timeout_s = ack_timeout_s
        self.max_in_flight = max_in_flight
        self.log = log
        self.pending: dict[bytes, _Pending] = {}
        self.acked = 0
        self.rejected: dict[str, int] = {}
        self.send_full = 0  # transmissions skipped because the socket queue was full
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, max(4 * max_in_flight, 100))
        self.sock.connect(addr)
        self.m_sent = (
            metrics.counter("vast_actor_episodes_sent_total", "Episode messages sent (incl. resends)")
            if metrics
            else None
        )
        self.m_acked = (
            metrics.counter("vast_actor_episodes_acked_total", "Episodes acknowledged by replay", ("status",))
            if metrics
            else None
        )
        self.m_resent = (
            metrics.counter("vast_actor_episodes_resent_total", "Episodes resent after an ack timeout")
            if metrics
            else None
        )
        self.m_bytes = (
            metrics.counter("vast_actor_bytes_sent_total", "Episode bytes sent") if metrics else None
        )

    def _transmit(self, key: bytes, blob: bytes) -> None:
        """Never blocks: with replay unreachable and the queue full, the message is simply resent later."""
        try:
            self.sock.send_multipart([protocol.EPISODE, key, blob], flags=zmq.NOBLOCK, copy=len(blob) < 65536)
        except zmq.Again:
            self.send_full += 1
            return
        if self.m_sent:
            self.m_sent.inc()
            self.m_bytes.inc(len(blob))

    def send(self, episode: Episode, stop: StopFlag) -> bool:
        """Queue and transmit one episode; False if stopped while waiting for window space."""
        while len(self.pending) >= self.max_in_flight:
            if stop.is_set():
                return False
            self.poll(0.2)
        key = episode.key.encode()
        blob = encode_episode(episode)
        self.pending[key] = _Pending(blob, time.monotonic(), 1)
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
        if self.pending.pop(key, None) is None:
            return 0  # ack of a resend that was already answered
        kind, reason = protocol.parse_status(status)
        if kind == "rejected":
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            self.log.error("replay rejected episode %s: %s", key.decode(errors="replace"), reason)
        else:
            self.acked += 1
        if self.m_acked:
            self.m_acked.labels(kind).inc()
        return 1

    def _resend_overdue(self) -> None:
        now = time.monotonic()
        for key, p in self.pending.items():
            if now - p.sent_at > self.ack_timeout_s * min(p.attempts, 6):  # linear backoff, capped
                p.sent_at, p.attempts = now, p.attempts + 1
                self._transmit(key, p.blob)
                if self.m_resent:
                    self.m_resent.inc()

    def flush(self, stop: StopFlag, deadline_s: float) -> bool:
        """Wait (bounded) until every sent episode is acknowledged."""
        end = time.monotonic() + deadline_s
        while self.pending and time.monotonic() < end and not stop.is_set():
            self.poll(0.1)
        return not self.pending

    def close(self) -> None:
        self.sock.close(0)
