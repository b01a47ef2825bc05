"""Failed jobs of every queue in one list, for ops: what failed, for what, and why.

Reads rq's failed registries (the dead-letter queue); the business object a job was for is read
from its function and arguments (a webhook job's event, and through it the channel).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from config.queues import QUEUE_NAMES, get_queue

WEBHOOK_JOB = "channels_app.jobs.process_webhook_event"


@dataclass(frozen=True)
class FailedJob:
    queue: str
    job_id: str
    function: str
    args: tuple[object, ...]
    exception_type: str
    message: str
    traceback: str
    failed_at: datetime | None
    retries_left: int

    @property
    def queue_index(self) -> int:
        """django-rq's index of the queue, for its job page."""
        from django_rq.settings import get_queues_map

        return get_queues_map()[self.queue]

    @property
    def event_id(self) -> int | None:
        """The webhook event a webhook job was for."""
        if self.function == WEBHOOK_JOB and self.args and isinstance(self.args[0], int):
            return self.args[0]
        return None


def _describe(queue: str, job: Job) -> FailedJob:
    result = job.latest_result()
    traceback = (result.exc_string if result else "") or ""
    last = traceback.strip().splitlines()[-1] if traceback.strip() else "unknown error"
    exception_type, _, message = last.partition(": ")
    try:
        function, args = job.func_name or "", tuple(job.args)
    except Exception:  # a job whose data cannot be read is still listed, and can be deleted
        function, args = "(unreadable job data)", ()
    return FailedJob(
        queue=queue,
        job_id=job.id,
        function=function,
        args=args,
        exception_type=exception_type.rsplit(".", 1)[-1],
        message=message,
        traceback=traceback,
        failed_at=job.ended_at,
        retries_left=job.retries_left or 0,
    )


def failed_jobs(*, queue: str = "", exception_type: str = "", search: str = "") -> list[FailedJob]:
    """Every failed job matching the filters, newest first."""
    found = []
    for name in [queue] if queue else QUEUE_NAMES:
        q = get_queue(name)
        ids = q.failed_job_registry.get_job_ids()
        for job in Job.fetch_many(ids, connection=q.connection, serializer=q.serializer):
            if job is None:
                continue
            failed = _describe(name, job)
            if exception_type and failed.exception_type != exception_type:
                continue
            if search and search not in failed.job_id and search != str(failed.event_id or ""):
                continue
            found.append(failed)
    epoch = datetime.min.replace(tzinfo=None)
    return sorted(
        found, key=lambda f: f.failed_at.replace(tzinfo=None) if f.failed_at else epoch, reverse=True
    )


def counts_by_exception(jobs: list[FailedJob]) -> list[tuple[str, int]]:
    return Counter(job.exception_type for job in jobs).most_common()


def retry(queue: str, job_id: str) -> bool:
    q = get_queue(queue)
    try:
        q.failed_job_registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):  # gone, or no longer in the failed registry
        return False
    return True


def delete(queue: str, job_id: str) -> bool:
    q = get_queue(queue)
    try:
        q.failed_job_registry.remove(job_id, delete_job=True)
    except NoSuchJobError:
        return False
    return True
