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
- Order is the events' order (by id), as the queue's; handlers' stale guards decide the rest as
  they do between two workers.

The mates run on `HUB_WEBHOOK_BATCH_THREADS` threads of the worker (the job's own thread and
helpers), each with its own database connection, as Sidekiq's or BullMQ's concurrency runs a
process's jobs: one waits on PostgreSQL while another runs Python. The events of one order (and
a channel's events about no order) stay together, in order, on one thread: a fulfillment still
runs after its order, and an update is not counted stale for running beside the one before it.
Different orders meet only on rows both change (stock levels), where the row locks decide, as
between two workers. A job timeout or a stop reaches the job's own thread only:
no mate starts after it, the helpers finish the one they run (each is one short transaction), and
the job's own interrupted mate and those not started are given back. One thread on SQLite (one
writer: a second thread would only wait for the lock), in a forked worker (its threads and
connections would be made anew for every job), and inside a caller's transaction (a test's: the
helpers' connections could not see its rows).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from enum import StrEnum

from django.conf import settings
from django.db import connection, connections
from redis.exceptions import RedisError

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
    platform sent them in order). On one thread all mates are one lane, in order."""

    def __init__(self, mates: list[ProcessedWebhookEvent], deadline: float, *, lanes: bool) -> None:
        by_lane: dict[tuple[int, str], list[ProcessedWebhookEvent]] = {}
        for mate in mates:
            by_lane.setdefault((mate.channel_id, mate.order_reference()) if lanes else (0, ""), []).append(
                mate
            )
        self._lanes = list(by_lane.values())  # in the order of their first event
        self._next = 0
        self._deadline = deadline
        self._stopped = False
        self._left: list[ProcessedWebhookEvent] = []  # interrupted, or left in a lane by a stop
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(MateRun, 0)

    def take(self) -> list[ProcessedWebhookEvent] | None:
        """The next lane to run; None once all have started or the batch may start no more."""
        with self._lock:
            if not self._may_start() or self._next == len(self._lanes):
                return None
            self._next += 1
            return self._lanes[self._next - 1]

    def may_start(self) -> bool:
        """Whether a thread may start its lane's next mate: not stopped, and within the budget."""
        with self._lock:
            return self._may_start()

    def _may_start(self) -> bool:
        return not self._stopped and time.monotonic() <= self._deadline

    def count(self, run: MateRun) -> None:
        with self._lock:
            self.counts[run] += 1

    def leave(self, mates: list[ProcessedWebhookEvent]) -> None:
        """Mates of a lane not run (interrupted under way, their transaction rolled back, or not
        started): they are given back with the rest."""
        with self._lock:
            self._left.extend(mates)

    def halt(self) -> None:
        """No mate starts from now on; the job's thread gives back the rest (`stop`)."""
        with self._lock:
            self._stopped = True

    def stop(self) -> list[ProcessedWebhookEvent]:
        """No mate starts from now on: those left and those of the lanes not started, in order,
        to give back."""
        with self._lock:
            self._stopped = True
            left = self._left + [mate for lane in self._lanes[self._next :] for mate in lane]
            self._left, self._next = [], len(self._lanes)
            return sorted(left, key=lambda mate: mate.pk)


def mates_run(mates: list[ProcessedWebhookEvent], *, claimed_at: float) -> dict[MateRun, int]:
    """Run the mates, in order, on the batch's threads; give back those the budget leaves, and on
    a job timeout or a stop (BaseException) the one the job's thread was running and those not
    started, before the exception goes on. The budget runs from the claim (`time.monotonic()`
    then), since the sweeper's PROCESSING timeout does too."""
    count = threads()
    batch = _Batch(mates, deadline=claimed_at + BUDGET_SECONDS, lanes=count > 1)
    helpers = [_helpers().submit(_helper_run, batch) for _ in range(min(count, len(mates)) - 1)]
    try:
        _mates_take_and_run(batch)
        for helper in helpers:
            helper.result()  # a helper's error (its mate's give-back failing) is the job's
    except BaseException:
        batch.halt()
        # The helpers finish the mates they run (one short transaction each), then what was
        # interrupted and what never started goes back.
        futures_wait(helpers, timeout=HELPERS_STOP_WAIT_SECONDS)
        for mate in batch.stop():
            mate_give_back(mate, "its batch's job was stopped")
        raise
    for mate in batch.stop():
        batch.count(mate_give_back(mate, "batch out of time"))
    return batch.counts


def _mates_take_and_run(batch: _Batch) -> None:
    while (lane := batch.take()) is not None:
        for index, mate in enumerate(lane):
            if index and not batch.may_start():
                batch.leave(lane[index:])
                break
            try:
                run = _mate_run(mate)
            except BaseException:
                batch.leave(lane[index:])
                raise
            batch.count(run)


def _helper_run(batch: _Batch) -> None:
    """A helper thread's share of a batch, on its own connection, checked as the worker checks its
    own around every job (closed by a database restart, or past CONN_MAX_AGE)."""
    drop_stale_connections()
    try:
        _mates_take_and_run(batch)
    except BaseException:
        batch.halt()
        raise


def _mate_run(mate: ProcessedWebhookEvent) -> MateRun:
    started = time.monotonic()
    with request_id_context(mate.request_id):
        try:
            outcome = dispatch(mate)
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


def _helpers() -> ThreadPoolExecutor:
    """The helper threads, made once per process and kept with their connections (and made
    again, larger, if the setting grew)."""
    global _pool, _pool_size
    size = max(1, threads() - 1)
    with _pool_lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False)  # Its threads end once idle; their connections with them.
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="batch-mates"), size
        return _pool


def helpers_stop() -> None:
    """End the helper threads, each closing its database connection first."""
    global _pool
    with _pool_lock:
        pool, size, _pool = _pool, _pool_size, None
    if pool is None:
        return
    # One task per thread: each waits for the others, so no thread takes two.
    started = threading.Barrier(size)

    def close() -> None:
        started.wait(timeout=HELPERS_STOP_WAIT_SECONDS)
        connections.close_all()

    for closing in [pool.submit(close) for _ in range(size)]:
        closing.result()
    pool.shutdown(wait=True)
