"""The rules actors, replay and the learner must agree on, in one place.

Wire frames: an actor sends `[EPISODE, key, blob]` on a DEALER socket; replay answers
`[ACK, key, status]` once the episode is durable in Redis (or rejected). Work slots: in sync mode every
policy version gets exactly E episodes; slot j belongs to group j mod M, which actor j mod M plays unless
it is gone (then another actor takes the whole group over, see `groups_to_reissue`). Weights: which
publication is newer (`newer_weights`). Staleness: which episodes the learner may still train on.
"""

from __future__ import annotations

from typing import Any

from vast.common.seeding import derive_seed

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


def sync_slots(group: int, n_actors: int, episodes_per_update: int) -> list[int]:
    """The work slots of one policy version in group `group` (0..n_actors-1): the slots actor `group`
    plays in sync mode."""
    return list(range(group, episodes_per_update, n_actors))


def sync_seed(run_seed: int, version: int, group: int) -> int:
    """The seed a group's slots of a version are played with. A group is always played as one batch
    with this seed, by its own actor or by the one that took it over, so its episodes are the same
    whoever plays them: the whole of a sync run's data depends only on (seed, config)."""
    return derive_seed(run_seed, version, group)


def missing_groups(taken_slots: set[int] | dict, n_actors: int, episodes_per_update: int) -> list[int]:
    """Groups with at least one slot of the current version not yet received."""
    return sorted({s % n_actors for s in range(episodes_per_update) if s not in taken_slots})


def groups_to_reissue(
    missing: list[int],
    started: set[int],
    alive: set[int],
    waited_s: float,
    slot_timeout_s: float,
    grace_s: float = 1.0,
) -> list[int]:
    """The take-over rule: which missing groups the learner asks any actor to play.

    A group whose actor has started once in this run (`started`) but has no live heartbeat (`alive`) is
    gone: its heartbeat key expired a TTL after its last beat. It is re-issued as soon as the learner has
    waited `grace_s` for the version (a first read of what already arrived). Every missing group is
    re-issued after `slot_timeout_s`: an actor that never started, a live actor whose episodes were lost,
    a partitioned actor whose key lingers.
    """
    if waited_s >= slot_timeout_s:
        return list(missing)
    if waited_s >= grace_s:
        return [g for g in missing if g in started and g not in alive]
    return []


def newer_weights(candidate: tuple[int, int], current: tuple[int, int]) -> bool:
    """Whether weights (epoch, version) should replace the ones an actor holds. The epoch is the
    learner process's start time (ms): a learner restarted from a checkpoint publishes older version
    numbers under a newer epoch, and every actor must follow it back."""
    return candidate > current


# Every reason the learner may not train on a stored episode (the `reason` label of drop metrics, and
# the `dropped:<reason>` counters of the run ledger).
DROP_REASONS = ("stale", "future", "duplicate_slot", "invalid")


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
    async: any episode at most `max_policy_lag` versions old.
    Never one from the future ("future": played by weights a crashed learner published after the
    checkpoint its successor resumed from).
    """
    lag = policy_lag(learner_version, header["policy_version"])
    if lag < 0:
        return "future"
    if mode == "sync":
        if lag != 0:
            return "stale"
        slot = header["slot"]
        if slot in taken_slots or not 0 <= slot < episodes_per_update:
            return "duplicate_slot"
        return None
    return "stale" if lag > max_policy_lag else None
