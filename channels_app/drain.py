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
"""

from __future__ import annotations

import copy
import logging
import time
from enum import StrEnum

from redis.exceptions import RedisError

from channels_app.handlers import dispatch
from channels_app.intake import queue_for
from channels_app.models import Channel, ClaimLost, EventStatus, Platform, ProcessedWebhookEvent
from config.jobs import enqueue_replacing
from config.logs import request_id_context
from config.queues import get_queue

# A batch-mate's lines are those its own job would have written, under the jobs' logger, with
# its own request id: whoever follows an event through the logs finds it where it always was.
logger = logging.getLogger("channels_app.jobs")

BATCH = 50  # events one job takes, its own included
BUDGET_SECONDS = 20.0  # past it, mates not yet started are given back to their own jobs
JOB_FUNC = "channels_app.jobs.process_webhook_event"

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


def mates_run(mates: list[ProcessedWebhookEvent], *, claimed_at: float) -> dict[MateRun, int]:
    """Run each mate in order; give back those the budget leaves, and on a job timeout or a stop
    (BaseException) the one running and the rest, before the exception goes on. The budget runs
    from the claim (`time.monotonic()` then), since the sweeper's PROCESSING timeout does too."""
    counts = dict.fromkeys(MateRun, 0)
    deadline = claimed_at + BUDGET_SECONDS
    for index, mate in enumerate(mates):
        if time.monotonic() > deadline:
            for rest in mates[index:]:
                counts[mate_give_back(rest, "batch out of time")] += 1
            break
        try:
            counts[_mate_run(mate)] += 1
        except BaseException:
            for rest in mates[index:]:
                mate_give_back(rest, "its batch's job was stopped")
            raise
    return counts


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
