"""A token bucket per channel in Redis, shared by every worker process that calls the platform.

The bucket is one Redis hash updated by a Lua script, so taking tokens is atomic across processes
and machines, and the clock is Redis' own (`TIME`), so workers on hosts with skewed clocks agree.
Shopify's GraphQL bucket is the shop's own cost bucket: after every answer the hub writes back what
Shopify says is left (`throttleStatus`), so all workers see the shop's real state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

# KEYS[1] bucket; ARGV: cost, rate (tokens/s), capacity, ttl (s). A rate and capacity the platform
# told us (set_available) win over the defaults given here.
# Returns 0 when the tokens were taken, else the milliseconds to wait before asking again.
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
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now_ms)
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
    """Block until `cost` tokens are taken from the bucket; the seconds waited.

    Raises `RateLimitWait` when waiting would take longer than `max_wait` (the job is better
    retried later than holding a worker).
    """
    waited = 0.0
    script = connection.register_script(_ACQUIRE)
    while True:
        wait_ms = int(script(keys=[bucket.redis_key], args=[cost, bucket.rate, bucket.capacity, bucket.ttl]))
        if wait_ms <= 0:
            return waited
        if waited + wait_ms / 1000 > max_wait:
            raise RateLimitWait(wait_ms / 1000)
        time.sleep(wait_ms / 1000)
        waited += wait_ms / 1000


def set_available(
    connection: Redis, bucket: Bucket, available: float, *, capacity: float = 0, rate: float = 0
) -> None:
    """What the platform says is left in the bucket (and its real size and refill rate, when it
    says), for every worker to see."""
    capacity, rate = capacity or bucket.capacity, rate or bucket.rate
    ttl = int(capacity / rate) + 60
    connection.register_script(_SET)(keys=[bucket.redis_key], args=[available, capacity, rate, ttl])


class RateLimitWait(Exception):
    permanent = False

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited: the channel's bucket needs {seconds:.1f}s to refill")
        self.seconds = seconds
