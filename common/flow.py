"""Flow control for async mode: actors reserve room in the run's backlog before they play a batch.

Why: an actor that plays while the learner is behind makes episodes that wait in the Redis stream until
they are too old to train on. So the backlog is bounded by what the learner can use soon: at most
`learner.queue_updates` batches of E episodes waiting beyond the batch being trained (which stays in the
stream until its update is acknowledged). An actor reserves room for its next batch in one atomic step
before playing it; it waits (feeling the back-pressure before it produces) while there is none.

The count is: episodes in the stream (stored, not yet acknowledged by the learner) + every live
reservation. A reservation is the number of an actor's episodes not yet confirmed stored (its new batch
plus what its sender still waits on); it expires after `ttl_s`, so a crashed actor's room comes back.

With the stream sharded over several Redis servers the reservations stay on shard 0 and the other shards'
lengths are read just before the script: the bound then holds up to the episodes stored during that one
round trip (an approximation of a few episodes, never a deadlock: there is one bound for the whole run).
"""

from __future__ import annotations

import time

from vast.common.store import RunStore

# KEYS: stream, reservations hash. ARGV: holder, new, outstanding, bound, now_ms, ttl_ms, the episodes in
# the other shards' streams.
# Reserves `new` episodes on top of the holder's `outstanding` ones (sent, not yet confirmed stored) if
# the stream plus every other live reservation leaves room; either way the holder's entry is set to what
# it really holds, so a waiting actor never blocks the others with a stale count. Returns 1 or 0.
_RESERVE = """
local total = redis.call('XLEN', KEYS[1]) + tonumber(ARGV[7])
local now = tonumber(ARGV[5])
local claims = redis.call('HGETALL', KEYS[2])
for i = 1, #claims, 2 do
  if claims[i] ~= ARGV[1] then
    local n, expiry = string.match(claims[i + 1], '(%d+):(%d+)')
    if tonumber(expiry) < now then
      redis.call('HDEL', KEYS[2], claims[i])
    else
      total = total + tonumber(n)
    end
  end
end
local outstanding = tonumber(ARGV[3])
local granted = total + outstanding + tonumber(ARGV[2]) <= tonumber(ARGV[4])
local held = outstanding
if granted then
  held = held + tonumber(ARGV[2])
end
if held > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], held .. ':' .. (now + tonumber(ARGV[6])))
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if granted then
  return 1
end
return 0
"""


def backlog_bound(episodes_per_update: int, queue_updates: int) -> int:
    """Episodes the stream may hold: the batch being trained plus `queue_updates` batches waiting."""
    return episodes_per_update * (1 + queue_updates)


class FlowGate:
    """One actor's side of the gate: `reserve(n)` before playing n episodes."""

    def __init__(self, store: RunStore, holder: str, bound: int, ttl_s: float = 30.0):
        if bound < 1:
            raise ValueError("the backlog bound must be at least one episode")
        self.store = store
        self.holder = holder
        self.bound = bound
        self.ttl_ms = int(ttl_s * 1000)
        self.key = f"{store.prefix}:flow:reserved"
        self._reserve = store.r.register_script(_RESERVE)

    def try_reserve(self, new: int, outstanding: int = 0) -> bool:
        """Reserve room for `new` episodes on top of this holder's `outstanding` ones (sent but not yet
        confirmed stored), if there is room. Raises redis.RedisError when Redis is unreachable."""
        now_ms = int(time.time() * 1000)
        bound = max(self.bound, int(new))  # a batch larger than the bound still fits into an empty backlog
        elsewhere = sum(shard.depth() for shard in self.store.shards[1:])
        args = [self.holder, int(new), int(outstanding), bound, now_ms, self.ttl_ms, elsewhere]
        return bool(self._reserve(keys=[self.store.episodes_key, self.key], args=args))

    def release(self) -> None:
        self.store.r.hdel(self.key, self.holder)
