"""Enqueue-or-replace for the catalog's jobs, whose ids are deterministic.

The same work can be wanted again (a family changed twice, an image retried from the admin, a
sweep healing what Redis lost), so an id already taken is not an error: a waiting job is reused,
a finished, failed or dead one replaced, and a running one followed by a second job. Both the
pipeline and the product pushes enqueue this way; this module imports nothing of theirs, so
either can use it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from rq.exceptions import DuplicateJobError

from channels_app.sweeper import JobState, discard_job, queue_job_state
from config.queues import enqueue

logger = logging.getLogger(__name__)


def job_gone(job_id: str, queue: str) -> bool:
    """Nothing will run the job: it is missing, finished, or was running on a dead worker."""
    return queue_job_state(job_id, queue)[0] is JobState.GONE


def enqueue_job(queue: str, func: str, arg: int | str, job_id: str) -> None:
    """Have a job with this id run after what the caller committed.

    A new id is simply enqueued (one Redis call: the common case). A job of that id waiting in
    the queue will read what was committed when it starts. A finished, failed or dead one is
    replaced (ids are deterministic; the same work can be wanted again). A running one may have
    read the database already: a second job (`-again`) follows it.
    """
    for candidate in (job_id, f"{job_id}-again"):
        try:
            enqueue(queue, func, arg, job_id=candidate)
            return
        except DuplicateJobError:
            pass
        state, _ = queue_job_state(candidate, queue)
        if state is JobState.LIVE:
            return
        if state is JobState.RUNNING:
            continue
        discard_job(candidate)
        try:
            enqueue(queue, func, arg, job_id=candidate)
        except DuplicateJobError:
            pass  # enqueued by someone else meanwhile: it runs after our commit too
        return
    logger.warning("job %s and its follower are both running: the sweep picks up what they miss", job_id)


def enqueue_on_commit(queue: str, func: str, arg: int | str, job_id: str) -> None:
    """`enqueue_job` once the caller's transaction commits. Robust: with Redis down what committed
    stays committed (the request answers), and the catalog sweep enqueues what is left."""

    def enqueue_after_commit() -> None:
        enqueue_job(queue, func, arg, job_id)

    transaction.on_commit(enqueue_after_commit, robust=True)
