import pytest
from django.test import override_settings

from channels_app.intake import event_enqueue
from channels_app.models import ProcessedWebhookEvent
from config.queues import get_queue, rq_queues
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    try:
        response = client.get("/readyz")
    finally:
        get_queue.cache_clear()
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
