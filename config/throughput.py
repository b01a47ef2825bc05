"""Jobs run per queue and minute, kept two hours: rq's finished registry is not a processed count
(results expire, and a job with no result TTL is never in it), so the hub counts for itself."""

from __future__ import annotations

import time
from collections import defaultdict

from redis import Redis

JOB_COUNT_KEY = "hub:metrics:job_count"  # all time, by queue:outcome (Prometheus counters)
JOB_SECONDS_KEY = "hub:metrics:job_seconds"
MINUTE_KEY = "hub:metrics:minute:{}"  # per minute, by queue:outcome
KEEP_SECONDS = 2 * 3600


def queue_and_outcome(field: bytes | str) -> tuple[str, str]:
    """The queue and the outcome a counter's field (`queue:outcome`) names."""
    queue, _, outcome = (field.decode() if isinstance(field, bytes) else field).partition(":")
    return queue, outcome


def record(connection: Redis, queue: str, *, succeeded: bool, seconds: float) -> None:
    field = f"{queue}:{'finished' if succeeded else 'failed'}"
    minute_key = MINUTE_KEY.format(int(time.time() // 60))
    with connection.pipeline(transaction=False) as pipe:
        pipe.hincrby(JOB_COUNT_KEY, field, 1)
        pipe.hincrbyfloat(JOB_SECONDS_KEY, field, seconds)
        pipe.hincrby(minute_key, field, 1)
        pipe.expire(minute_key, KEEP_SECONDS)
        pipe.execute()


def last_hour(connection: Redis) -> dict[str, dict[str, list[int]]]:
    """Each queue's jobs finished and failed in each of the last 60 minutes, oldest first, as
    {queue: {"finished": [60 counts], "failed": [60 counts]}}."""
    now = int(time.time() // 60)
    minutes = list(range(now - 59, now + 1))
    with connection.pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hgetall(MINUTE_KEY.format(minute))
        buckets = pipe.execute()
    series: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"finished": [0] * 60, "failed": [0] * 60})
    for index, bucket in enumerate(buckets):
        for field, count in bucket.items():
            queue, outcome = queue_and_outcome(field)
            if outcome in ("finished", "failed"):
                series[queue][outcome][index] = int(count)
    return series
