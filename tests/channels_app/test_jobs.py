"""Processing webhook events on real workers: statuses, retries, dead letters, idempotency."""

import json
import threading
import zlib

import pytest
from django.core.management import call_command
from django.db import connection
from rq.job import Job, JobStatus

from channels_app import handlers
from channels_app.intake import event_enqueue
from channels_app.jobs import process_webhook_event
from channels_app.models import Channel, EventStatus, Organization, ProcessedWebhookEvent
from channels_app.outcomes import HandlerError
from config.logs import current_request_id
from config.queues import get_queue
from tests.channels_app import factories
from tests.platforms import fixture_json

CALLS: list[dict] = []


def recording_handler(event, fetched):
    CALLS.append({"event": event.pk, "request_id": current_request_id()})


def failing_handler(event, fetched):
    CALLS.append({"event": event.pk})
    raise ConnectionError("platform timed out")


def handler_losing_its_claim(event, fetched):
    """Does its work, but meanwhile the sweeper takes the event back (it thought the worker dead)."""
    Organization.objects.create(name="effect", slug="effect")
    ProcessedWebhookEvent.objects.filter(pk=event.pk).update(status=EventStatus.ENQUEUED)


def permanently_failing_handler(event, fetched):
    CALLS.append({"event": event.pk})
    raise HandlerError("unknown SKU policy", permanent=True)


@pytest.fixture
def handler(monkeypatch):
    """Register a handler for the `test/topic` topic in the real registry."""
    CALLS.clear()

    def register(func):
        handler = handlers.Handler(apply=f"{__name__}.{func.__name__}")
        monkeypatch.setitem(handlers.HANDLERS, ("shopify", "test/topic"), handler)
        handlers.handler_for.cache_clear()

    yield register
    handlers.handler_for.cache_clear()


def stored_event(channel, topic="app/uninstalled", payload=None, **fields):
    return ProcessedWebhookEvent.objects.create(
        source=channel.platform,
        channel=channel,
        topic=topic,
        event_key=f"{topic}:{ProcessedWebhookEvent.objects.count()}",
        payload=fixture_json("shopify/webhooks/app_uninstalled.json") if payload is None else payload,
        request_id="req-123456789",
        **fields,
    )


def queued_event(channel, **kwargs):
    event = stored_event(channel, **kwargs)
    assert event_enqueue(event.pk, event.request_id)
    return event


@pytest.mark.django_db
def test_app_uninstalled_deactivates_the_channel(run_worker):
    channel = factories.shopify_channel()
    event = queued_event(channel)
    run_worker("webhooks")
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error_message) == (EventStatus.COMPLETED, 1, "")
    assert event.processed_at is not None
    assert not Channel.objects.get().is_active


@pytest.mark.django_db
def test_processing_the_same_event_again_changes_nothing(run_worker):
    channel = factories.shopify_channel()
    event = queued_event(channel)
    run_worker("webhooks")
    assert process_webhook_event(event.pk) == "skipped: COMPLETED"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.COMPLETED, 1)


@pytest.mark.django_db
def test_a_topic_without_handler_ends_ignored_with_its_reason(run_worker):
    channel = factories.shopify_channel()
    event = queued_event(channel, topic="customers/create", payload={"id": 1})
    run_worker("webhooks")
    event.refresh_from_db()
    assert event.status == EventStatus.IGNORED
    assert event.ignored_reason == "no handler for shopify topic 'customers/create'"


@pytest.mark.django_db
def test_events_of_an_inactive_channel_are_ignored(run_worker, handler):
    handler(recording_handler)
    channel = factories.shopify_channel()
    channel.deactivate()
    event = queued_event(channel, topic="test/topic")
    run_worker("webhooks")
    event.refresh_from_db()
    assert (event.status, event.ignored_reason) == (EventStatus.IGNORED, "channel is inactive")
    assert CALLS == []


