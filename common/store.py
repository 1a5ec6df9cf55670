"""The Redis layout of a run, and every Redis operation the roles perform, each with a deadline.

Keys (one run = one prefix, so two runs never collide):
  vast:{run}:episodes            stream of accepted episodes (never trimmed); consumer group "learner"
  vast:{run}:seen:{actor}:{id}   de-duplication marker (TTL); its value is the episode's state in the
                                 ledger: "accepted" while buffered, then "consumed" or "dropped:<reason>"
  vast:{run}:ledger              hash of durable counters: accepted, duplicate, rejected:<reason>,
                                 consumed, dropped:<reason>; each changes in the same atomic script as the
                                 data it counts, so accepted = consumed + dropped + buffered at every moment
  vast:{run}:weights / :version  latest policy weights blob and its version, for late joiners and replay
  vast:{run}:reissue             sync: the work-slot groups of one version the learner asks any actor to play
  vast:{run}:claim:{e}:{v}:{g}   sync: which actor took over group g of version v (epoch e), with a TTL
  vast:{run}:endpoints           hash role:id -> metrics URL
  vast:{run}:heartbeat:{role}:{id}  TTL keys: who is alive
  vast:{run}:actor_ids           counter handing out actor ids to replicas started with actor.id -1

Sharding (`redis_shards`): the episode stream, its seen-markers and its ledger may be spread over several
Redis servers, one stream per shard. An episode lives on shard (actor id mod shards), so every copy of it
(a resend, to any replay replica) meets its marker on the same server, and each shard's ledger satisfies
the identity on its own, hence so does their sum. Everything else stays on shard 0 (`redis_url`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from vast.common.lifecycle import StopFlag

GROUP = "learner"
ACCEPTED = "accepted"  # ledger state of an episode stored and not yet settled by the learner
T = TypeVar("T")

# One atomic step for a batch of messages: count the rejected ones, then for each episode refuse it when
# the backlog is full (2), else store it only if its id was never seen (1) or report a duplicate (0).
# Nothing stored is ever trimmed: accepted data is never lost. One command per batch also means one AOF
# fsync per batch (group commit) when Redis fsyncs before every reply.
# KEYS: stream, ledger, one seen-marker per episode; ARGV: ttl, max backlog, number of rejections, the
# rejection reasons, then (key, version, blob) per episode.
_RECORD = """
local nrej = tonumber(ARGV[3])
for i = 1, nrej do
  redis.call('HINCRBY', KEYS[2], 'rejected:' .. ARGV[3 + i], 1)
