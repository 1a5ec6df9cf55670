"""The Redis layout of a run, and every Redis operation the roles perform, each with a deadline.

Keys (one run = one prefix, so two runs never collide):
  vast:{run}:episodes            stream of accepted episodes (capped); consumer group "learner"
  vast:{run}:seen:{actor}:{id}   de-duplication marker (TTL)
  vast:{run}:weights             latest policy weights blob (versioned), for late joiners
  vast:{run}:endpoints           hash role:id -> metrics URL
  vast:{run}:heartbeat:{role}:{id}  TTL keys: who is alive
  vast:{run}:actor_ids           counter handing out actor ids to replicas started with actor.id -1
"""

from __future__ import annotations

import time

import redis

GROUP = "learner"

# One atomic step: refuse when the backlog is full (2), else store the episode only if its id was never
# seen (1) or report a duplicate (0). Nothing stored is ever trimmed: accepted data is never lost.
_APPEND_ONCE = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  return 2
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[1], '*', 'k', ARGV[3], 'v', ARGV[4], 'd', ARGV[5])
  return 1
end
return 0
"""
STORED, DUPLICATE, BACKLOG_FULL = 1, 0, 2


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client whose every call has a deadline: no Redis call can block forever."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry_on_timeout=False,
    )


class RunStore:
    def __init__(self, client: redis.Redis, run: str):
        if not run:
            raise ValueError("a run name is required: it is the Redis key prefix")
        self.r = client
        self.run = run
        self.prefix = f"vast:{run}"
        self.episodes_key = f"{self.prefix}:episodes"
        self.weights_key = f"{self.prefix}:weights"
        self.endpoints_key = f"{self.prefix}:endpoints"
        self._append_once = client.register_script(_APPEND_ONCE)

    # -- replay side ------------------------------------------------------------------------------
    def append_episode(self, key: str, version: int, blob: bytes, ttl_s: int, max_backlog: int) -> int:
        """STORED, DUPLICATE (this episode id was stored before: a resend) or BACKLOG_FULL (not stored)."""
        seen = f"{self.prefix}:seen:{key}"
        args = [ttl_s, max_backlog, key, version, blob]
        return int(self._append_once(keys=[self.episodes_key, seen], args=args))

    # -- learner side -----------------------------------------------------------------------------
    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.episodes_key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_episodes(
        self, consumer: str, count: int, block_ms: int, after: str | bytes | None = None
    ) -> list[tuple[bytes, bytes]]:
        """Up to `count` (entry id, blob) pairs of new entries; with `after`, instead the entries already
        delivered to this consumer but never acknowledged (a learner that crashed mid-update gets them
        back), starting after that id ("0" for all)."""
        start = ">" if after is None else after
        resp = self.r.xreadgroup(
            GROUP,
            consumer,
            {self.episodes_key: start},
            count=count,
            block=None if after is not None else block_ms,
        )
        out = []
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                if fields:  # a pending entry deleted meanwhile comes back with no fields
                    out.append((entry_id, fields[b"d"]))
        return out

    def ack(self, entry_ids: list[bytes]) -> None:
        if entry_ids:
            pipe = self.r.pipeline(transaction=True)
            pipe.xack(self.episodes_key, GROUP, *entry_ids)
            pipe.xdel(self.episodes_key, *entry_ids)
            pipe.execute()

    def depth(self) -> int:
        return int(self.r.xlen(self.episodes_key))

    # -- weights ------------------------------------------------------------------------------------
    def put_weights(self, blob: bytes) -> None:
        self.r.set(self.weights_key, blob)

    def get_weights(self) -> bytes | None:
        return self.r.get(self.weights_key)

    # -- discovery ----------------------------------------------------------------------------------
    def announce(self, role: str, ident: str, url: str) -> None:
        self.r.hset(self.endpoints_key, f"{role}:{ident}", url)

    def endpoints(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.r.hgetall(self.endpoints_key).items()}

    def claim_actor_id(self) -> int:
        """The next unused actor id of this run (0, 1, ...): replicas started from one config get
        distinct ids, hence distinct seeds, metrics identities and heartbeats."""
        return int(self.r.incr(f"{self.prefix}:actor_ids")) - 1

    def heartbeat(self, role: str, ident: str, ttl_s: int = 15) -> None:
        self.r.set(f"{self.prefix}:heartbeat:{role}:{ident}", f"{time.time():.3f}", ex=ttl_s)