@pytest.mark.django_db
def test_the_job_runs_with_the_webhooks_request_id(run_worker, handler):
    handler(recording_handler)
    event = queued_event(factories.shopify_channel(), topic="test/topic")
    run_worker("webhooks")
    assert CALLS == [{"event": event.pk, "request_id": "req-123456789"}]


@pytest.mark.django_db
def test_jobs_are_stored_as_json_not_pickle(redis_connection):
    event = queued_event(factories.shopify_channel())
    data = zlib.decompress(redis_connection.hget(f"rq:job:{event.job_id}", "data"))
    assert json.loads(data)[0] == "channels_app.jobs.process_webhook_event"  # pickle would not parse


@pytest.mark.django_db(transaction=True)  # the command closes database connections before working
def test_rqworker_command_processes_jobs_with_no_extra_flags():
    event = queued_event(factories.shopify_channel())
    call_command("rqworker", "webhooks", "--burst")
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED


@pytest.mark.django_db
def test_a_transient_failure_retries_with_backoff_then_lands_in_the_dead_letter_queue(
    run_worker, handler, settings
):
    settings.HUB_JOB_RETRY_INTERVALS = [0, 0]  # immediate, so the test need not wait for backoff
    handler(failing_handler)
    event = queued_event(factories.shopify_channel(), topic="test/topic")
    run_worker("webhooks")
    event.refresh_from_db()
    assert len(CALLS) == 3  # first run and two retries
    assert (event.status, event.attempts) == (EventStatus.FAILED, 3)
    assert event.error_message == "ConnectionError: platform timed out"
    queue = get_queue("webhooks")
    assert queue.failed_job_registry.get_job_ids() == [event.job_id]


@pytest.mark.django_db
def test_between_retries_the_event_waits_as_enqueued(run_worker, handler):
    handler(failing_handler)
    event = queued_event(factories.shopify_channel(), topic="test/topic")
    run_worker("webhooks")  # the retry is scheduled 2 s later: not run by this burst
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.ENQUEUED, 1)
    job = Job.fetch(event.job_id, connection=get_queue("webhooks").connection)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 4


@pytest.mark.django_db
def test_a_permanent_failure_fails_at_once_without_retry(run_worker, handler):
    handler(permanently_failing_handler)
    event = queued_event(factories.shopify_channel(), topic="test/topic")
    run_worker("webhooks")
    event.refresh_from_db()
    assert len(CALLS) == 1
    assert (event.status, event.error_message) == (EventStatus.FAILED, "HandlerError: unknown SKU policy")
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [event.job_id]


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_event_process_it_once(handler):
    handler(recording_handler)
    event = stored_event(factories.shopify_channel(), topic="test/topic")
    start = threading.Barrier(2)
    results = []

    def work():
        start.wait()
        try:
            results.append(process_webhook_event(event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["COMPLETED", "skipped: PROCESSING"] or sorted(results) == [
        "COMPLETED",
        "skipped: COMPLETED",
    ]
    assert len(CALLS) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.COMPLETED, 1)


@pytest.mark.django_db
def test_ops_retrying_a_failed_job_from_the_dead_letter_queue_processes_the_event_again(run_worker, handler):
    handler(permanently_failing_handler)
    event = queued_event(factories.shopify_channel(), topic="test/topic")
    run_worker("webhooks")
    handler(recording_handler)  # the cause is fixed (a deploy, a setting)
    get_queue("webhooks").failed_job_registry.requeue(event.job_id)
    run_worker("webhooks")
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error_message) == (EventStatus.COMPLETED, 2, "")


@pytest.mark.django_db
def test_an_attempt_that_lost_its_claim_commits_none_of_its_effects(handler):
    handler(handler_losing_its_claim)
    event = stored_event(factories.shopify_channel(), topic="test/topic")
    assert process_webhook_event(event.pk) == "claim lost"
    assert not Organization.objects.filter(slug="effect").exists()
