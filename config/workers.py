"""The worker every hub process runs, whoever starts it and with whatever flags.

`python manage.py rqworker <queues>` (django-rq) passes rq's pickle serializer explicitly and no
scheduler; this class (settings.RQ["WORKER_CLASS"]) overrides both, so ops cannot start a worker
that misreads the hub's JSON jobs or never fires a retry. It also:

- runs a queue's jobs in-process or in a forked child as config.queues declares for that queue;
- restores the request id from the job's meta, so the job's log lines carry the webhook's id;
- fails at once (no retry) on an exception marked `permanent`;
- on SIGTERM/SIGINT lets the current job finish; past HUB_WORKER_SHUTDOWN_GRACE seconds it stops
  the job and puts it back on its queue instead of losing it;
- runs rq's scheduler in a child that dies with the worker (HubScheduler);
- heart-beats every WORKER_TTL / 2 seconds, while idle and while an in-process job runs, so a
  worker with no fresh heartbeat is known to be gone within a minute (config.health);
- waits for Redis when it goes away and carries on when it is back, where rq would quit.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from django.conf import settings
from django.db import connections
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.job import Job, get_current_job
from rq.queue import Queue
from rq.scheduler import ForkProcess, RQScheduler
from rq.scheduler import run as run_scheduler
from rq.serializers import JSONSerializer

from config import throughput
from config.logs import request_id_context
from config.queues import SPECS

logger = logging.getLogger(__name__)

# Seconds between a worker's heartbeats are at most half this; past it with none, it is gone.
# rq's 420 s default would count a killed worker as alive for eight minutes.
WORKER_TTL = 30
REDIS_WAIT_MAX = 30  # seconds between attempts to reach Redis again, at most


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
    return True  # True lets rq's default handling go on.


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


class HubScheduler(RQScheduler):
    """rq's scheduler process, made to die with the worker that forked it.

    rq forks it from the worker, so it inherits the worker's Redis connections. If the worker is
    killed alone (the OOM killer kills one process, not its group) while blocked in its pop of the
    next job, a surviving child keeps that connection open, and Redis hands the next job to it:
    acknowledged, queued on paper, in no queue, run by nobody. So the child closes what it
    inherited at once, and ends when its parent does: the kernel signals it (Linux), and on every
    heartbeat it checks its parent is still its parent (elsewhere).
    """

    _parent_pid = 0  # The worker's pid, set in the child, which checks it is still its parent.

    def start(self) -> Any:
        self._status = self.Status.STARTED
        self._connection = None  # The child makes its own, as rq's start does: none is shared.
        process = ForkProcess(target=_scheduler_child, args=(self, os.getpid()), name="Scheduler")
        self._process = process  # type: ignore[assignment]  # rq declares it None
        # A stop asked for while the child starts (the worker stopping at once) must reach its
        # handler, which releases the scheduler's locks: killed by a SIGTERM it does not handle
        # yet, it would hold them a minute, and no other worker would schedule meanwhile.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return process

    def work(self) -> None:
        """rq's loop, which ends the scheduler at the first Redis error: here it waits for Redis
        and goes on (the worker would start a new scheduler only at its next maintenance pass)."""
        pause = 1.0
        while True:
            try:
                return super().work()
            except RedisError as exc:
                if self._stop_requested:
                    return None
                self.log.warning("Scheduler: Redis unavailable (%s); waiting for it", exc)
                time.sleep(pause)
                pause = min(pause * 2, REDIS_WAIT_MAX)

    def heartbeat(self) -> None:
        if self._parent_pid and os.getppid() != self._parent_pid:
            self.log.warning("Scheduler: its worker (pid %s) is gone; stopping", self._parent_pid)
            self.request_stop()
        super().heartbeat()


_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _scheduler_child(scheduler: HubScheduler, parent_pid: int) -> None:
    for signum in _STOP_SIGNALS:
        signal.signal(signum, scheduler.request_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # Its handler stops the scheduler's loop.
    scheduler._parent_pid = parent_pid
    if os.getppid() != parent_pid:
        scheduler.request_stop()  # The worker died before the death signal was asked for.
    _close_inherited_sockets()
    run_scheduler(scheduler)


def _close_inherited_sockets() -> None:
    """Close every socket this forked child inherited (Redis, the database, HTTP pools): the
    parent's, not its own. Python-level close, so no object later closes a reused descriptor."""
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            obj.close()


