"""The hub's named RQ queues, and the one way jobs get onto them.

Each queue says how long its jobs may run, how many worker processes `make run` starts for it,
and whether its jobs run in the worker's own process or in a forked child:

- in-process (rq's SimpleWorker behaviour, ~6x the job rate here): short database-bound jobs that
  arrive in volume (webhook events, SMS sends, housekeeping). A crash takes the worker down, and
  the sweeper re-enqueues what it held.
- forked (rq's Worker): long or memory-hungry jobs (syncs, catalog feeds, images) where a leak or a
  hard crash must not outlive the job, and the parent keeps heart-beating while the child works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from rq import Retry
from rq.job import JobStatus

from config.logs import current_request_id

if TYPE_CHECKING:
    from rq import Queue
    from rq.job import Job

JSON_SERIALIZER = "rq.serializers.JSONSerializer"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    timeout: int  # seconds a job may run before rq stops it
    workers: int  # worker processes in production (docker-compose.yml); `make run` runs one per group
    in_process: bool


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("webhooks", timeout=60, workers=2, in_process=True),
    QueueSpec("channel-sync", timeout=1800, workers=1, in_process=False),
    QueueSpec("fulfillment", timeout=120, workers=1, in_process=False),
    # Coalesced stock pushes: short, and never behind a 30-minute catalogue import.
    QueueSpec("stock-push", timeout=120, workers=1, in_process=True),
    QueueSpec("shipment-tracking", timeout=120, workers=1, in_process=False),
    QueueSpec("catalog-supplier", timeout=1800, workers=1, in_process=False),
    # Families and images: short jobs that come by the thousand. Forking for each cost more than
    # the job (measured: ~16 ms of a ~30 ms family write) and 14 forking workers starved 2 cores.
    QueueSpec("catalog-family", timeout=300, workers=3, in_process=True),
    QueueSpec("catalog-images", timeout=120, workers=10, in_process=True),
    # Products a catalog sync changed, pushed to the channels that asked for them: its own queue, so
    # thousands of them after a big sync wait behind neither stock pushes nor a feed.
    QueueSpec("catalog-push", timeout=300, workers=1, in_process=True),
    QueueSpec("messaging-events", timeout=60, workers=1, in_process=True),
    QueueSpec("messaging-automations", timeout=60, workers=1, in_process=True),
    QueueSpec("messaging-campaigns", timeout=1800, workers=1, in_process=False),
    QueueSpec("messaging-delivery", timeout=60, workers=2, in_process=True),
    # Campaigns' delivery batches: their own queue, listed after messaging-delivery by its
    # workers, so an order's "shipped" never waits behind a 100,000-contact campaign.
    QueueSpec("messaging-bulk", timeout=60, workers=2, in_process=True),
    QueueSpec("housekeeping", timeout=600, workers=1, in_process=True),
)
QUEUE_NAMES = tuple(spec.name for spec in QUEUES)
SPECS = {spec.name: spec for spec in QUEUES}


def rq_queues(redis_url: str, *, sentinels: list[str], sentinel_master: str) -> dict[str, dict[str, Any]]:
    """django-rq's RQ_QUEUES for every named queue, all on one Redis connection."""
    if sentinels:
        # REDIS_URL, if given, only says the database number and password of the master.
        parts = urlsplit(redis_url if redis_url.startswith(("redis://", "rediss://")) else "redis://")
        timeouts = {"socket_timeout": 2, "socket_connect_timeout": 1}
        connection: dict[str, Any] = {
            "SENTINELS": [(host, int(port)) for host, _, port in (s.rpartition(":") for s in sentinels)],
            "MASTER_NAME": sentinel_master,
            "DB": int(parts.path.lstrip("/") or 0),
            "USERNAME": parts.username,
            "PASSWORD": parts.password,
            "SOCKET_TIMEOUT": 2,
            "CONNECTION_KWARGS": {"socket_connect_timeout": 1},
            "SENTINEL_KWARGS": timeouts,  # an unanswering sentinel must not hold a webhook either
        }
    else:
        connection = {"URL": _with_timeouts(redis_url)}
    return {
        spec.name: {**connection, "DEFAULT_TIMEOUT": spec.timeout, "SERIALIZER": JSON_SERIALIZER}
        for spec in QUEUES
    }


def _with_timeouts(redis_url: str) -> str:
    """Bound connecting and each command: a Redis that does not answer must not hold a webhook
    past the platform's timeout (the event is stored; the sweeper enqueues it later). Workers raise
    the command timeout themselves above their blocking dequeue."""
    base, _, query_string = redis_url.partition("?")
    query = dict(parse_qsl(query_string))
    query.setdefault("socket_connect_timeout", "1")
    query.setdefault("socket_timeout", "2")
    return f"{base}?{urlencode(query)}"


@cache
def get_queue(name: str) -> Queue:
    """One Queue (and so one connection pool) per queue name per process.

    django_rq.get_queue() builds a new pool on every call, which costs ~6x the enqueue rate.
    """
    # Imported here: settings imports this module, and django_rq reads the settings on import.
    import django_rq

    return django_rq.get_queue(name, commit_mode="auto")


def job_options(*, retry: bool = True, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """What every hub job carries: result and failure TTLs, the retry backoff, and the request id
    of what caused it (with `meta`)."""
    intervals = settings.HUB_JOB_RETRY_INTERVALS
    return {
        "result_ttl": settings.HUB_JOB_RESULT_TTL,
        "failure_ttl": settings.HUB_JOB_FAILURE_TTL,
        "retry": Retry(max=len(intervals), interval=intervals) if retry and intervals else None,
        "meta": {"request_id": current_request_id(), **(meta or {})},
    }


def enqueue(
    queue_name: str,
    func: str,
    *args: Any,
    job_id: str,
    retry: bool = True,
    meta: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Job:
    """Enqueue `func` (a dotted path) now (or at `at`, by the workers' scheduler), uniquely by
    `job_id`.

    Raises rq's DuplicateJobError when a job with that id still exists, and redis errors when
    Redis is unreachable: callers decide (the row that asked for the work stays the record).
    Call it after the transaction that wrote the work commits (`transaction.on_commit`).
    """
    queue = get_queue(queue_name)
    options = job_options(retry=retry, meta=meta)
    if at is not None:
        # rq's enqueue_at drops `unique`: the job is built and scheduled uniquely by hand.
        job = queue.create_job(
            func,
            args=args,
            job_id=job_id,
            timeout=SPECS[queue_name].timeout,
            status=JobStatus.SCHEDULED,
            **options,
        )
        return queue.schedule_job(job, at, unique=True)
    if queue_name in _named_in_redis:
        # rq names the queue in its set of queues (rq:queues, read only by listings such as
        # `rq info`) on every enqueue: a round trip of its own before the job's. Once per process
        # is enough, and the job is then one round trip (rq's atomic unique-enqueue script).
        job = queue.create_job(
            func,
            args=args,
            job_id=job_id,
            timeout=SPECS[queue_name].timeout,
            status=JobStatus.QUEUED,
            **options,
        )
        return queue._enqueue_job(job, unique=True)
    job = queue.enqueue(
        func, *args, job_id=job_id, unique=True, job_timeout=SPECS[queue_name].timeout, **options
    )
    _named_in_redis.add(queue_name)
    return job


_named_in_redis: set[str] = set()  # the queues this process has enqueued to through rq's enqueue()
