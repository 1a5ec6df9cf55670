"""The few interfaces the components meet at, in the spirit of DeepMind Acme's `core.py`.

A role is something that runs until told to stop. The learner's trainer reads episodes from an
`EpisodeSource` and hands versioned weights to a `WeightSink`; actors read weights from a
`WeightSource`. Each has a distributed implementation (Redis, ZeroMQ) and an in-process one, so the same
trainer loop runs as one process (`vast train --serial`, tests, sweeps) or as a service.
"""

from __future__ import annotations

from typing import Any, Protocol

from vast.common.codec import Weights
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag


class Role(Protocol):
    """One process's job (actor, replay, learner): `run` returns when `stop` is set or the work is done."""

    def run(self, stop: StopFlag) -> Any: ...


class EpisodeSource(Protocol):
    """Where the trainer's episodes come from.

    `collect` returns exactly `need` usable episodes for the weights of `version` (as (handle, episode)
    pairs, sorted by work slot in sync mode), or None if `stop` was set or `deadline` (time.monotonic)
    passed first. `ack` is called with the handles once the update that used them is done, so a source
    that stores episodes durably can forget them only then.
    """

    def collect(
        self, version: int, need: int, stop: StopFlag, deadline: float
    ) -> list[tuple[Any, Episode]] | None: ...

    def ack(self, handles: list[Any]) -> None: ...

    def dropped(self) -> dict[str, int]:
        """Episodes not trained on so far, by reason (e.g. stale)."""
        ...

    def state(self) -> dict[str, Any]:
        """What the source must get back when the learner resumes from a checkpoint."""
        ...

    def restore(self, state: dict[str, Any]) -> None: ...


class WeightSink(Protocol):
    """Where the trainer publishes each new version of the policy weights."""

    def publish(self, version: int, policy_state: dict[str, Any]) -> int: ...

    def close(self) -> None: ...


class WeightSource(Protocol):
    """Where an actor gets the newest policy weights (`Weights`: epoch, version, arrays), or None."""

    def poll(self, timeout_s: float) -> Weights | None: ...

    def fetch(self) -> Weights | None: ...

    def close(self) -> None: ...
