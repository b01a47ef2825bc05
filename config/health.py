"""Liveness, readiness and queue metrics for load balancers, uptime checks and Prometheus."""

from __future__ import annotations

import hmac
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from redis import Redis
from redis.exceptions import RedisError
from rq.queue import Queue
from rq.utils import as_text
from rq.worker import BaseWorker, Worker

from channels_app.models import ProcessedWebhookEvent
from channels_app.sweeper import events_waiting
from config.jobs import process_exists
from config.queues import QUEUE_NAMES, get_queue
from config.throughput import JOB_COUNT_KEY, JOB_SECONDS_KEY, queue_and_outcome
from config.workers import WORKER_TTL


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError as exc:
        return f"unavailable: {exc.__class__.__name__}"


def _check_redis() -> str:
    try:
        get_queue("webhooks").connection.ping()
        return "ok"
    except RedisError as exc:
        return f"unavailable: {exc.__class__.__name__}"


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks = {"database": _check_database(), "redis": _check_redis()}
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", **checks}, status=200 if ready else 503
    )


# A worker heart-beats every WORKER_TTL / 2 seconds (config.workers); a forking worker's parent
# every 30 s while its child runs a job (rq's job monitoring interval).
HEARTBEAT_FRESH = max(WORKER_TTL, 30) + 15


def live_workers(queue: Queue) -> list[BaseWorker]:
    """The workers of `queue` that are alive: a heartbeat within HEARTBEAT_FRESH seconds, and on
    this machine a process. A killed worker stays registered until its key expires; it is not
    counted meanwhile."""
    return [worker for worker in Worker.all(queue=queue) if _alive(worker)]


def _alive(worker: BaseWorker) -> bool:
    beat = worker.last_heartbeat
    fresh_after = datetime.now(UTC) - timedelta(seconds=HEARTBEAT_FRESH)
    if beat is None or (beat if beat.tzinfo else beat.replace(tzinfo=UTC)) < fresh_after:
        return False
    return not (worker.hostname == socket.gethostname() and worker.pid and not process_exists(worker.pid))


def live_workers_here(queue_names: Sequence[str] = ()) -> list[BaseWorker]:
    """The live workers of this machine (a container: its own hostname and processes) serving every
    queue named, for a health check run beside them. Raises RedisError when Redis does not answer."""
    here = socket.gethostname()
    return [
        worker
        for worker in Worker.all(connection=get_queue("housekeeping").connection)
        if worker.hostname == here and _alive(worker) and set(queue_names) <= set(worker.queue_names())
    ]


# The scheduler (manage.py run_scheduler) says it is alive every SCHEDULER_BEAT seconds under a key
# of its host and pid that expires after SCHEDULER_TTL: a scheduler that stops, hangs or loses Redis
# is gone from Redis within the TTL, and a killed one at once to a check on its host (its pid).
SCHEDULER_BEAT = 10
SCHEDULER_TTL = 45
_SCHEDULER_KEY = "hub:scheduler:{host}:{pid}"


def scheduler_heartbeat(connection: Redis) -> None:
    key = _SCHEDULER_KEY.format(host=socket.gethostname(), pid=os.getpid())
    connection.set(key, int(time.time()), ex=SCHEDULER_TTL)


def scheduler_stopped(connection: Redis) -> None:
    connection.delete(_SCHEDULER_KEY.format(host=socket.gethostname(), pid=os.getpid()))


def live_schedulers_here() -> list[int]:
    """The pids of this machine's schedulers with a heartbeat in the last SCHEDULER_TTL seconds."""
    connection = get_queue("housekeeping").connection
    pattern = _SCHEDULER_KEY.format(host=socket.gethostname(), pid="*")
    pids = [int(as_text(key).rsplit(":", 1)[1]) for key in connection.scan_iter(match=pattern)]
    return sorted(pid for pid in pids if process_exists(pid))


