"""Episodes played in this process, exactly as the actor processes would play them: the source of
`vast train --serial`, of tests and of sweeps (one process, no Redis, no ZeroMQ).

It is also the trainer's weight sink: publishing a version loads it into the policy the emulated actors
play with. In sync mode every actor j of `cfg.actors` plays its work slots of each version with the seed
(run seed, version, j), so a serial run produces the same episodes, and therefore the same metrics
rows, as the multi-process run with the same config. In async mode it plays E episodes with the weights
of `learner.simulated_lag` versions ago (default 0): a deterministic stand-in for the lag of the
distributed async mode, so off-policy corrections can be studied and tested exactly.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from typing import Any

import torch

from vast.common.config import Config
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.networks import make_policy
from vast.common.protocol import sync_seed, sync_slots
from vast.common.rollout import EpisodePlayer
from vast.common.seeding import derive_seed
from vast.envs.base import EnvSpec


class LocalEpisodeSource:
    def __init__(self, cfg: Config, spec: EnvSpec):
        self.cfg = cfg
        self.policy = make_policy(spec, cfg.algo).eval()
        self.players = [EpisodePlayer(spec, self.policy, cfg.run.name, j) for j in range(cfg.actors)]
        self._published = -1
        self.version = -1  # the version of the weights episodes are played with
        self._recent: deque = deque(
            maxlen=1 + (cfg.learner.simulated_lag if cfg.learner.mode == "async" else 0)
        )
        self._rounds = 0
        self.env_steps = 0  # simulated copy-steps, as the actors' counters would report

    # -- WeightSink ------------------------------------------------------------------------------------
    def publish(self, version: int, policy_state: dict[str, Any]) -> int:
        """Keep the newest weights, and the last `simulated_lag` versions before them (async)."""
        self._recent.append(
            (version, copy.deepcopy(policy_state) if self._recent.maxlen > 1 else policy_state)
        )
        played, state = self._recent[0]
        with torch.no_grad():
            self.policy.load_state_dict(state)
        self.version = played
        self._published = version
        return 0

    def close(self) -> None:
        pass

    # -- EpisodeSource ---------------------------------------------------------------------------------
    def collect(self, version: int, need: int, stop: StopFlag, deadline: float) -> list[tuple[Any, Episode]]:
        if version != self._published:
            raise RuntimeError(f"weights of version {version} were never published to the local source")
        cfg = self.cfg
        episodes: list[Episode] = []
        if cfg.learner.mode == "sync":
            for player in self.players:
                slots = sync_slots(player.actor_id, cfg.actors, need)
                if slots:
                    seed = sync_seed(cfg.run.seed, version, player.actor_id)
                    episodes += self._play(player, len(slots), seed, slots)
            episodes.sort(key=lambda ep: ep.header["slot"])
        else:
            batch = max(1, math.ceil(need / cfg.actors))
            while len(episodes) < need:
                player = self.players[self._rounds % len(self.players)]
                seed = derive_seed(cfg.run.seed, version, player.actor_id, self._rounds)
                self._rounds += 1
                episodes += self._play(player, batch, seed, [-1] * batch)
            episodes = episodes[:need]
        return [(None, ep) for ep in episodes]

    def _play(self, player: EpisodePlayer, n: int, seed: int, slots: list[int]) -> list[Episode]:
        episodes, stats = player.play(n, seed, slots, self.version)
        self.env_steps += stats.env_steps
        return episodes

    def ack(self, handles: list[Any]) -> None:
        pass

    def dropped(self) -> dict[str, int]:
        return {}

    def state(self) -> dict[str, Any]:
        return {"rounds": self._rounds, "env_steps": self.env_steps}

    def restore(self, state: dict[str, Any]) -> None:
        self._rounds = int(state.get("rounds", 0))
        self.env_steps = int(state.get("env_steps", 0))
