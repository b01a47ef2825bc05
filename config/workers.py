"""The worker every hub process runs, whoever starts it and with whatever flags.

`python manage.py rqworker <queues>` (django-rq) passes rq's pickle serializer explicitly and no
scheduler; this class (settings.RQ["WORKER_CLASS"]) overrides both, so ops cannot start a worker
that misreads the hub's JSON jobs or never fires a retry. It also:

- runs a queue's jobs in-process or in a forked child as config.queues declares for that queue;
- restores the request id from the job's meta, so the job's log lines carry the webhook's id;
- fails at once (no retry) on an exception marked `permanent`;
- on SIGTERM/SIGINT lets the current job finish; past HUB_WORKER_SHUTDOWN_GRACE seconds it stops
  the job and puts it back on its queue instead of losing it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from django.conf import settings
from django.db import connections
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.job import Job, get_current_job
from rq.queue import Queue
from rq.serializers import JSONSerializer

from config import throughput
from config.logs import request_id_context
from config.queues import SPECS

logger = logging.getLogger(__name__)


class ShutdownTimeout(BaseException):
    """Raised inside an in-process job when the worker's shutdown grace period is over.

    A BaseException so that a job's own `except Exception` cannot swallow it.
    """


def retry_unless_permanent(
    job: Job, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType
) -> bool:
    """rq exception handler: a permanent error uses up the job's retries; a shutdown keeps one."""
    if getattr(exc_value, "permanent", False):
        job.retries_left = 0
    elif isinstance(exc_value, ShutdownTimeout):
        job.retries_left = max(job.retries_left or 0, 1)
    return True  # go on to rq's default handling


def job_will_retry(exc: BaseException) -> bool:
    """Whether rq runs the current job again after `exc`, as `retry_unless_permanent` decides: after
    a shutdown always, after a permanent error never, else while it has retries left."""
    if isinstance(exc, ShutdownTimeout):
        return True
    job = get_current_job()
    return not getattr(exc, "permanent", False) and job is not None and (job.retries_left or 0) > 0


def running_as_job(job_id: str) -> bool:
    """Whether this code runs as rq job `job_id`. Job ids are unique: when a row is named by its
    job's id, that job runs again (a retry) may take the row back from a claimed state."""
    job = get_current_job()
    return job is not None and job.id == job_id


class HubWorker(Worker):
    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs["exception_handlers"] = [retry_unless_permanent, *(kwargs.get("exception_handlers") or [])]
        super().__init__(queues, *args, **kwargs)
        # A worker serving several queues forks if any of them asks for isolation.
        self.in_process = all(SPECS.get(q.name) and SPECS[q.name].in_process for q in self.queues)
        self._grace_timer: threading.Timer | None = None

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # Retries are scheduled jobs: without a scheduler they would never run again.
        kwargs["with_scheduler"] = True
        return super().work(*args, **kwargs)

    def subscribe(self) -> None:
        """rq's, with a 1 s read timeout instead of 60 s. rq listens for its commands (stop a job,
        shut down) in a thread; redis-py 8.2's PubSubWorkerThread.stop() waits for that thread's
        read to end, so a worker whose subscription was not yet confirmed took a minute to stop
        (and a burst run a minute to return)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def execute_job(self, job: Job, queue: Queue) -> None:
        if self.in_process:
            SimpleWorker.execute_job(self, job, queue)  # type: ignore[arg-type]
        else:
            super().execute_job(job, queue)

    def get_heartbeat_ttl(self, job: Job) -> int:
        if self.in_process:
            return SimpleWorker.get_heartbeat_ttl(self, job)  # type: ignore[arg-type]
        return super().get_heartbeat_ttl(job)

    def perform_job(self, job: Job, queue: Queue) -> bool:
        started = time.monotonic()
        # A long-lived worker is not a request: Django would never drop a connection the database
        # closed (a restart, a failover) or one past CONN_MAX_AGE. Do it around every job.
        _drop_stale_connections()
        try:
            with request_id_context(job.meta.get("request_id")):
                succeeded = super().perform_job(job, queue)
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()  # the job ended within the grace period
            _drop_stale_connections()
        try:
            throughput.record(
                self.connection, queue.name, succeeded=succeeded, seconds=time.monotonic() - started
            )
        except RedisError as exc:
            logger.warning("job metrics not recorded: %s", exc)
        return succeeded

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        super().request_stop(signum, frame)
        if self._stop_requested and self._grace_timer is None:
            grace = settings.HUB_WORKER_SHUTDOWN_GRACE
            logger.info("worker %s: waiting up to %ss for the current job", self.name, grace)
            self._grace_timer = threading.Timer(grace, self._stop_current_job)
            self._grace_timer.daemon = True
            self._grace_timer.start()

    def _stop_current_job(self) -> None:
        logger.warning("worker %s: shutdown grace period over, requeueing the current job", self.name)
        if self.in_process:
            # Interrupt the job in this process; the handler above turns it into a requeue.
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
        else:
            self.kill_horse()

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        signal.signal(signal.SIGUSR1, _raise_shutdown_timeout)


def _drop_stale_connections() -> None:
    """Django's close_old_connections, except for a connection inside a transaction (a test's)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _raise_shutdown_timeout(signum: int, frame: FrameType | None) -> None:
    # Only inside the job's own code (rq keeps the running job on a stack while it runs), never in
    # rq's bookkeeping around it, where the exception would record a finished job as failed.
    if get_current_job() is not None:
        raise ShutdownTimeout("worker shut down before the job finished; it will run again")
