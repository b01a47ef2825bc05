"""Healing and retention for webhook events.

The sweeper re-enqueues events whose job is gone: ENQUEUED rows that never reached Redis (it was
down when they arrived), and PROCESSING rows whose worker died mid-job. rq itself notices a dead
worker's job only at its maintenance pass (every 10 minutes) and, for an in-process worker, only
after the job's timeout; the event rows let the hub act sooner and with certainty.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from redis.exceptions import RedisError

from channels_app.intake import event_enqueue, queue_for
from channels_app.models import EventStatus, ProcessedWebhookEvent
from config.jobs import JobState, QueueMembers, discard_job, job_state
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
    """Delete COMPLETED and IGNORED events past their retention, and FAILED ones (and those still
    waiting for a mapping) past theirs."""
    now = timezone.now()
    done_before = now - timedelta(seconds=settings.HUB_RETAIN_COMPLETED_EVENTS)
    failed_before = now - timedelta(seconds=settings.HUB_RETAIN_FAILED_EVENTS)
    deleted, _ = ProcessedWebhookEvent.objects.filter(
        Q(status__in=[EventStatus.COMPLETED, EventStatus.IGNORED], updated_at__lt=done_before)
        | Q(status__in=[EventStatus.FAILED, EventStatus.NEEDS_MAPPING], updated_at__lt=failed_before)
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
        return False  # It is kept only as its raw body, which no handler could read.
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
