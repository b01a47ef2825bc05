"""A webhook job runs the fresh events queued behind its own: batches, on SQLite and PostgreSQL."""

import copy
import signal
import threading
import time

import pytest
from django.db import connection
from rq.timeouts import JobTimeoutException

from channels_app import drain
from channels_app.jobs import process_webhook_event
from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.outcomes import HandlerError
from config.queues import get_queue
from config.workers import ShutdownTimeout
from orders.models import Order
from tests.channels_app import factories
from tests.channels_app.factories import event_statuses, queued_event
from tests.inventory.factories import sku, warehouse
from tests.platforms import fixture_json

pytestmark = pytest.mark.django_db

CALLS: list[int] = []


def recording_handler(event, fetched):
    CALLS.append(event.pk)


def poisoned_handler(event, fetched):
    """Fails for the events whose payload says so, and only for them."""
    CALLS.append(event.pk)
    if event.payload.get("poison"):
        raise HandlerError("poisoned payload", permanent=True)


def timed_out_handler(event, fetched):
    """rq's job timeout (an Exception) lands while this event runs, if its payload says so."""
    CALLS.append(event.pk)
    if event.payload.get("timeout"):
        raise JobTimeoutException("Task exceeded maximum timeout value (60 seconds)")


@pytest.fixture
def handler(topic_handler):
    CALLS.clear()
    return topic_handler


def test_a_job_runs_the_fresh_events_behind_its_own_and_takes_their_jobs_off_the_queue(handler, run_worker):
    handler(recording_handler)
    channel = factories.shopify_channel()
    events = [queued_event(channel) for _ in range(5)]

    assert process_webhook_event(events[0].pk) == EventStatus.COMPLETED

    assert CALLS == [event.pk for event in events]  # each once, in the order they came
    assert event_statuses(events) == [EventStatus.COMPLETED] * 5
    assert get_queue("webhooks").count == 1  # the first one's own job; the mates' were withdrawn
    assert all(e.attempts == 1 for e in ProcessedWebhookEvent.objects.all())
    run_worker("webhooks")
    assert CALLS == [event.pk for event in events]  # nothing ran twice


def test_a_batch_takes_at_most_its_size_and_the_next_job_the_next_batch(handler, monkeypatch):
    handler(recording_handler)
    monkeypatch.setattr(drain, "BATCH", 3)
    channel = factories.shopify_channel()
    events = [queued_event(channel) for _ in range(7)]

    process_webhook_event(events[0].pk)
    assert event_statuses(events) == [EventStatus.COMPLETED] * 3 + [EventStatus.ENQUEUED] * 4
    process_webhook_event(events[3].pk)
    assert event_statuses(events) == [EventStatus.COMPLETED] * 6 + [EventStatus.ENQUEUED]
    assert get_queue("webhooks").job_ids == [events[0].job_id, events[3].job_id, events[6].job_id]


def test_a_poisoned_batch_mate_fails_alone_with_its_own_failed_job(handler, run_worker):
    handler(poisoned_handler)
    channel = factories.shopify_channel()
    first, poisoned, last = (
        queued_event(channel),
        queued_event(channel, payload={"poison": True}),
        queued_event(channel),
    )

    process_webhook_event(first.pk)

    assert event_statuses([first, poisoned, last]) == [
        EventStatus.COMPLETED,
        EventStatus.ENQUEUED,
        EventStatus.COMPLETED,
    ]
    poisoned.refresh_from_db()
    assert poisoned.error_message == "HandlerError: poisoned payload"
    assert poisoned.job_id in get_queue("webhooks").job_ids  # its own job, to run it alone
    run_worker("webhooks")
    poisoned.refresh_from_db()
    assert (poisoned.status, poisoned.error_message) == (EventStatus.FAILED, "HandlerError: poisoned payload")
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [poisoned.job_id]  # ops retry it
    assert CALLS == [first.pk, poisoned.pk, last.pk, poisoned.pk]


def test_a_poisoned_event_fails_its_own_job_after_running_its_batch_mates(handler, run_worker):
    handler(poisoned_handler)
    channel = factories.shopify_channel()
    poisoned, *mates = (
        queued_event(channel, payload={"poison": True}),
        queued_event(channel),
        queued_event(channel),
    )

    run_worker("webhooks")

    assert event_statuses([poisoned, *mates]) == [
        EventStatus.FAILED,
        EventStatus.COMPLETED,
        EventStatus.COMPLETED,
    ]
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [poisoned.job_id]
    assert CALLS == [poisoned.pk, *(mate.pk for mate in mates)]


