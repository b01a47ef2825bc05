"""Delivery jobs: their ids, enqueueing messages and a campaign's batches, and the sweep.

Each message records the id of the job that carries it (`job_id`) before that job is enqueued.
The sweep relies on it: it groups the unfinished messages by their job and asks Redis once per
job whether that job still lives, and it finds the messages even when Redis was down at enqueue
time. A campaign's messages go on `messaging-bulk`, so that the messages a person is waiting for
(an order shipped, the answer to their STOP) never wait behind a campaign on `messaging-delivery`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from rq.job import Job

from config.jobs import discard_job, enqueue_replacing, job_live
from config.queues import SPECS, get_queue, job_options
from messaging.models import Message, MessageStatus

# The job path is a public contract: failed jobs are retried by this name days later.
DELIVER_JOB = "messaging.jobs.deliver_messages"
BULK = "messaging-bulk"
BATCH = 100  # A campaign's delivery jobs carry this many messages each.


def delivery_job_id(message_ids: Sequence[int], at: datetime | None = None) -> str:
    """The job's id: `sms-<id>` for one message, `sms-<first id>_<count>` for a batch, followed by
    `-<due timestamp>` for a delivery scheduled later. The time keeps the id of a job scheduled by
    another job (a deferral, a hand-over) different from that job's own."""
    more = f"_{len(message_ids)}" if len(message_ids) > 1 else ""
    return f"sms-{message_ids[0]}{more}" + (f"-{int(at.timestamp())}" if at else "")


def messages_enqueue(
    message_ids: Sequence[int], *, at: datetime | None = None, attempt: int = 0, bulk: bool = False
) -> str:
    """Enqueue one delivery job for these messages, now or at `at`, and return its id.

    The job's id is written on the messages before the job is enqueued, so that the sweep still
    finds them by it if Redis is down. A campaign's messages (`bulk`) go on `messaging-bulk`, so
    that they wait behind the messages a person is waiting for, such as an order's shipping notice
    or the answer to their STOP."""
    ids = sorted(message_ids)
    job_id = delivery_job_id(ids, at)
    Message.objects.filter(pk__in=ids).update(job_id=job_id, updated_at=timezone.now())
    queue = BULK if bulk else "messaging-delivery"
    # A live job of that id takes these messages; a finished one (rq keeps results a day) is replaced.
    enqueue_replacing(queue, DELIVER_JOB, ids, attempt, job_id=job_id, at=at)
    return job_id


def batches_enqueue(batches: Sequence[Sequence[int]]) -> None:
    """Enqueue a campaign's delivery jobs, one per batch, in one Redis round trip (rq's
    enqueue_many in a pipeline). As in messages_enqueue, each batch's messages record their job's
    id first."""
    queue = get_queue(BULK)
    batches = [sorted(batch) for batch in batches if batch]
    with queue.connection.pipeline() as pipe:
        for batch in batches:
            pipe.exists(Job.key_for(delivery_job_id(batch)))
        present = pipe.execute()
    jobs = []
    for ids, exists in zip(batches, present, strict=True):
        job_id = delivery_job_id(ids)
        if exists:  # A retried fan-out: the batch's job is kept if it is still alive.
            if job_live(job_id, "messaging-delivery"):
                continue
            discard_job(job_id)
        Message.objects.filter(pk__in=ids).update(job_id=job_id, updated_at=timezone.now())
        jobs.append(
            queue.prepare_data(
                DELIVER_JOB, args=(ids, 0), job_id=job_id, timeout=SPECS[BULK].timeout, **job_options()
            )
        )
    if jobs:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def messages_defer(message_ids: list[int], until: datetime, *, bulk: bool) -> None:
    """Hold these queued messages until `until` (the end of the quiet hours, or of an automation's
    delay), and schedule one job for then."""
    Message.objects.filter(pk__in=message_ids, status=MessageStatus.QUEUED).update(
        send_after=until, updated_at=timezone.now()
    )
    messages_enqueue(message_ids, at=until, bulk=bulk)


def is_bulk(messages: Sequence[Message]) -> bool:
    """Whether these are a campaign's messages, which go on `messaging-bulk`."""
    return any(message.campaign_id is not None for message in messages)


def messages_sweep(*, older_than: int = 300, limit: int = 10_000) -> dict[str, int]:
    """Enqueue again the deliveries whose job is gone, and return how many messages were requeued
    and how many have a live job.

    Those are queued messages that are due (Redis lost their job, or was down when it was
    enqueued) and messages left SENDING by a worker that died (their new job looks for the send at
    the provider first). The stalest unfinished messages are grouped by the job that carries them,
    so Redis is asked once per job. Messages whose job lives are touched, so that the next pass, a
    minute later, looks further down a long backlog."""
    now = timezone.now()
    stale = now - timedelta(seconds=older_than)
    stuck = (
        Message.objects.filter(updated_at__lt=stale, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=stale))
        .order_by("updated_at")
        .values_list("pk", "job_id", "campaign_id")[:limit]
    )
    by_job: defaultdict[str, dict[bool, list[int]]] = defaultdict(lambda: {True: [], False: []})
    for pk, job_id, campaign_id in stuck:
        by_job[job_id][campaign_id is not None].append(pk)  # A campaign's go back on messaging-bulk.
    result = {"requeued": 0, "live": 0}
    live: list[int] = []
    for job_id, carried in by_job.items():
        if job_id and job_live(job_id, "messaging-delivery"):
            live += carried[True] + carried[False]
            continue
        if job_id:
            discard_job(job_id)
        for bulk, waiting in carried.items():
            waiting.sort()
            for start in range(0, len(waiting), BATCH):
                messages_enqueue(waiting[start : start + BATCH], bulk=bulk)
            result["requeued"] += len(waiting)
    for start in range(0, len(live), 1000):
        Message.objects.filter(pk__in=live[start : start + 1000]).update(updated_at=now)
    result["live"] = len(live)
    return result
