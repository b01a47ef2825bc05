"""A webhook job drains the backlog behind its own event: batches of fresh events, one job's cost.

rq spends a dozen Redis round trips on every job, so one job per event cannot go faster than rq
runs empty jobs. The job of an event therefore also claims up to `BATCH - 1` other ENQUEUED events
of its queue that never ran (one UPDATE ... RETURNING, `ProcessedWebhookEvent.claim_mates`), takes
their own jobs off the queue (one Lua call), and runs each one after its own event, each in its
own transaction with its final status, exactly as its own job would have.

What keeps this loss-proof:
- A mate whose handler raises is not failed by the batch: it goes back to ENQUEUED with the error
  and its own job is enqueued again, which runs it alone, through the ordinary path (retries with
  backoff, FAILED and a failed job in the dead-letter queue that ops retry). One poisoned event
  costs its batch-mates nothing.
- A worker killed mid-batch leaves the mates it had not finished PROCESSING, with no job: the
  sweeper takes them back (their job is gone) and enqueues them again, as for any lost job. What
  it had finished is committed with its final status, so nothing runs twice.
- The batch stops starting mates after `BUDGET_SECONDS` and gives back the rest, well before the
  queue's timeout (60 s) and the sweeper's PROCESSING timeout (60 s) could take them.
- Order is the events' order (by id), as the queue's, within each lane (below); handlers' stale
  guards decide the rest as they do between two workers.

The mates run on `HUB_WEBHOOK_BATCH_THREADS` threads of the worker (the job's own thread and
helpers), each with its own database connection, as Sidekiq's or BullMQ's concurrency runs a
process's jobs: one waits on PostgreSQL while another runs Python. The events of one order (and
a channel's events about no order) stay together, in order, on one thread: a fulfillment still
runs after its order, and an update is not counted stale for running beside the one before it.
Different orders meet only on rows both change (stock levels), where the row locks decide, as
between two workers. A job timeout or a stop reaches the job's own thread only: no mate starts
after it, and every mate neither finished nor under way on a helper is given back, whichever line
the stop lands on (the batch knows each mate's state); a helper finishes the mate it runs, and one
it cannot finish after the job's thread has gone it gives back itself. One thread on SQLite (one
writer: a second thread would only wait for the lock), in a forked worker (its threads and
connections would be made anew for every job), and inside a caller's transaction (a test's: the
helpers' connections could not see its rows).
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from enum import StrEnum
from types import FrameType

from django.conf import settings
from django.db import connection, connections
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException

from channels_app.handlers import dispatch
from channels_app.intake import queue_for
from channels_app.models import Channel, ClaimLost, EventStatus, Platform, ProcessedWebhookEvent
from config.jobs import enqueue_replacing
from config.logs import request_id_context
from config.queues import get_queue
from config.workers import drop_stale_connections, in_forked_child

# A batch-mate's lines are those its own job would have written, under the jobs' logger, with
# its own request id: whoever follows an event through the logs finds it where it always was.
logger = logging.getLogger("channels_app.jobs")

BATCH = 50  # events one job takes, its own included
BUDGET_SECONDS = 20.0  # past it, mates not yet started are given back to their own jobs
JOB_FUNC = "channels_app.jobs.process_webhook_event"
# After a stop, how long the job's thread waits for the helpers to finish the mates they run.
HELPERS_STOP_WAIT_SECONDS = 10.0

# Take each claimed mate's job off its queue, and delete it, only if it is still waiting there: a
# job a worker popped already runs, finds its event claimed and returns (LREM removed nothing).
_WITHDRAW = """
local removed = 0
for _, id in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], 1, id) == 1 then
    redis.call('DEL', KEYS[2] .. id)
    removed = removed + 1
  end
end
return removed
"""


class MateRun(StrEnum):
    """What became of one batch-mate."""

    DONE = "done"  # its final status is committed with its effects
    CLAIM_LOST = "claim lost"  # the sweeper took it back; its effects were rolled back
    GIVEN_BACK = "given back"  # ENQUEUED again, its own job enqueued: it runs alone


def mates_claim(event: ProcessedWebhookEvent) -> list[ProcessedWebhookEvent]:
    """Claim the batch-mates of `event`'s job, with their channels, and withdraw their jobs."""
    queue = queue_for(event.source)
    sources = [platform for platform in Platform.values if queue_for(platform) == queue]
    mates = ProcessedWebhookEvent.claim_mates(exclude=event.pk, sources=sources, limit=BATCH - 1)
    if not mates:
        return []
    channels = Channel.objects.in_bulk({mate.channel_id for mate in mates})
    for mate in mates:
        # A copy each: a handler that changes its channel and rolls back must not hand a changed
        # instance to the next event of the channel.
        mate.channel = copy.copy(channels[mate.channel_id])
    _jobs_withdraw(queue, [mate.job_id for mate in mates])
    return mates