def test_an_event_that_ran_before_or_of_another_queue_is_no_batch_mate(handler):
    handler(recording_handler)
    channel = factories.shopify_channel()
    first = queued_event(channel)
    retried = queued_event(channel, attempts=1)  # waits for its backoff, its own job runs it
    tracking = queued_event(factories.easypost_channel(), topic="tracker.updated")

    process_webhook_event(first.pk)

    assert event_statuses([first, retried, tracking]) == [
        EventStatus.COMPLETED,
        EventStatus.ENQUEUED,
        EventStatus.ENQUEUED,
    ]
    assert CALLS == [first.pk]


def test_mates_left_when_the_batch_runs_out_of_time_go_back_to_their_own_jobs(
    handler, run_worker, monkeypatch
):
    handler(recording_handler)
    monkeypatch.setattr(drain, "BUDGET_SECONDS", -1.0)
    channel = factories.shopify_channel()
    first, *mates = [queued_event(channel) for _ in range(3)]

    process_webhook_event(first.pk)

    assert event_statuses(mates) == [EventStatus.ENQUEUED] * 2
    assert set(get_queue("webhooks").job_ids) >= {mate.job_id for mate in mates}
    run_worker("webhooks")
    assert event_statuses([first, *mates]) == [EventStatus.COMPLETED] * 3
    assert CALLS == [first.pk, *(mate.pk for mate in mates)]


def test_within_a_batch_an_older_update_after_a_newer_one_is_stale(run_worker):
    channel = factories.shopify_channel()
    sample = fixture_json("shopify/webhooks/orders_create.json")
    main = warehouse(channel.organization)
    for line in sample["line_items"]:
        sku(channel.organization, line["sku"], on_hand=10, at=main)

    def order(updated_at, financial_status):
        changes = {"updated_at": updated_at, "financial_status": financial_status, "cancelled_at": None}
        return copy.deepcopy(sample) | changes

    newer = queued_event(channel, topic="orders/updated", payload=order("2022-01-02T00:00:00Z", "paid"))
    older = queued_event(channel, topic="orders/updated", payload=order("2022-01-01T00:00:00Z", "pending"))

    process_webhook_event(newer.pk)  # the batch: newer first, then older

    older.refresh_from_db()
    assert event_statuses([newer]) == [EventStatus.COMPLETED]
    assert (older.status, older.ignored_reason) == (
        EventStatus.IGNORED,
        "stale update: older than the stored order",
    )
    assert Order.objects.get().financial_status == "paid"


@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_on_one_thread_on_sqlite_and_on_the_settings_threads_on_postgresql(settings):
    settings.HUB_WEBHOOK_BATCH_THREADS = 3
    # SQLite has one writer: a second thread would only wait for its lock.
    assert drain.threads() == (1 if connection.vendor == "sqlite" else 3)


def test_a_job_timeout_during_a_mate_stops_the_batch_and_gives_back_the_rest(handler):
    handler(timed_out_handler)
    channel = factories.shopify_channel()
    first, done, timed_out, *rest = [queued_event(channel, payload={"timeout": n == 2}) for n in range(5)]

    with pytest.raises(JobTimeoutException):
        process_webhook_event(first.pk)

    # Not the event's own failure, after which the batch would go on: the job's time is up.
    assert (
        event_statuses([first, done, timed_out, *rest])
        == [EventStatus.COMPLETED] * 2 + [EventStatus.ENQUEUED] * 3
    )
    assert CALLS == [first.pk, done.pk, timed_out.pk]
    assert {event.job_id for event in (timed_out, *rest)} <= set(get_queue("webhooks").job_ids)


def test_a_job_timeout_during_its_own_event_gives_its_mates_back_unrun(handler):
    handler(timed_out_handler)
    channel = factories.shopify_channel()
    first = queued_event(channel, payload={"timeout": True})
    mates = [queued_event(channel) for _ in range(3)]

    with pytest.raises(JobTimeoutException):
        process_webhook_event(first.pk)

    assert CALLS == [first.pk]
    assert event_statuses(mates) == [EventStatus.ENQUEUED] * 3
    assert {mate.job_id for mate in mates} <= set(get_queue("webhooks").job_ids)


def test_a_second_stop_during_the_give_backs_waits_for_them_then_goes_on():
    """A job timeout landing during a shutdown's give-backs (or the other way round) must not cut
    them short (channels_app.drain._stops_held)."""

    def second_stop(signum, frame):
        raise ShutdownTimeout("the second stop")

    done = []
    previous = signal.signal(signal.SIGUSR1, second_stop)
    try:
        with pytest.raises(ShutdownTimeout, match="the second stop"):
            with drain._stops_held():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                time.sleep(0.05)  # the signal's handler would have run by now
                done.append("every give-back")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert done == ["every give-back"]
    assert signal.getsignal(signal.SIGUSR1) is previous
