"""Seeds derived from integers, so every episode, actor and evaluation has its own reproducible stream."""

from __future__ import annotations

import numpy as np


def derive_seed(*parts: int) -> int:
    """A stable 63-bit seed from integers (numpy SeedSequence hashing)."""
    return int(
        np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1
    )