def _jobs_withdraw(queue_name: str, job_ids: list[str]) -> None:
    queue = get_queue(queue_name)
    try:
        withdraw = queue.connection.register_script(_WITHDRAW)
        withdraw(keys=[queue.key, queue.job_class.redis_job_namespace_prefix], args=job_ids)
    except RedisError as exc:
        # Their jobs stay queued: each runs, finds its event claimed, and returns.
        logger.warning("batch-mates' jobs not withdrawn, Redis unavailable: %s", exc)


class _Batch:
    """The mates of one job in lanes, handed out in order to the threads that run them, and what
    became of each. On several threads the events of one order (of one channel), and a channel's
    events about no order, are one lane: run one after the other, in order, by one thread, as one
    thread ran them all before (a fulfillment after its order, no stale update counted where the
    platform sent them in order). On one thread all mates are one lane, in order.

    Each mate is waiting, under way on a thread, or finished: what goes back after a stop is
    decided from that, not from where a thread was in its loop when the stop landed."""

    def __init__(self, mates: list[ProcessedWebhookEvent], deadline: float, *, lanes: bool) -> None:
        by_lane: dict[tuple[int, str], list[ProcessedWebhookEvent]] = {}
        for mate in mates:
            by_lane.setdefault((mate.channel_id, mate.order_reference()) if lanes else (0, ""), []).append(
                mate
            )
        self._mates = mates
        self._lanes = list(by_lane.values())  # in the order of their first event
        self._next = 0
        self._deadline = deadline
        self._stopped = False  # no mate starts any more
        self._closed = False  # the job's thread has taken what goes back: a helper gives back its own
        self._running: dict[int, int] = {}  # mate -> the thread running it
        self._finished: set[int] = set()
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(MateRun, 0)

    def take(self) -> list[ProcessedWebhookEvent] | None:
        """The next lane to run; None once all are taken or no mate may start."""
        with self._lock:
            if not self._may_start() or self._next == len(self._lanes):
                return None
            self._next += 1
            return self._lanes[self._next - 1]

    def start(self, mate: ProcessedWebhookEvent) -> bool:
        """Whether the calling thread may run `mate` (not stopped, within the budget): it is then
        under way on that thread."""
        with self._lock:
            if not self._may_start():
                return False
            self._running[mate.pk] = threading.get_ident()
            return True

    def _may_start(self) -> bool:
        return not self._stopped and time.monotonic() <= self._deadline

    def finish(self, mate: ProcessedWebhookEvent, run: MateRun) -> None:
        with self._lock:
            self._running.pop(mate.pk, None)
            self._finished.add(mate.pk)
            self.counts[run] += 1

    def interrupted(self, mate: ProcessedWebhookEvent) -> bool:
        """`mate` was stopped under way (its transaction rolled back); whether its thread must give
        it back itself, the job's thread having given back the rest already."""
        with self._lock:
            self._running.pop(mate.pk, None)
            self._stopped = True
            return self._closed

    def halt(self) -> None:
        """No mate starts from now on; the job's thread gives back the rest (`close`)."""
        with self._lock:
            self._stopped = True

    def close(self) -> list[ProcessedWebhookEvent]:
        """No mate starts from now on: every mate neither finished nor under way on another
        thread, in order, to give back."""
        with self._lock:
            self._stopped = self._closed = True
            me = threading.get_ident()
            return [
                mate
                for mate in self._mates
                if mate.pk not in self._finished and self._running.get(mate.pk, me) == me
            ]


def mates_run(mates: list[ProcessedWebhookEvent], *, claimed_at: float) -> dict[MateRun, int]:
    """Run the mates on the batch's threads, each lane in order; give back those the budget
    leaves, and on a job timeout or a stop those neither finished nor under way on a helper,
    before the exception goes on. The budget runs from the claim (`time.monotonic()` then), since
    the sweeper's PROCESSING timeout does too."""
    count = threads()
    batch = _Batch(mates, deadline=claimed_at + BUDGET_SECONDS, lanes=count > 1)
    helpers: list[Future[None]] = []
    try:
        for _ in range(min(count, len(mates)) - 1):
            helpers.append(_helpers(count - 1).submit(_helper_run, batch))
        _mates_take_and_run(batch)
        for helper in helpers:
            # One not started yet (the pool's thread still busy with a batch of an earlier job
            # that was stopped) has nothing left to do.
            if not helper.cancel():
                helper.result()  # a helper's error (its mate's give-back failing) is the job's
    except BaseException:
        with _stops_held():
            batch.halt()
            for helper in helpers:
                helper.cancel()
            futures_wait(helpers, timeout=HELPERS_STOP_WAIT_SECONDS)
            for mate in batch.close():
                mate_give_back(mate, "its batch's job was stopped")
        raise
    for mate in batch.close():
        batch.counts[mate_give_back(mate, "batch out of time")] += 1
    return batch.counts