class HubWorker(Worker):
    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs["worker_ttl"] = WORKER_TTL  # Set here: rqworker passes its own --worker-ttl default of 420.
        kwargs["exception_handlers"] = [retry_unless_permanent, *(kwargs.get("exception_handlers") or [])]
        super().__init__(queues, *args, **kwargs)
        # A worker serving several queues forks if any of them asks for isolation.
        self.in_process = all(SPECS.get(q.name) and SPECS[q.name].in_process for q in self.queues)
        self._grace_timer: threading.Timer | None = None
        self._beater: threading.Thread | None = None
        self._running: Job | None = None  # The in-process job under way, for the heartbeat thread.

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # Retries are scheduled jobs: without a scheduler they would never run again.
        kwargs["with_scheduler"] = True
        return super().work(*args, **kwargs)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """rq's, with HubScheduler (rq builds its own scheduler class here, with no hook)."""
        self.scheduler = HubScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

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
        try:
            if self.in_process:
                self._start_heartbeat_thread()
                self._running = job
                try:
                    SimpleWorker.execute_job(self, job, queue)  # type: ignore[arg-type]
                finally:
                    self._running = None
            else:
                super().execute_job(job, queue)
        except RedisError as exc:
            # The job ran (or not); only rq's bookkeeping of it failed. Its row says what happened
            # and the sweepers act on that: this worker waits for Redis and goes on.
            logger.warning("worker %s: Redis lost while finishing job %s: %s", self.name, job.id, exc)
            self._wait_for_redis()

    def _start_heartbeat_thread(self) -> None:
        """rq's in-process execution sends no heartbeat while a job runs: this thread does, every
        WORKER_TTL / 2 seconds, so a long job does not make a live worker look dead. One thread
        for the worker's life: a thread per job would cost more than a short job."""
        if self._beater is not None:
            return

        def beat() -> None:
            while True:
                time.sleep(WORKER_TTL / 2)
                job = self._running
                if job is None:
                    continue
                try:
                    # rq's own heartbeat, not this class's: it never waits for Redis to come back.
                    Worker.heartbeat(self, self.get_heartbeat_ttl(job))
                except RedisError:
                    pass  # The next beat, or the job's end, finds whether Redis is back.

        self._beater = threading.Thread(target=beat, name="heartbeat", daemon=True)
        self._beater.start()

    # rq quits its loop on any Redis error outside its blocking pop (and on a Redis timeout even
    # there): a Redis restart would stop every worker. These wait for Redis instead and go on.

    def check_for_suspension(self, burst: bool) -> None:
        self._patiently(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._patiently(super().run_maintenance_tasks)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        self._patiently(super().heartbeat, timeout)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        return self._patiently(super().dequeue_job_and_maintain_ttl, timeout, max_idle_time)

    def teardown(self) -> None:
        try:
            super().teardown()
        except RedisError as exc:  # Stopping while Redis is away: its registration expires alone.
            logger.warning("worker %s: stopped without unregistering, Redis unavailable: %s", self.name, exc)

    def _patiently(self, method: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                return method(*args)
            except RedisError as exc:
                logger.warning("worker %s: Redis unavailable (%s); waiting for it", self.name, exc)
                self._wait_for_redis()

    def _wait_for_redis(self) -> None:
        """Until Redis answers, with a growing pause; a stop request (SIGTERM) ends the wait."""
        pause = 1.0
        while True:
            if self._stop_requested:
                raise StopRequested()
            time.sleep(pause)
            try:
                self.connection.ping()
            except RedisError:
                pause = min(pause * 2, REDIS_WAIT_MAX)
                continue
            logger.info("worker %s: Redis is back", self.name)
            return

    def get_heartbeat_ttl(self, job: Job) -> int:
        if self.in_process:
            return SimpleWorker.get_heartbeat_ttl(self, job)  # type: ignore[arg-type]
        return super().get_heartbeat_ttl(job)

    def perform_job(self, job: Job, queue: Queue) -> bool:
        started = time.monotonic()
        # A long-lived worker is not a request: Django would never drop a connection the database
        # closed (a restart, a failover) or one past CONN_MAX_AGE. Do it around every job.
        drop_stale_connections()
        try:
            with request_id_context(job.meta.get("request_id")):
                succeeded = super().perform_job(job, queue)
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()  # The job ended within the grace period.
            drop_stale_connections()
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

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        global _forked_child
        _forked_child = True  # This is the job's forked child, which exits after the job.
        super().main_work_horse(job, queue)


_forked_child = False


def in_forked_child() -> bool:
    """Whether this process is a forked worker's child, made for one job."""
    return _forked_child


def drop_stale_connections() -> None:
    """Django's close_old_connections, except for a connection inside a transaction (a test's)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _raise_shutdown_timeout(signum: int, frame: FrameType | None) -> None:
    # Only inside the job's own code (rq keeps the running job on a stack while it runs), never in
    # rq's bookkeeping around it, where the exception would record a finished job as failed.
    if get_current_job() is not None:
        raise ShutdownTimeout("worker shut down before the job finished; it will run again")
