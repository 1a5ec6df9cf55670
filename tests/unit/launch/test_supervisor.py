"""The restart policy of `vast train`: exponential backoff, bounded restarts within a window."""

from __future__ import annotations

from vast.launch.supervisor import MAX_DELAY_S, RestartPolicy


def test_backoff_doubles_and_a_role_that_keeps_failing_is_given_up():
    policy = RestartPolicy(max_restarts=3, window_s=100)
    assert [policy.on_failure("actor-1", t) for t in (0, 1, 2)] == [0.5, 1.0, 2.0]
    assert policy.on_failure("replay", 2) == 0.5, "each process has its own count"
    assert policy.on_failure("actor-1", 3) is None  # a 4th failure within 100 s: give up


def test_failures_outside_the_window_are_forgotten_and_the_delay_is_capped():
    policy = RestartPolicy(max_restarts=3, window_s=10)
    for t in (0, 1, 2):
        policy.on_failure("learner", t)
    assert policy.on_failure("learner", 50) == 0.5  # the old ones left the window
    capped = RestartPolicy(max_restarts=100, window_s=1e9)
    assert max(capped.on_failure("x", t) for t in range(20)) == MAX_DELAY_S
