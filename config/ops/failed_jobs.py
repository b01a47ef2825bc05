"""Failed jobs of every queue in one list, for ops: what failed, for what, and why.

Reads rq's failed registries (the dead-letter queue). What a job was for (its event, channel,
order, supplier, campaign) is told by the app that owns the job: `SUBJECTS` maps a job function
to a function of that app which describes, in a few queries, the jobs' first arguments
(healthchecks' TRANSPORTS pattern: dotted paths resolved when used, so config imports no app).
How a retry brings back what the job works on is told the same way, by `RETRIES`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time

from django.utils.module_loading import import_string
from django_rq.settings import get_queues_map
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from config.queues import QUEUE_NAMES, get_queue

WEBHOOK_JOB = "channels_app.jobs.process_webhook_event"

# Job function -> describer: `describe(first_args) -> {first_arg: Subject}`.
SUBJECTS: dict[str, str] = {
    WEBHOOK_JOB: "channels_app.job_subjects.webhook_job_subjects",
    "channels_app.jobs.run_sync": "channels_app.job_subjects.sync_job_subjects",
    "orders.jobs.push_fulfillment": "orders.job_subjects.fulfillment_job_subjects",
    "catalog_sync.jobs.sync_supplier": "catalog_sync.job_subjects.run_job_subjects",
    "catalog_sync.jobs.apply_family": "catalog_sync.job_subjects.family_job_subjects",
    "catalog_sync.jobs.fetch_image": "catalog_sync.job_subjects.image_job_subjects",
}

# Job function -> its app's retry hook, `prepare(first_arg, *, requested_by) -> RetryPlan`, called
# before the job is requeued: a job that ran for a row the app has closed since (a failed catalog
# run) would finish without doing anything, and the row would stay closed.
RETRIES: dict[str, str] = {
    "catalog_sync.jobs.sync_supplier": "catalog_sync.job_retries.run_job_retry",
}


@dataclass(frozen=True)
class RetryPlan:
    """What an app's retry hook did: whether the failed job still has to run (False when the hook
    started the work anew under another job), and what to tell ops ("reopened catalog run #5")."""

    requeue: bool = True
    note: str = ""


@dataclass(frozen=True)
class Retried:
    """One retry's outcome: whether the job was taken from the failed registry, and its app's note."""

    done: bool
    note: str = ""


@dataclass(frozen=True)
class Subject:
    """The business objects a job was for, as links, and what ops may search it by."""

    links: tuple[tuple[str, str], ...] = ()  # (text, admin url)
    channel_id: int | None = None
    search_terms: tuple[str, ...] = ()  # shop, order number, external ids

    def matches(self, text: str) -> bool:
        text = text.lower()
        return any(text in term.lower() for term in self.search_terms)


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
    attempts: int
    retries_left: int
    subject: Subject = field(default_factory=Subject)

    @property
    def queue_index(self) -> int:
        """django-rq's index of the queue, for its job page."""
        return get_queues_map()[self.queue]

    @property
    def event_id(self) -> int | None:
        """The webhook event a webhook job was for."""
        if self.function == WEBHOOK_JOB and self.args and isinstance(self.args[0], int):
            return self.args[0]
        return None


@dataclass(frozen=True)
class Filters:
    queue: str = ""
    exception_type: str = ""
    channel_id: int | None = None
    failed_from: date | None = None
    failed_to: date | None = None
    search: str = ""  # job id, event id, shop, order number

    def keep(self, job: FailedJob) -> bool:
        if self.exception_type and job.exception_type != self.exception_type:
            return False
        if self.channel_id is not None and job.subject.channel_id != self.channel_id:
            return False
        if self.failed_from and (job.failed_at is None or job.failed_at < _start_of(self.failed_from)):
            return False
        if self.failed_to and (job.failed_at is None or job.failed_at >= _start_of(self.failed_to, 1)):
            return False
        search = self.search
        return (
            not search or search in job.job_id or search == str(job.event_id) or job.subject.matches(search)
        )


