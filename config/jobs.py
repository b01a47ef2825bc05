"""The one way the hub puts work on its queues, and tells what became of a job.

Every job has a deterministic id (`webhook-<event id>`, `sms-...`, `family-...`), so the same work
asked for twice is one job. rq refuses a second job of an id that still exists
(`DuplicateJobError`); what to do then is decided here, once, for every app:

- `enqueue_unique`: the job of that id is already on its way; nothing more to do.
- `enqueue_replacing`: a live namesake (queued, scheduled, running) takes the work; a finished,
  failed or dead one (rq keeps results a day) is discarded and the job enqueued anew.
- `enqueue_or_follow`: as replacing, but a running namesake may have read the database already,
  so a follower (`<id>-again`) runs after it.

What became of a job is decided from facts a dead worker cannot fake (`job_state`), never from the
job's hash alone. The sweeps of each app ask it before they enqueue again what was lost.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from django.utils import timezone
from redis import Redis
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry
from rq.utils import as_text
from rq.worker import Worker

from config.queues import SPECS, enqueue, get_queue

logger = logging.getLogger(__name__)


def enqueue_unique(queue: str, func: str, *args: Any, job_id: str, **options: Any) -> bool:
    """Enqueue unless a job of that id exists (it is on its way, or its sweep decides); whether
    this call enqueued it. Redis errors are the caller's: the row that asked for the work stays."""
    try:
        enqueue(queue, func, *args, job_id=job_id, **options)
    except DuplicateJobError:
        return False
    return True


def enqueue_replacing(queue: str, func: str, *args: Any, job_id: str, **options: Any) -> bool:
    """Enqueue, unless a live job of that id will do the work; a finished or dead namesake is
    replaced. Whether this call enqueued it."""
    if enqueue_unique(queue, func, *args, job_id=job_id, **options):
        return True
    if job_live(job_id, queue):
        return False
    discard_job(job_id)
    # Another process may replace it at the same moment: then its job does the work.
    return enqueue_unique(queue, func, *args, job_id=job_id, **options)


def enqueue_or_follow(queue: str, func: str, *args: Any, job_id: str) -> None:
    """Make sure a job runs after the caller's commit. A waiting job of that id will read what was
    committed when it starts; a running one may have read the database already, so a second job
    (`<id>-again`) follows it; a finished, failed or dead one is replaced."""
    for candidate in (job_id, f"{job_id}-again"):
        if enqueue_unique(queue, func, *args, job_id=candidate):
            return
        state, _ = queue_job_state(candidate, queue)
        if state is JobState.LIVE:
            return
        if state is JobState.RUNNING:
            continue
        discard_job(candidate)
        # Enqueued by someone else meanwhile: it runs after our commit too.
        enqueue_unique(queue, func, *args, job_id=candidate)
        return
    logger.warning("job %s and its follower are both running: the sweep picks up what they miss", job_id)


def process_exists(pid: int) -> bool:
    """Whether a process of this machine has this pid (a worker's, as it registered)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # The process exists, run by another user.
    return True


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
        return False  # Its registration expired with its heartbeat: it is gone.
    if worker.get_current_job_id() != job.id:
        return False  # Alive, but no longer on this job: its bookkeeping of it was lost.
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
        return True  # Seen there for the first time: a later look decides.
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
    queue = get_queue("webhooks")  # Any queue will do: they share one connection and serializer.
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
