import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rq.utils import utcformat

from channels_app.intake import event_enqueue
from channels_app.models import ProcessedWebhookEvent
from config.health import HEARTBEAT_FRESH
from config.queues import get_queue, rq_queues
from config.workers import HubWorker
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "database": "ok", "redis": "ok"}


@pytest.fixture
def redis_unreachable(settings):
    """Every queue's connection pointed at a port nothing listens on."""
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    yield
    get_queue.cache_clear()


def test_readyz_is_503_when_redis_is_unreachable(client, redis_unreachable):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("unavailable")


def test_queue_health_lists_every_named_queue(client):
    channel = factories.shopify_channel()
    e = ProcessedWebhookEvent.objects.create(source="shopify", channel=channel, topic="t", event_key="k")
    event_enqueue(e.pk, "")
    queues = {q["queue"]: q for q in client.get("/queue/health").json()["queues"]}
    assert set(queues) >= {"webhooks", "catalog-images", "housekeeping", "messaging-delivery"}
    assert queues["webhooks"]["queued"] == 1


def test_metrics_are_prometheus_text(client, run_worker):
    channel = factories.shopify_channel()
    e = ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="app/uninstalled", event_key="k", payload={}
    )
    event_enqueue(e.pk, "")
    run_worker("webhooks")
    text = client.get("/queue/metrics").content.decode()
    assert 'hub_queue_queued_jobs{queue="webhooks"} 0' in text
    assert 'hub_job_duration_seconds_count{queue="webhooks",status="finished"} 1' in text
    assert 'hub_webhook_events{source="shopify",status="COMPLETED"} 1' in text


@override_settings(METRICS_TOKEN="s3cret")
def test_metrics_need_the_token_when_one_is_set(client):
    assert client.get("/queue/metrics").status_code == 401
    assert client.get("/queue/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/queue/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def registered_worker(*, heartbeat_age: float, pid: int) -> HubWorker:
    """A worker's registration in Redis, as a running or a dead worker leaves it."""
    worker = HubWorker([get_queue("webhooks")], connection=get_queue("webhooks").connection)
    worker.register_birth()
    beat = datetime.now(UTC) - timedelta(seconds=heartbeat_age)
    get_queue("webhooks").connection.hset(worker.key, mapping={"last_heartbeat": utcformat(beat), "pid": pid})
    return worker


def webhook_workers(client) -> int:
    queues = {q["queue"]: q for q in client.get("/queue/health").json()["queues"]}
    return queues["webhooks"]["workers"]


def test_only_workers_with_a_fresh_heartbeat_are_counted(client):
    registered_worker(heartbeat_age=1, pid=os.getpid())
    assert webhook_workers(client) == 1
    registered_worker(heartbeat_age=HEARTBEAT_FRESH + 5, pid=os.getpid())  # silent: gone
    assert webhook_workers(client) == 1
    dead = subprocess.Popen(["true"])
    dead.wait()
    registered_worker(heartbeat_age=1, pid=dead.pid)  # killed a moment ago, still registered
    assert webhook_workers(client) == 1
    text = client.get("/queue/metrics").content.decode()
    assert 'hub_queue_workers{queue="webhooks"} 1' in text


def test_metrics_show_the_stored_backlog_even_with_redis_down(client, redis_unreachable):
    channel = factories.shopify_channel()
    for n in range(3):
        ProcessedWebhookEvent.objects.create(source="shopify", channel=channel, topic="t", event_key=f"k{n}")
    ProcessedWebhookEvent.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    response = client.get("/queue/metrics")
    text = response.content.decode()
    assert response.status_code == 200
    assert "hub_redis_up 0" in text
    assert 'hub_webhook_events_waiting{source="shopify"} 3' in text
    oldest = float(text.split('hub_webhook_events_waiting_oldest_seconds{source="shopify"} ')[1].split()[0])
    assert 295 < oldest < 400
