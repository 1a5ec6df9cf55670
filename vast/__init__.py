"""vast: VAST value factorisation with variable sub-teams, as a distributed actor-learner system.

This package holds the entry points (the `vast` command and the launchers); the library lives in its
sub-packages vast.envs, vast.common, vast.actors, vast.replay and vast.learner.
"""

__version__ = "0.1.0"