def queue_stats() -> list[dict[str, Any]]:
    stats = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        oldest = queue.connection.lindex(queue.key, 0)
        oldest_job = queue.fetch_job(as_text(oldest)) if oldest else None
        stats.append(
            {
                "queue": name,
                "queued": queue.count,
                "started": queue.started_job_registry.count,
                "scheduled": queue.scheduled_job_registry.count,
                "deferred": queue.deferred_job_registry.count,
                "finished": queue.finished_job_registry.count,
                "failed": queue.failed_job_registry.count,
                "workers": len(live_workers(queue)),
                "oldest_queued_age_seconds": (
                    round(time.time() - oldest_job.enqueued_at.timestamp(), 1)
                    if oldest_job and oldest_job.enqueued_at
                    else 0
                ),
            }
        )
    return stats


@require_GET
def queue_health(request: HttpRequest) -> HttpResponse:
    try:
        queues = queue_stats()
    except RedisError as exc:
        return JsonResponse({"status": "unavailable", "redis": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "queues": queues})


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


@require_GET
def queue_metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        return HttpResponse("metrics token required\n", status=401, content_type="text/plain")
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    # Each source on its own: with Redis down, what the database holds is what ops need most.
    try:
        queues = queue_stats()
        redis = get_queue("webhooks").connection
        counts = redis.hgetall(JOB_COUNT_KEY)
        seconds = redis.hgetall(JOB_SECONDS_KEY)
    except RedisError:
        queues = []
    metric("hub_redis_up", "gauge", "Whether Redis answered this scrape.", [({}, int(bool(queues)))])
    if queues:
        _queue_metrics(metric, queues, counts, seconds)
    try:
        by_status = (
            ProcessedWebhookEvent.objects.values("source", "status").annotate(n=Count("pk")).order_by()
        )
        waiting = events_waiting()
    except DatabaseError:
        lines.append("# database unavailable: hub_webhook_events omitted")
    else:
        metric(
            "hub_webhook_events",
            "gauge",
            "Stored webhook events by platform and status.",
            [({"source": row["source"], "status": row["status"]}, row["n"]) for row in by_status],
        )
        metric(
            "hub_webhook_events_waiting",
            "gauge",
            "Events stored but not yet processed past the sweep's delay (a backlog, or Redis was down).",
            [({"source": source}, n) for source, (n, _) in sorted(waiting.items())],
        )
        metric(
            "hub_webhook_events_waiting_oldest_seconds",
            "gauge",
            "Age of the oldest such event.",
            [({"source": source}, age) for source, (_, age) in sorted(waiting.items())],
        )
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")


Metric = Callable[[str, str, str, list[tuple[dict[str, str], float]]], None]


def _queue_metrics(
    metric: Metric,
    queues: list[dict[str, Any]],
    counts: dict[bytes | str, bytes | str],
    seconds: dict[bytes | str, bytes | str],
) -> None:
    for state in ("queued", "started", "scheduled", "deferred", "finished", "failed"):
        metric(
            f"hub_queue_{state}_jobs",
            "gauge",
            f"Jobs {state} per queue.",
            [({"queue": q["queue"]}, q[state]) for q in queues],
        )
    metric(
        "hub_queue_workers",
        "gauge",
        "Workers alive (a fresh heartbeat) per queue.",
        [({"queue": q["queue"]}, q["workers"]) for q in queues],
    )
    metric(
        "hub_queue_oldest_job_age_seconds",
        "gauge",
        "Age of the oldest queued job.",
        [({"queue": q["queue"]}, q["oldest_queued_age_seconds"]) for q in queues],
    )

    def by_queue_and_outcome(
        counter: dict[bytes | str, bytes | str], cast: type[int] | type[float]
    ) -> list[tuple[dict[str, str], float]]:
        samples = []
        for field, value in sorted(counter.items()):
            queue, outcome = queue_and_outcome(field)
            samples.append(({"queue": queue, "status": outcome}, cast(value)))
        return samples

    metric(
        "hub_job_duration_seconds_count",
        "counter",
        "Jobs run, by queue and outcome.",
        by_queue_and_outcome(counts, int),
    )
    metric(
        "hub_job_duration_seconds_sum",
        "counter",
        "Seconds spent running jobs, by queue and outcome.",
        by_queue_and_outcome(seconds, float),
    )
