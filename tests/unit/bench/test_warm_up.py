"""The learner bench's warm-up: it goes on while calls still fault in new memory, and stops once one does not."""

from __future__ import annotations

import numpy as np

from vast.bench.learner import warm_up


def test_warm_up_stops_at_the_first_call_that_faults_in_no_new_memory():
    assert warm_up(lambda: None) == 1


def test_warm_up_goes_on_while_every_call_faults_in_new_memory():
    kept = []
    calls = warm_up(lambda: kept.append(np.ones(8_000_000)), max_calls=3)  # 64 MB of fresh pages each
    assert calls == 3 and len(kept) == 3