end
local base = 3 + nrej
local len = redis.call('XLEN', KEYS[1])
local out = {}
for j = 1, (#ARGV - base) / 3 do
  local at = base + 3 * (j - 1)
  if len >= tonumber(ARGV[2]) then
    out[j] = 2
  elseif redis.call('SET', KEYS[2 + j], 'accepted', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'k', ARGV[at + 1], 'v', ARGV[at + 2], 'd', ARGV[at + 3])
    redis.call('HINCRBY', KEYS[2], 'accepted', 1)
    len = len + 1
    out[j] = 1
  else
    redis.call('HINCRBY', KEYS[2], 'duplicate', 1)
    out[j] = 0
  end
end
return out
"""
STORED, DUPLICATE, BACKLOG_FULL = 1, 0, 2

# Settle entries the learner is done with (trained on, or dropped with a reason): acknowledge, delete,
# count and mark, in one step. XDEL answers 0 for an entry already settled, so a retry after a lost reply
# never counts twice. KEYS: stream, ledger, then one seen-marker per entry; ARGV: group, outcome, ids.
_SETTLE = """
local n = 0
for i = 3, #ARGV do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    n = n + 1
    redis.call('SET', KEYS[i], ARGV[2], 'XX', 'KEEPTTL')
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], n)
end
return n
"""


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client whose every call has a deadline: no Redis call can block forever. The URL carries the
    credentials and TLS options (redis://user:password@host, rediss://...?ssl_ca_certs=FILE)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry_on_timeout=False,
    )


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """PING within the deadline, or raise ConnectionError with a message naming the (redacted) URL."""
    from vast.common.config import redact_url

    client = connect(url, timeout_s=timeout_s)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise ConnectionError(f"Redis at {redact_url(url)} refused the credentials: {exc}") from None
    except (redis.RedisError, OSError) as exc:
        raise ConnectionError(f"cannot reach Redis at {redact_url(url)}: {exc}") from None
    finally:
        client.close()


def with_retry(
    call: Callable[[], T],
    stop: StopFlag,
    on_error: Callable[[Exception, float], None],
    first_s: float = 0.2,
    max_s: float = 5.0,
    deadline_s: float = math.inf,
) -> T | None:
    """`call()` until it succeeds, with exponential backoff between failed attempts (Redis restarting,
    a network partition); its result, or None if `stop` is set or the deadline comes first (so `call`
    should return something other than None). `on_error(exc, wait_s)` sees every failure (log, count)."""
    end = time.monotonic() + deadline_s
    wait = first_s
    while True:
        try:
            return call()
        except redis.RedisError as exc:
            if stop.is_set() or time.monotonic() + wait > end:
                on_error(exc, 0.0)
                return None
            on_error(exc, wait)
        if stop.wait(wait):
            return None
        wait = min(max_s, wait * 2)


def shard_index(episode_key: str, shards: int) -> int:
    """The shard of an episode: its actor's id (the key's first field) modulo the number of shards."""
    if shards == 1:
        return 0
    actor, _, _ = episode_key.partition(":")
    try:
        return int(actor) % shards
    except ValueError:  # not an episode key of ours (replay rejects those before storing): shard 0
        return 0


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
        self.version_key = f"{self.prefix}:version"
        self.ledger_key = f"{self.prefix}:ledger"
        self.reissue_key = f"{self.prefix}:reissue"
        self._record = client.register_script(_RECORD)
        self._settle = client.register_script(_SETTLE)
        self.shards: list[RunStore] = [self]  # where the episode stream lives: this server, or several

    def add_shards(self, clients: list[redis.Redis]) -> RunStore:
        """Spread the episode stream over these further servers (shards 1, 2, ...; this one is shard 0)."""
        self.shards = [self, *(RunStore(c, self.run) for c in clients)]
        return self

    def shard(self, episode_key: str) -> RunStore:
        """The store holding this episode's stream entry, marker and ledger count."""
        return self.shards[shard_index(episode_key, len(self.shards))]

    def seen_key(self, episode_key: str) -> str:
        return f"{self.prefix}:seen:{episode_key}"

    # -- replay side ------------------------------------------------------------------------------
    def record(
        self,
        episodes: list[tuple[str, int, bytes]],
        rejections: list[str],
        ttl_s: int,
        max_backlog: int,
    ) -> list[int]:
        """Store (key, version, blob) episodes and count rejections (by reason) in one atomic command; per
        episode STORED, DUPLICATE (its id was stored before: a resend) or BACKLOG_FULL (not stored)."""
        keys = [self.episodes_key, self.ledger_key, *(self.seen_key(k) for k, _, _ in episodes)]
        args: list = [ttl_s, max_backlog, len(rejections), *rejections]
        for key, version, blob in episodes:
            args += [key, version, blob]
        return [int(code) for code in self._record(keys=keys, args=args)]

    def append_episode(self, key: str, version: int, blob: bytes, ttl_s: int, max_backlog: int) -> int:
        """`record` of one episode."""
        return self.record([(key, version, blob)], [], ttl_s, max_backlog)[0]

    def published_version(self) -> int:
        """The version of the newest published weights (0 before the first publication)."""
        return int(self.r.get(self.version_key) or 0)

    # -- learner side -----------------------------------------------------------------------------
    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(self.episodes_key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_episodes(
        self, consumer: str, count: int, block_ms: int, after: str | bytes | None = None
    ) -> list[tuple[bytes, bytes, str]]:
        """Up to `count` (entry id, blob, episode key) of new entries; with `after`, instead the entries
        already delivered to this consumer but never settled (a learner that crashed mid-update gets them
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
        gone = []
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                if fields:
                    out.append((entry_id, fields[b"d"], fields[b"k"].decode()))
                else:  # a pending entry settled meanwhile comes back with no fields: clear it
                    gone.append(entry_id)
        if gone:
            self.r.xack(self.episodes_key, GROUP, *gone)
        return out

    def settle(self, entries: list[tuple[bytes, str]], outcome: str) -> int:
        """Acknowledge and delete (entry id, episode key) pairs the learner is done with, counting them in
        the ledger as `outcome` ("consumed" or "dropped:<reason>"); returns how many were still there."""
        if not entries:
            return 0
        keys = [self.episodes_key, self.ledger_key, *(self.seen_key(k) for _, k in entries)]
        return int(self._settle(keys=keys, args=[GROUP, outcome, *(i for i, _ in entries)]))

    def settle_sharded(self, entries: list[tuple[bytes, str]], outcome: str) -> int:
        """`settle` on the shard of each entry (each shard in one atomic step; a retry is harmless)."""
        groups: dict[int, list[tuple[bytes, str]]] = {}
        for entry in entries:
            groups.setdefault(shard_index(entry[1], len(self.shards)), []).append(entry)
        return sum(self.shards[i].settle(group, outcome) for i, group in groups.items())

    def depth(self) -> int:
        return int(self.r.xlen(self.episodes_key))

    def run_ledger(self) -> dict[str, int]:
        """`ledger` summed over the shards: each reading satisfies the identity, so the sum does too."""
        total: dict[str, int] = {}
        for shard in self.shards:
            for state, n in shard.ledger().items():
                total[state] = total.get(state, 0) + n
        return total

    def ledger(self) -> dict[str, int]:
        """The durable counters plus `buffered` (entries in the stream), read in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(self.ledger_key)
        pipe.xlen(self.episodes_key)
        counts, depth = pipe.execute()
        out = {k.decode(): int(v) for k, v in counts.items()}
        out["buffered"] = int(depth)
        return out

    # -- weights ------------------------------------------------------------------------------------
    def put_weights(self, version: int, blob: bytes) -> int:
        """Store the blob and its version together (one atomic MSET); returns the bytes stored."""
        self.r.mset({self.weights_key: blob, self.version_key: int(version)})
        return len(blob)

    def send_weights(self, version: int, blob: bytes) -> Callable[[], int]:
        """`put_weights`, split in two: the write is sent now, and the returned call waits for Redis's
        reply (raising RedisError if the write failed) and returns the bytes stored.

        Why: the learner broadcasts the weights between the two halves, so actors start playing while
        Redis writes (and, with `appendfsync always`, fsyncs) the copy. Someone who hears of the version
        and asks Redis at once may still find the previous one: Redis reads a large command over several
        turns of its event loop and may answer a small read in between (measured with a 51 KB blob).
        Replay therefore waits for a version one ahead of the stored one (`replay.version_wait_s`)."""
        pool = self.r.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_command("MSET", self.weights_key, blob, self.version_key, int(version))
        except BaseException:
            conn.disconnect()
            pool.release(conn)
            raise

        def confirm() -> int:
            try:
                reply = conn.read_response()
            except BaseException:
                conn.disconnect()
                raise
            finally:
                pool.release(conn)
            if reply not in (True, b"OK", "OK"):
                raise redis.ResponseError(f"storing weights: unexpected reply {reply!r}")
            return len(blob)

        return confirm

    def get_weights(self) -> bytes | None:
        return self.r.get(self.weights_key)

    # -- sync work-slot take-over -------------------------------------------------------------------
    def reissue(self, epoch: int, version: int, groups: list[int]) -> None:
        self.r.set(self.reissue_key, json.dumps({"epoch": epoch, "version": version, "groups": groups}))

    def reissued(self, epoch: int, version: int) -> list[int]:
        """Groups of (epoch, version) the learner asked any actor to play ([] if none)."""
        raw = self.r.get(self.reissue_key)
        if not raw:
            return []
        data = json.loads(raw)
        return list(data["groups"]) if (data["epoch"], data["version"]) == (epoch, version) else []

    def claim(self, epoch: int, version: int, group: int, actor_id: int, ttl_s: float) -> bool:
        """True for the one actor that takes group `group` of (epoch, version) over (until the TTL ends)."""
        key = f"{self.prefix}:claim:{epoch}:{version}:{group}"
        return bool(self.r.set(key, actor_id, nx=True, px=max(1, int(ttl_s * 1000))))

    # -- discovery ----------------------------------------------------------------------------------
    def announce(self, role: str, ident: str, url: str) -> None:
        self.r.hset(self.endpoints_key, f"{role}:{ident}", url)

    def endpoints(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.r.hgetall(self.endpoints_key).items()}

    def claim_actor_id(self) -> int:
        """The next unused actor id of this run (0, 1, ...): replicas started from one config get
        distinct ids, hence distinct seeds, metrics identities and heartbeats."""
        return int(self.r.incr(f"{self.prefix}:actor_ids")) - 1

    def heartbeat(self, role: str, ident: str, ttl_s: float = 15.0) -> None:
        self.r.set(f"{self.prefix}:heartbeat:{role}:{ident}", f"{time.time():.3f}", px=int(ttl_s * 1000))

    def alive(self, role: str, idents: list[str]) -> set[str]:
        """Which of `idents` of `role` have a live heartbeat."""
        if not idents:
            return set()
        values = self.r.mget([f"{self.prefix}:heartbeat:{role}:{i}" for i in idents])
        return {i for i, v in zip(idents, values) if v is not None}
