"""The rules both sides of the wire share: work-slot groups and their take-over, weight epochs, drops."""

from __future__ import annotations

from vast.common import protocol


def test_groups_partition_the_slots_and_their_seed_does_not_depend_on_who_plays_them():
    groups = [protocol.sync_slots(g, 3, 10) for g in range(3)]
    assert sorted(s for g in groups for s in g) == list(range(10))
    assert groups[1] == [1, 4, 7]
    assert protocol.sync_seed(5, 7, 1) == protocol.sync_seed(5, 7, 1) != protocol.sync_seed(5, 7, 2)
    assert protocol.missing_groups({0: 0, 3: 0, 6: 0, 9: 0, 1: 0}, 3, 10) == [1, 2]


def test_take_over_rule():
    rule = protocol.groups_to_reissue
    # too early: nobody is re-issued, whatever the heartbeats say
    assert rule([1, 2], started={0, 1, 2}, alive={0}, waited_s=0.5, slot_timeout_s=60) == []
    # then the group of the actor that started and whose heartbeat expired, not the one that never started
    assert rule([1, 2], started={0, 1}, alive={0}, waited_s=1, slot_timeout_s=60) == [1]
    # a live actor keeps its group until the slot timeout; then every missing group goes
    assert rule([1, 2], started={0, 1, 2}, alive={1, 2}, waited_s=30, slot_timeout_s=60) == []
    assert rule([1, 2], started=set(), alive={1, 2}, waited_s=60, slot_timeout_s=60) == [1, 2]


def test_a_restarted_learner_epoch_wins_over_a_higher_version():
    assert protocol.newer_weights((2000, 3), (1000, 40))
    assert protocol.newer_weights((1000, 41), (1000, 40))
    assert not protocol.newer_weights((1000, 40), (1000, 40))
    assert not protocol.newer_weights((999, 99), (1000, 40))


def test_drop_reasons():
    def reason(mode, learner_version, episode_version, slot=0, taken=()):
        return protocol.drop_reason(
            {"policy_version": episode_version, "slot": slot},
            mode=mode,
            learner_version=learner_version,
            taken_slots=set(taken),
            episodes_per_update=10,
            max_policy_lag=2,
        )

    assert reason("sync", 5, 5) is None
    assert reason("sync", 5, 4) == "stale"
    assert reason("sync", 5, 6) == "future"  # played by a crashed learner's newer weights
    assert reason("sync", 5, 5, slot=3, taken={3}) == "duplicate_slot"
    assert reason("async", 5, 3) is None and reason("async", 5, 2) == "stale"
    assert reason("async", 5, 9) == "future"
    assert set(protocol.DROP_REASONS) == {"stale", "future", "duplicate_slot", "invalid"}
