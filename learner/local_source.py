"""Episodes played in this process, exactly as the actor processes would play them: the source of
`vast train --serial`, of tests and of sweeps (one process, no Redis, no ZeroMQ).

It is also the trainer's weight sink: publishing a version loads it into the policy the emulated actors
play with. In sync mode every actor j of `cfg.actors` plays its work slots of each version with the seed
(run seed, version, j), so a serial run produces the same episodes, and therefore the same metrics
rows, as the multi-process run with the same config. In async mode it plays E episodes with the newest
weights (policy lag 0: the serial topology has no lag to correct).
"""

from __future__ import annotations

import math
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
        self.version = -1
        self._rounds = 0
        self.env_steps = 0  # simulated copy-steps, as the actors' counters would report

    # -- WeightSink ------------------------------------------------------------------------------------
    def publish(self, version: int, policy_state: dict[str, Any]) -> int:
        with torch.no_grad():
            self.policy.load_state_dict(policy_state)
        self.version = version
        return 0

    def close(self) -> None:
        pass

    # -- EpisodeSource ---------------------------------------------------------------------------------
    def collect(self, version: int, need: int, stop: StopFlag, deadline: float) -> list[tuple[Any, Episode]]:
        if version != self.version:
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
