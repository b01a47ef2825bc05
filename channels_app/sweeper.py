"""Healing and retention for webhook events.

The sweeper re-enqueues events whose job is gone: ENQUEUED rows that never reached Redis (it was
down when they arrived), and PROCESSING rows whose worker died mid-job. rq itself notices a dead
worker's job only at its maintenance pass (every 10 minutes) and, for an in-process worker, only
after the job's timeout; the event rows let the hub act sooner and with certainty.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry
from rq.utils import as_text
from rq.worker import Worker

from channels_app.intake import event_enqueue, queue_for
from channels_app.models import EventStatus, ProcessedWebhookEvent
from config.health import process_exists
from config.queues import SPECS, get_queue

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    examined: int = 0
    requeued: int = 0
    failed: int = 0
    still_running: int = 0
    redis_unavailable: bool = False

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}


def _worker_alive(job: Job, started_before: datetime) -> bool:
    """Is a live worker running `job`? Its registration expires when its heartbeat stops (rq
    renews it while the worker waits and while its job runs), it must name this job as its own,
    and on this machine its process must exist."""
    if not job.worker_name:
        return False
    queue = get_queue("webhooks")
    worker = Worker.find_by_key(
        Worker.redis_worker_namespace_prefix + job.worker_name, connection=queue.connection
    )
    if worker is None:
        return False  # its registration expired: it is gone
    if worker.get_current_job_id() != job.id:
        return False  # alive, but no longer on this job (its bookkeeping was lost)
    if worker.hostname == socket.gethostname() and worker.pid:
        return process_exists(worker.pid)
    # A worker on another machine: trust it until the job's own timeout has passed.
    return job.started_at is None or job.started_at > started_before


class JobState(Enum):
    LIVE = "live"  # queued, scheduled or deferred
    RUNNING = "running"  # started, by a worker that is alive
    FAILED = "failed"  # in the dead-letter queue: ops decide, the sweeper does not loop it
    GONE = "gone"  # missing, finished, stopped, or started by a dead worker


def queue_job_state(job_id: str, queue: str) -> tuple[JobState, str]:
    """`job_state` for a job of `queue`: a job started by a worker on another machine counts as
    live until the queue's timeout (and a minute) has passed."""
    return job_state(job_id, timezone.now() - timedelta(seconds=SPECS[queue].timeout + 60))


def job_live(job_id: str, queue: str) -> bool:
    """Whether a job of `queue` is queued, scheduled, or running on a live worker."""
    return queue_job_state(job_id, queue)[0] in (JobState.LIVE, JobState.RUNNING)


