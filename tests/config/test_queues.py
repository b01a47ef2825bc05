"""config.queues.enqueue: after a process's first job on a queue, a job is one Redis round trip."""

from __future__ import annotations

import pytest
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus

from config.queues import enqueue, get_queue


def test_the_second_job_is_stored_as_the_first_and_unique_too(redis_connection):  # noqa: ARG001
    first = enqueue("housekeeping", "bench.jobs.noop", 1, job_id="first")  # through rq's enqueue()
    second = enqueue("housekeeping", "bench.jobs.noop", 2, job_id="second")  # its script alone
    queue = get_queue("housekeeping")
    assert queue.job_ids == ["first", "second"]
    one, two = (queue.fetch_job(job.id) for job in (first, second))
    assert two.get_status() == one.get_status() == JobStatus.QUEUED
    assert (two.args, two.timeout, two.result_ttl, two.failure_ttl) == (
        [2],
        one.timeout,
        one.result_ttl,
        one.failure_ttl,
    )
    assert two.retries_left == one.retries_left and two.origin == one.origin == "housekeeping"
    with pytest.raises(DuplicateJobError):
        enqueue("housekeeping", "bench.jobs.noop", 3, job_id="second")
    assert queue.job_ids == ["first", "second"]


# A worker checks the process's database connections around every job, as in production: a test
# that ran before this one in the same process may have left one open.
@pytest.mark.django_db
def test_the_second_job_runs(run_worker, redis_connection):
    enqueue("housekeeping", "bench.jobs.noop", 1, job_id="first")
    enqueue("housekeeping", "bench.jobs.noop", 2, job_id="second")
    run_worker("housekeeping")
    assert get_queue("housekeeping").fetch_job("second").get_status() == JobStatus.FINISHED
