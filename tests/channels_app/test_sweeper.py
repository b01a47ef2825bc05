"""The sweeper re-enqueues events whose job is gone, never ones whose job is live."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rq.job import Job

from channels_app.intake import event_enqueue
from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.sweeper import events_purge, events_sweep
from config.queues import get_queue, rq_queues
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


def event(channel, n=0, **fields):
    return ProcessedWebhookEvent.objects.create(
        source=channel.platform,
        channel=channel,
        topic="app/uninstalled",
        event_key=f"k{n}",
        payload={},
        **fields,
    )


def age(e, seconds):
    ProcessedWebhookEvent.objects.filter(pk=e.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_an_event_that_never_reached_redis_is_enqueued_once(run_worker):
    e = event(factories.shopify_channel())
    age(e, 120)
    assert events_sweep().requeued == 1
    assert events_sweep().still_running == 1  # its job is queued now: not enqueued twice
    assert get_queue("webhooks").count == 1
    run_worker("webhooks")
    e.refresh_from_db()
    assert e.status == EventStatus.COMPLETED


def test_a_recent_enqueued_event_is_left_alone():
    event(factories.shopify_channel())
    assert events_sweep().examined == 0


def test_an_event_with_a_queued_or_scheduled_job_is_left_alone():
    e = event(factories.shopify_channel())
    event_enqueue(e.pk, "")
    age(e, 120)
    result = events_sweep()
    assert (result.requeued, result.still_running) == (0, 1)


def test_a_job_whose_hash_says_queued_but_no_queue_holds_is_reenqueued(redis_connection, run_worker):
    """What a worker killed in its blocking pop leaves behind: Redis handed the job to the dead
    worker's connection (still held open by a child), so the hash says queued, in no queue."""
    e = event(factories.shopify_channel())
    event_enqueue(e.pk, "")
    queue = get_queue("webhooks")
    assert redis_connection.lrem(queue.key, 0, e.job_id) == 1
    assert Job.fetch(e.job_id, connection=redis_connection).get_status() == "queued"
    age(e, 120)
    result = events_sweep()
    assert (result.requeued, result.still_running) == (1, 0)
    assert queue.job_ids == [e.job_id]
    assert events_sweep().still_running == 1  # in its queue now: live, not enqueued twice
    run_worker("webhooks")
    e.refresh_from_db()
    assert e.status == EventStatus.COMPLETED


def test_a_job_a_worker_is_taking_is_live_and_one_a_dead_worker_took_is_reenqueued(
    redis_connection, run_worker
):
    """rq's worker of one queue moves the job it takes to the queue's intermediate list, where a
    worker that dies at that moment leaves it, `queued`."""
    e = event(factories.shopify_channel())
    event_enqueue(e.pk, "")
    queue = get_queue("webhooks")
    intermediate = queue.intermediate_queue_key
    redis_connection.lmove(queue.key, intermediate)  # what BLMOVE does when a worker takes it
    age(e, 120)
    assert events_sweep().still_running == 1  # a worker may be taking it right now
    redis_connection.set(f"{intermediate}:first_seen:{e.job_id}", time.time() - 120)
    assert events_sweep().requeued == 1  # a minute later it is still there: its worker is gone
    assert redis_connection.lrange(intermediate, 0, -1) == []
    assert queue.job_ids == [e.job_id]
    run_worker("webhooks")
    e.refresh_from_db()
    assert e.status == EventStatus.COMPLETED


def test_a_scheduled_job_no_registry_holds_is_reenqueued(redis_connection):
    e = event(factories.shopify_channel())
    job = get_queue("webhooks").enqueue_in(
        timedelta(minutes=5), "channels_app.jobs.process_webhook_event", e.pk, job_id=e.job_id
    )
    age(e, 120)
    assert events_sweep().still_running == 1
    redis_connection.zrem(get_queue("webhooks").scheduled_job_registry.key, job.id)
    assert events_sweep().requeued == 1


def test_a_processing_event_whose_job_is_gone_is_reenqueued():
    e = event(factories.shopify_channel(), status=EventStatus.PROCESSING, attempts=1)
    ProcessedWebhookEvent.objects.filter(pk=e.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert events_sweep().requeued == 1
    e.refresh_from_db()
    assert e.status == EventStatus.ENQUEUED
    assert e.error_message == "worker lost mid-job; re-enqueued"
    assert get_queue("webhooks").job_ids == [e.job_id]


def test_a_processing_event_whose_job_finished_is_reenqueued_under_the_same_id(run_worker):
    channel = factories.shopify_channel()
    e = event(channel)
    event_enqueue(e.pk, "")
    run_worker("webhooks")
    # The row says PROCESSING although its job finished (the worker died between the two writes).
    ProcessedWebhookEvent.objects.filter(pk=e.pk).update(
        status=EventStatus.PROCESSING, started_at=timezone.now() - timedelta(hours=1)
    )
    assert events_sweep().requeued == 1
    job = Job.fetch(e.job_id, connection=get_queue("webhooks").connection)
    assert job.get_status() == "queued"


def test_the_sweeper_stops_without_losing_anything_when_redis_is_down(settings):
    e = event(factories.shopify_channel())
    age(e, 120)
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    try:
        result = events_sweep()
    finally:
        get_queue.cache_clear()
    assert result.redis_unavailable
    e.refresh_from_db()
    assert e.status == EventStatus.ENQUEUED


def test_retention_deletes_old_completed_and_ignored_and_keeps_failed_for_longer():
    channel = factories.shopify_channel()
    old_done = event(channel, 1, status=EventStatus.COMPLETED)
    old_ignored = event(channel, 2, status=EventStatus.IGNORED)
    recent_done = event(channel, 3, status=EventStatus.COMPLETED)
    old_failed = event(channel, 4, status=EventStatus.FAILED)
    ancient_failed = event(channel, 5, status=EventStatus.FAILED)
    day = settings.HUB_RETAIN_COMPLETED_EVENTS
    for e in (old_done, old_ignored, old_failed):
        age(e, day + 60)
    age(ancient_failed, settings.HUB_RETAIN_FAILED_EVENTS + 60)
    assert events_purge() == {"deleted": 3}
    assert set(ProcessedWebhookEvent.objects.values_list("pk", flat=True)) == {recent_done.pk, old_failed.pk}


def test_sweep_events_command_prints_what_it_did(capsys):
    e = event(factories.shopify_channel())
    age(e, 120)
    call_command("sweep_events")
    out = capsys.readouterr().out
    assert '"requeued": 1' in out and '"purged": 0' in out


def test_an_event_whose_job_is_in_the_dead_letter_queue_is_marked_failed_not_looped(run_worker):
    e = event(factories.shopify_channel())
    # A job that fails before it claims its event (a function renamed by a deploy) leaves the
    # event ENQUEUED and the job in the failed registry.
    get_queue("webhooks").enqueue("channels_app.jobs.no_such_job", e.pk, job_id=e.job_id)
    run_worker("webhooks")
    age(e, 120)
    result = events_sweep()
    assert (result.failed, result.requeued) == (1, 0)
    e.refresh_from_db()
    assert e.status == EventStatus.FAILED
    assert "no_such_job" in e.error_message
    assert events_sweep().examined == 0  # not again next minute
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [e.job_id]  # kept for ops