class QueueMembers:
    """Which jobs each queue's list holds, read once per sweep: asking Redis per job (LPOS) costs
    a scan of the whole backlog each time, and a sweep may ask about thousands of jobs."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection
        self._ids: dict[str, set[str]] = {}

    def holds(self, job: Job) -> bool:
        key = Queue.redis_queue_namespace_prefix + job.origin
        if job.origin not in self._ids:
            self._ids[job.origin] = {as_text(i) for i in self.connection.lrange(key, 0, -1)}
        # Not in the snapshot: enqueued since it was read, or truly gone; ask once to be sure.
        return job.id in self._ids[job.origin] or _in_queue(self.connection, job)


def _in_queue(connection: Redis, job: Job) -> bool:
    return connection.lpos(Queue.redis_queue_namespace_prefix + job.origin, job.id) is not None


# rq's worker of a single queue takes a job by moving it to the queue's intermediate list; it is
# there, still `queued`, until the worker records it as started, a moment later. One there for
# longer was taken by a worker that died: rq itself fails such a job after a minute, at its
# maintenance pass.
TAKEN_GRACE = timedelta(minutes=1)


def _being_taken(connection: Redis, job: Job) -> bool:
    """Whether a worker is taking `job` from its queue right now."""
    intermediate = IntermediateQueue(Queue.redis_queue_namespace_prefix + job.origin, connection)
    if connection.lpos(intermediate.key, job.id) is None:
        return False
    if intermediate.set_first_seen(job.id):
        return True  # seen there for the first time: decided at a later look
    first_seen = intermediate.get_first_seen(job.id)
    return first_seen is None or timezone.now() - first_seen < TAKEN_GRACE


def job_state(
    job_id: str, started_before: datetime, members: QueueMembers | None = None
) -> tuple[JobState, str]:
    """What became of a job, and for a failed one, its last error line.

    Decided from facts a dead worker cannot fake, never from the job's hash alone: a queued job is
    live while its queue's list holds it (a worker killed in its blocking pop can leave a child
    holding its connection, and Redis hands that connection the next job: the hash then says
    `queued` forever, in no queue); a scheduled or deferred one while its registry does; a
    started one while a worker with a fresh heartbeat runs it.
    """
    queue = get_queue("webhooks")  # every queue shares its connection and serializer
    connection = queue.connection
    try:
        job = Job.fetch(job_id, connection=connection, serializer=queue.serializer)
    except NoSuchJobError:
        return JobState.GONE, ""
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        held = members.holds(job) if members is not None else _in_queue(connection, job)
        return (JobState.LIVE if held or _being_taken(connection, job) else JobState.GONE), ""
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        registry = ScheduledJobRegistry if status == JobStatus.SCHEDULED else DeferredJobRegistry
        held = connection.zscore(registry(job.origin, connection=connection).key, job.id) is not None
        return (JobState.LIVE if held else JobState.GONE), ""
    if status == JobStatus.STARTED and _worker_alive(job, started_before):
        return JobState.RUNNING, ""
    if status == JobStatus.FAILED:
        result = job.latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result else []
        return JobState.FAILED, lines[-1] if lines else "the job failed"
    return JobState.GONE, ""


def events_sweep(*, enqueued_after: int | None = None, processing_timeout: int | None = None) -> SweepResult:
    """Re-enqueue every event stuck in ENQUEUED or PROCESSING whose job is gone.

    `enqueued_after` and `processing_timeout` (seconds) default to HUB_SWEEP_ENQUEUED_AFTER and
    HUB_EVENT_PROCESSING_TIMEOUT; a live job is never re-enqueued, whatever they are. An event
    whose job sits in the dead-letter queue is marked FAILED with the job's error, once: retrying
    it is for ops (it then runs again), not a loop of the sweeper's.
    """
    now = timezone.now()
    if enqueued_after is None:
        enqueued_after = settings.HUB_SWEEP_ENQUEUED_AFTER
    if processing_timeout is None:
        processing_timeout = settings.HUB_EVENT_PROCESSING_TIMEOUT
    job_timeout = timedelta(seconds=SPECS["webhooks"].timeout + 60)
    result = SweepResult()
    members = QueueMembers(get_queue("webhooks").connection)
    stuck = ProcessedWebhookEvent.stuck(
        enqueued_before=now - timedelta(seconds=enqueued_after),
        processing_before=now - timedelta(seconds=processing_timeout),
    )
    for event in (
        stuck.only("pk", "status", "attempts", "request_id", "source").order_by("pk").iterator(chunk_size=500)
    ):
        result.examined += 1
        try:
            state, error = job_state(event.job_id, started_before=now - job_timeout, members=members)
            if state in (JobState.LIVE, JobState.RUNNING):
                result.still_running += 1
                continue
            # Only if nobody moved the event since we read it.
            unchanged = ProcessedWebhookEvent.objects.filter(
                pk=event.pk, status=event.status, attempts=event.attempts
            )
            if state is JobState.FAILED:
                result.failed += unchanged.update(
                    status=EventStatus.FAILED, error_message=f"job failed: {error}", updated_at=timezone.now()
                )
                continue
            if event.status == EventStatus.PROCESSING and not unchanged.update(
                status=EventStatus.ENQUEUED,
                error_message="worker lost mid-job; re-enqueued",
                updated_at=timezone.now(),
            ):
                continue
            discard_job(event.job_id)
            if event_enqueue(event.pk, event.request_id, queue_for(event.source)):
                result.requeued += 1
            else:
                result.redis_unavailable = True
                break
        except RedisError as exc:
            logger.warning("sweep stopped, Redis unavailable: %s", exc)
            result.redis_unavailable = True
            break
    if result.examined:
        logger.info("event sweep done", extra=result.as_dict())
    return result


def discard_job(job_id: str) -> None:
    """Remove the dead job (and its registry entries) so its deterministic id can be reused: from
    its queue's intermediate list too, where rq would otherwise fail the job reusing the id."""
    queue = get_queue("webhooks")
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return
    intermediate = IntermediateQueue(Queue.redis_queue_namespace_prefix + job.origin, queue.connection)
    with queue.connection.pipeline() as pipeline:
        pipeline.lrem(intermediate.key, 0, job_id)
        pipeline.delete(intermediate.get_first_seen_key(job_id))
        pipeline.execute()
    job.delete()


def events_waiting() -> dict[str, tuple[int, float]]:
    """Per platform, events stored but still ENQUEUED past HUB_SWEEP_ENQUEUED_AFTER, and the
    oldest one's age in seconds: a backlog, or what Redis never got (the sweep enqueues it once
    Redis answers again, within a minute and a half)."""
    now = timezone.now()
    waiting = (
        ProcessedWebhookEvent.objects.filter(
            status=EventStatus.ENQUEUED,
            updated_at__lt=now - timedelta(seconds=settings.HUB_SWEEP_ENQUEUED_AFTER),
        )
        .values("source")
        .annotate(n=Count("pk"), oldest=Min("updated_at"))
        .order_by()
    )
    return {row["source"]: (row["n"], round((now - row["oldest"]).total_seconds(), 1)) for row in waiting}


def events_purge() -> dict[str, int]:
    """Delete COMPLETED and IGNORED events past their retention, and FAILED ones past theirs."""
    now = timezone.now()
    done_before = now - timedelta(seconds=settings.HUB_RETAIN_COMPLETED_EVENTS)
    failed_before = now - timedelta(seconds=settings.HUB_RETAIN_FAILED_EVENTS)
    deleted, _ = ProcessedWebhookEvent.objects.filter(
        Q(status__in=[EventStatus.COMPLETED, EventStatus.IGNORED], updated_at__lt=done_before)
        | Q(status=EventStatus.FAILED, updated_at__lt=failed_before)
    ).delete()
    if deleted:
        logger.info("purged %s old webhook events", deleted)
    return {"deleted": deleted}


def event_replay(event: ProcessedWebhookEvent) -> bool:
    """Run a stored event again (ops' re-process): back to ENQUEUED and onto the queue.

    Not while a job of it is live. Handlers are idempotent, so a replay of a COMPLETED event
    changes nothing unless what it reads changed: Shopee handlers fetch the current state again.
    """
    if event.payload is None:
        return False  # kept only as raw body: nothing a handler could read
    if job_state(event.job_id, started_before=timezone.now() - timedelta(hours=1))[0] in (
        JobState.LIVE,
        JobState.RUNNING,
    ):
        return False
    updated = ProcessedWebhookEvent.objects.filter(pk=event.pk, status=event.status).update(
        status=EventStatus.ENQUEUED, error_message="", ignored_reason="", updated_at=timezone.now()
    )
    if not updated:
        return False
    discard_job(event.job_id)
    return event_enqueue(event.pk, event.request_id, queue_for(event.source))
