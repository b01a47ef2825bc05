"""A token bucket per channel in Redis, shared by every worker process that calls the platform.

The bucket is one Redis hash updated by a Lua script, so taking tokens is atomic across processes
and machines, and the clock is Redis' own (`TIME`), so workers on hosts with skewed clocks agree.
Shopify's GraphQL bucket is the shop's own cost bucket: after every answer the hub writes back what
Shopify says is left (`throttleStatus`), so all workers see the shop's real state.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from redis import Redis

# KEYS[1] bucket; ARGV: cost, rate (tokens/s), capacity, ttl (s), max wait (ms). A rate and capacity
# the platform told us (set_available) win over the defaults given here.
# The tokens are taken at once, the balance going negative if need be, and the caller waits the
# milliseconds returned before it sends: callers are served in turn, so an expensive call is never
# starved by cheap ones. A wait longer than the max takes nothing and returns minus that wait.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local cost, rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'rate', 'capacity')
local tokens, at = tonumber(state[1]), tonumber(state[2])
rate = tonumber(state[3]) or rate
capacity = tonumber(state[4]) or capacity
if tokens == nil then tokens, at = capacity, now_ms end
tokens = math.min(capacity, tokens + (now_ms - at) * rate / 1000)
if cost > capacity then cost = capacity end
local wait = 0
if tokens < cost then wait = math.ceil((cost - tokens) * 1000 / rate) end
if wait > tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now_ms)
  return -wait
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', now_ms)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return wait
"""

# KEYS[1] bucket; ARGV: tokens available now, capacity, rate (as the platform says), ttl (s).
_SET = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], 'tokens', ARGV[1], 'at', now_ms, 'capacity', ARGV[2], 'rate', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"""


@dataclass(frozen=True)
class Bucket:
    key: str  # e.g. "channel:12"
    rate: float  # tokens restored per second
    capacity: float  # the most that can be spent at once

    @property
    def redis_key(self) -> str:
        return f"hub:ratelimit:{self.key}"

    @property
    def ttl(self) -> int:
        # A full refill plus a margin: an idle bucket disappears, and starts full again.
        return int(self.capacity / self.rate) + 60


def acquire(connection: Redis, bucket: Bucket, cost: float = 1, *, max_wait: float = 120) -> float:
    """Take `cost` tokens from the bucket and wait until they are ours; the seconds waited.

    Raises `RateLimitWait` (taking nothing) when that would be longer than `max_wait`: the job is
    better retried later than holding a worker.
    """
    script = connection.register_script(_ACQUIRE)
    args = [cost, bucket.rate, bucket.capacity, bucket.ttl, int(max_wait * 1000)]
    wait_ms = int(script(keys=[bucket.redis_key], args=args))
    if wait_ms < 0:
        raise RateLimitWait(-wait_ms / 1000)
    if wait_ms:
        time.sleep(wait_ms / 1000)
    return wait_ms / 1000


def set_available(
    connection: Redis, bucket: Bucket, available: float, *, capacity: float = 0, rate: float = 0
) -> None:
    """What the platform says is left in the bucket (and its real size and refill rate, when it
    says), for every worker to see."""
    told = dataclasses.replace(bucket, capacity=capacity or bucket.capacity, rate=rate or bucket.rate)
    args = [available, told.capacity, told.rate, told.ttl]
    connection.register_script(_SET)(keys=[bucket.redis_key], args=args)


class RateLimitWait(Exception):
    permanent = False

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited: the channel's bucket needs {seconds:.1f}s to refill")
        self.seconds = seconds
