"""Enqueue-or-replace for the catalog's jobs, whose ids are deterministic.

The same work can be wanted again (a family changed twice, an image retried from the admin, a
sweep healing what Redis lost), so an id already taken is not an error: a waiting job is reused,
a finished, failed or dead one replaced, and a running one followed by a second job. Both the
pipeline and the product pushes enqueue this way; this module imports nothing of theirs, so
either can use it.
"""

from __future__ import annotations

from django.db import transaction

from config.jobs import JobState, enqueue_or_follow, queue_job_state


def job_gone(job_id: str, queue: str) -> bool:
    """Nothing will run the job: it is missing, finished, or was running on a dead worker."""
    return queue_job_state(job_id, queue)[0] is JobState.GONE


def enqueue_job(queue: str, func: str, arg: int | str, job_id: str) -> None:
    """Have a job with this id run after what the caller committed (config.jobs.enqueue_or_follow:
    a running namesake may have read the database already, so a follower runs after it)."""
    enqueue_or_follow(queue, func, arg, job_id=job_id)


def enqueue_on_commit(queue: str, func: str, arg: int | str, job_id: str) -> None:
    """`enqueue_job` once the caller's transaction commits. Robust: with Redis down what committed
    stays committed (the request answers), and the catalog sweep enqueues what is left."""

    def enqueue_after_commit() -> None:
        enqueue_job(queue, func, arg, job_id)

    transaction.on_commit(enqueue_after_commit, robust=True)
