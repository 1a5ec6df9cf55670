"""The rules actors, replay and the learner must agree on, in one place.

Wire frames: an actor sends `[EPISODE, key, blob]` on a DEALER socket; replay answers
`[ACK, key, status]` once the episode is durable in Redis (or rejected). Work slots: in sync mode every
policy version gets exactly E episodes, slot j played by actor j mod M. Staleness: which episodes the
learner may still train on.
"""

from __future__ import annotations

from typing import Any

EPISODE = b"EP"
ACK = b"ACK"
MAX_KEY_BYTES = 64  # an episode key ("actor:id") longer than this is a malformed envelope

# Acknowledgement statuses. RETRY is never sent: replay stays silent and the actor resends later.
STORED = b"stored"
DUPLICATE = b"duplicate"
RETRY = b"retry"
_REJECTED = b"rejected:"


def rejected(reason: str) -> bytes:
    """The status that tells an actor its episode will never be accepted (so it stops resending)."""
    return _REJECTED + reason.encode()


def parse_status(status: bytes) -> tuple[str, str]:
    """(kind, reason): kind is "stored", "duplicate" or "rejected" (reason set only for rejections)."""
    if status.startswith(_REJECTED):
        return "rejected", status[len(_REJECTED) :].decode(errors="replace")
    return status.decode(errors="replace"), ""


def sync_slots(actor_id: int, n_actors: int, episodes_per_update: int) -> list[int]:
    """The work slots of one policy version that actor `actor_id` of `n_actors` plays in sync mode."""
    return list(range(actor_id, episodes_per_update, n_actors))


def policy_lag(learner_version: int, episode_version: int) -> int:
    """How many versions the policy that played an episode is behind the weights being updated."""
    return learner_version - episode_version


def drop_reason(
    header: dict[str, Any],
    *,
    mode: str,
    learner_version: int,
    taken_slots: set[int] | dict,
    episodes_per_update: int,
    max_policy_lag: int,
) -> str | None:
    """None if the learner may train on this episode now, else the reason it is dropped.

    sync: only episodes of the current version, one per work slot 0..E-1.
    async: any episode at most `max_policy_lag` versions old (never one from the future).
    """
    lag = policy_lag(learner_version, header["policy_version"])
    if mode == "sync":
        if lag != 0:
            return "stale"
        slot = header["slot"]
        if slot in taken_slots or not 0 <= slot < episodes_per_update:
            return "duplicate_slot"
        return None
    return "stale" if lag > max_policy_lag or lag < 0 else None