def _mates_take_and_run(batch: _Batch) -> None:
    while (lane := batch.take()) is not None:
        for mate in lane:
            if not batch.start(mate):
                return  # stopped or out of time: the job's thread gives back what is left
            try:
                run = _mate_run(mate)
            except BaseException:
                if batch.interrupted(mate):
                    mate_give_back(mate, "its batch's job was stopped")
                raise
            batch.finish(mate, run)


def _helper_run(batch: _Batch) -> None:
    """A helper thread's share of a batch, on its own connection, checked as the worker checks its
    own around every job (closed by a database restart, or past CONN_MAX_AGE)."""
    drop_stale_connections()
    try:
        _mates_take_and_run(batch)
    finally:
        drop_stale_connections()


@contextmanager
def _stops_held() -> Iterator[None]:
    """A second stop (a job timeout during a shutdown's grace, or the other way round) waits until
    the first one's give-backs are done, then goes on: it would otherwise cut them short. (Masking
    the signals would not do: the kernel hands them to another thread, and Python still runs their
    handler in this one.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[tuple[int, FrameType | None]] = []
    previous = {
        stop: signal.signal(stop, lambda signum, frame: arrived.append((signum, frame)))
        for stop in (signal.SIGALRM, signal.SIGUSR1)
    }
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        for signum, frame in arrived:
            late = previous[signal.Signals(signum)]
            if callable(late):
                late(signum, frame)


def _mate_run(mate: ProcessedWebhookEvent) -> MateRun:
    started = time.monotonic()
    with request_id_context(mate.request_id):
        try:
            outcome = dispatch(mate)
        except JobTimeoutException:
            raise  # The job's, not this event's (rq's is an Exception): the batch stops.
        except ClaimLost as exc:
            logger.warning("event %s: %s; its effects were rolled back", mate.pk, exc)
            return MateRun.CLAIM_LOST
        except Exception as exc:
            logger.warning("event %s failed in a batch; its own job runs it alone: %s", mate.pk, exc)
            return mate_give_back(mate, f"{type(exc).__name__}: {exc}")
        logger.info(
            "event %s %s in %.1f ms (batched)",
            mate.pk,
            outcome.status,
            (time.monotonic() - started) * 1000,
            extra={"event_id": mate.pk, "topic": mate.topic, "reason": outcome.reason},
        )
    return MateRun.DONE


def mate_give_back(mate: ProcessedWebhookEvent, error: str) -> MateRun:
    """ENQUEUED again, and its own job enqueued (replacing a finished namesake), so it runs alone.
    Redis down: the sweeper enqueues it once its ENQUEUED row is past the sweep's delay."""
    try:
        mate.finish(EventStatus.ENQUEUED, error=error)
    except ClaimLost:
        return MateRun.CLAIM_LOST  # The sweeper took it back already, and enqueued it.
    try:
        enqueue_replacing(
            queue_for(mate.source),
            JOB_FUNC,
            mate.pk,
            job_id=mate.job_id,
            meta={"request_id": mate.request_id},
        )
    except RedisError as exc:
        logger.warning("event %s given back but not enqueued, Redis unavailable: %s", mate.pk, exc)
    return MateRun.GIVEN_BACK


def threads() -> int:
    """How many threads run a batch's mates in this process, now (see the module's docstring)."""
    if connection.vendor == "sqlite" or connection.in_atomic_block or in_forked_child():
        return 1
    return max(1, settings.HUB_WEBHOOK_BATCH_THREADS)


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _helpers(size: int) -> ThreadPoolExecutor:
    """`size` helper threads (or more), made once per process and kept with their connections
    (and made again, larger, if the setting grew)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is not None and _pool_size < size:
            _pool_close(_pool, _pool_size)
            _pool = None
        if _pool is None:
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="batch-mates"), size
        return _pool


def helpers_stop() -> None:
    """End the helper threads, each closing its database connection first."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
        if pool is not None:
            _pool_close(pool, _pool_size)


def _pool_close(pool: ThreadPoolExecutor, size: int) -> None:
    # One task per thread: each waits for the others, so no thread takes two (a thread still busy
    # past the wait closes its connection when its task comes).
    started = threading.Barrier(size)

    def close() -> None:
        try:
            started.wait(timeout=HELPERS_STOP_WAIT_SECONDS)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for _ in range(size):
        pool.submit(close)
    pool.shutdown(wait=True)
