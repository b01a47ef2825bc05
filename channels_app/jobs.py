"""Jobs of channels_app. Their import paths and arguments are a public API: failed jobs are
retried from the admin days after they were enqueued."""

from __future__ import annotations

import logging
import time

from rq.timeouts import JobTimeoutException

from channels_app import drain, sweeper
from channels_app.handlers import dispatch
from channels_app.models import ClaimLost, EventStatus, ProcessedWebhookEvent
from channels_app.sync import reconcile_due, subscriptions_check, sync_run
from config.workers import job_will_retry

logger = logging.getLogger(__name__)


def process_webhook_event(event_id: int) -> str:
    """Run the event's handler once: ENQUEUED -> PROCESSING -> COMPLETED | FAILED | IGNORED |
    NEEDS_MAPPING; then those of the fresh events queued behind it (channels_app.drain). Its own
    event's failure is the job's, raised once the batch-mates are done: it is retried, or lands
    in the dead-letter queue, as when the job ran it alone."""
    started = time.monotonic()
    event = ProcessedWebhookEvent.claim_read(event_id)
    if event is None:
        status = ProcessedWebhookEvent.objects.filter(pk=event_id).values_list("status", flat=True).first()
        logger.info("event %s not claimed (status %s): nothing to do", event_id, status)
        return f"skipped: {status or 'missing'}"
    mates = drain.mates_claim(event)
    try:
        status = _event_run(event, started)
    except BaseException as exc:
        if isinstance(exc, Exception) and not isinstance(exc, JobTimeoutException):
            drain.mates_run(mates, claimed_at=started)  # its own failure: the mates still run
        else:
            # A job timeout (rq's is an Exception) or a stop: no time for the mates, which their
            # own jobs run again.
            for mate in mates:
                drain.mate_give_back(mate, "its batch's job was stopped")
        raise
    if mates:
        counts = drain.mates_run(mates, claimed_at=started)
        shown = ", ".join(f"{run.value} {n}" for run, n in counts.items() if n)
        logger.info("event %s's job ran %s batch-mates: %s", event_id, len(mates), shown)
    return status


def _event_run(event: ProcessedWebhookEvent, started: float) -> str:
    event_id = event.pk
    try:
        outcome = dispatch(event)
    except ClaimLost as exc:
        logger.warning("event %s: %s; its effects were rolled back", event_id, exc)
        return "claim lost"
    except BaseException as exc:
        retrying = job_will_retry(exc)
        try:
            event.finish(
                EventStatus.ENQUEUED if retrying else EventStatus.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        except ClaimLost:
            pass  # Another attempt holds the event now, and records its own outcome.
        logger.warning(
            "event %s failed (%s): %s",
            event_id,
            "will retry" if retrying else "final",
            exc,
            extra={"event_id": event_id, "topic": event.topic, "attempt": event.attempts},
        )
        raise
    logger.info(
        "event %s %s in %.1f ms",
        event_id,
        outcome.status,
        (time.monotonic() - started) * 1000,
        extra={"event_id": event_id, "topic": event.topic, "reason": outcome.reason},
    )
    return outcome.status


def sweep_events() -> dict[str, int]:
    return sweeper.events_sweep().as_dict()


def purge_events() -> dict[str, int]:
    return sweeper.events_purge()


def run_sync(run_id: int) -> str:
    """A channel sync run (channels_app.sync): product import, backfill, reconciliation."""
    return sync_run(run_id).status


def check_subscriptions() -> dict[str, int]:
    """Scheduled: re-register webhook subscriptions a platform deleted or disabled."""
    return subscriptions_check()


def reconcile_channels() -> int:
    """Scheduled: start the reconciliation polls that are due (channels_app.sync.reconcile_due)."""
    return reconcile_due()