def _start_of(day: date, plus_days: int = 0) -> datetime:
    return datetime.combine(date.fromordinal(day.toordinal() + plus_days), time.min, tzinfo=UTC)


def _describe(queue: str, job: Job) -> FailedJob:
    result = job.latest_result()
    traceback = (result.exc_string if result else "") or ""
    last = traceback.strip().splitlines()[-1] if traceback.strip() else "unknown error"
    exception_type, _, message = last.partition(": ")
    try:
        function, args = job.func_name or "", tuple(job.args)
    except Exception:  # A job whose data cannot be read is still listed, so that ops can delete it.
        function, args = "(unreadable job data)", ()
    failed_at = job.ended_at
    if failed_at is not None and failed_at.tzinfo is None:
        failed_at = failed_at.replace(tzinfo=UTC)  # rq stores its times in UTC, without saying so.
    return FailedJob(
        queue=queue,
        job_id=job.id,
        function=function,
        args=args,
        exception_type=exception_type.rsplit(".", 1)[-1],
        message=message,
        traceback=traceback,
        failed_at=failed_at,
        attempts=(job.number_of_retries or 0) + 1,
        retries_left=job.retries_left or 0,
    )


def _with_subjects(jobs: list[FailedJob]) -> list[FailedJob]:
    """Each job with what it was for: one describer call per job function, not one per job."""
    by_function: dict[str, list[FailedJob]] = defaultdict(list)
    for job in jobs:
        if job.function in SUBJECTS and job.args:
            by_function[job.function].append(job)
    subjects: dict[str, dict[object, Subject]] = {}
    for function, its_jobs in by_function.items():
        describe: Callable[[Iterable[object]], dict[object, Subject]] = import_string(SUBJECTS[function])
        subjects[function] = describe({job.args[0] for job in its_jobs})
    return [
        replace(job, subject=subjects[job.function].get(job.args[0], job.subject))
        if job.function in subjects
        else job
        for job in jobs
    ]


def failed_jobs(filters: Filters = Filters()) -> list[FailedJob]:
    """Every failed job matching the filters, newest first."""
    found: list[FailedJob] = []
    for name in [filters.queue] if filters.queue else QUEUE_NAMES:
        q = get_queue(name)
        ids = q.failed_job_registry.get_job_ids()
        found.extend(
            _describe(name, job)
            for job in Job.fetch_many(ids, connection=q.connection, serializer=q.serializer)
            if job is not None
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    kept = [job for job in _with_subjects(found) if filters.keep(job)]
    return sorted(kept, key=lambda f: f.failed_at or epoch, reverse=True)


def counts_by_exception(jobs: list[FailedJob]) -> list[tuple[str, int]]:
    return Counter(job.exception_type for job in jobs).most_common()


def retry(queue: str, job_id: str, *, requested_by: str = "") -> Retried:
    """Run a failed job again, after its app's retry hook (RETRIES) has reopened what it works on."""
    q = get_queue(queue)
    registry = q.failed_job_registry
    if job_id not in registry:  # Gone, or no longer failed: ops acted on it meanwhile.
        return Retried(done=False)
    plan = RetryPlan()
    try:
        job = Job.fetch(job_id, connection=q.connection, serializer=q.serializer)
        function, args = job.func_name or "", tuple(job.args)
    except Exception:  # A job whose data cannot be read is requeued as it is; its app cannot help.
        function, args = "", ()
    if function in RETRIES and args:
        prepare: Callable[..., RetryPlan] = import_string(RETRIES[function])
        plan = prepare(args[0], requested_by=requested_by)
    try:
        if plan.requeue:
            registry.requeue(job_id)
        else:
            registry.remove(job_id, delete_job=True)
    except (NoSuchJobError, InvalidJobOperation):
        return Retried(done=False, note=plan.note)
    return Retried(done=True, note=plan.note)


def delete(queue: str, job_id: str) -> bool:
    q = get_queue(queue)
    try:
        q.failed_job_registry.remove(job_id, delete_job=True)
    except NoSuchJobError:
        return False
    return True
