"""Every answer the webhook endpoints give, with recorded payloads signed by the real algorithms."""

import json

import pytest
from django.db import connection
from django.test import override_settings
from rq.job import Job

from channels_app.models import EventStatus, ProcessedWebhookEvent
from channels_app.platforms.shopee import webhooks as shopee
from channels_app.platforms.shopify import webhooks as shopify
from channels_app.platforms.woocommerce import webhooks as woocommerce
from channels_app.sweeper import events_sweep
from config.queues import get_queue, rq_queues
from tests import platforms
from tests.channels_app import factories
from tests.channels_app.conftest import ORDER, post_shopify
from tests.platforms import FIXTURES, fixture_bytes, shopify_headers

pytestmark = pytest.mark.django_db


def test_every_handled_topic_has_a_recorded_payload():
    """The topics each platform package declares with their handlers (one list: what the hub
    subscribes to is what it handles)."""
    for topic in shopify.HANDLERS:
        assert (FIXTURES / "shopify/webhooks" / f"{topic.replace('/', '_')}.json").exists(), topic
    for topic in woocommerce.HANDLERS:
        assert (FIXTURES / "woocommerce/webhooks" / f"{topic.replace('.', '_')}.json").exists(), topic
    for topic in shopee.HANDLERS:
        code = next(c for c, name in shopee.PUSH_CODES.items() if name == topic)
        assert list((FIXTURES / "shopee/push").glob(f"*_code{code}.json")), topic


def test_a_first_shopify_delivery_is_stored_and_enqueued(client, django_capture_on_commit_callbacks):
    factories.shopify_channel()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(client)
    assert response.status_code == 200
    event = ProcessedWebhookEvent.objects.get()
    assert response.json() == {"status": "enqueued", "event": event.pk}
    assert event.status == EventStatus.ENQUEUED
    assert event.topic == "orders/create"
    assert event.payload["id"] == json.loads(ORDER)["id"]
    assert event.delivery_id == "wh-ev-1"
    assert event.triggered_at.isoformat() == "2025-07-10T16:15:47+00:00"
    assert event.request_id == response["X-Request-Id"]
    job = Job.fetch(
        event.job_id, connection=get_queue("webhooks").connection, serializer=get_queue("webhooks").serializer
    )
    assert job.args == [event.pk]
    assert job.meta["request_id"] == event.request_id


def test_the_payload_stored_is_the_body_read_back_whole(client):
    factories.shopify_channel()
    assert post_shopify(client).status_code == 200
    assert ProcessedWebhookEvent.objects.get().payload == json.loads(ORDER)


def test_a_body_with_a_byte_order_mark_is_stored_as_its_parsed_value(client):
    # Python reads JSON with a UTF-8 BOM; a database's JSON type refuses the BOM in the text.
    factories.shopify_channel()
    assert post_shopify(client, body=b"\xef\xbb\xbf" + ORDER).status_code == 200
    assert ProcessedWebhookEvent.objects.get().payload == json.loads(ORDER)


def test_a_redelivery_is_a_duplicate_and_counted(client, django_capture_on_commit_callbacks):
    factories.shopify_channel()
    with django_capture_on_commit_callbacks(execute=True):
        first = post_shopify(client)
        second = post_shopify(client, HTTP_X_SHOPIFY_WEBHOOK_ID="another-delivery")
    assert first.json()["status"] == "enqueued"
    assert second.status_code == 200
    assert second.json() == {
        "status": "duplicate",
        "event": first.json()["event"],
        "event_status": "ENQUEUED",
    }
    event = ProcessedWebhookEvent.objects.get()
    assert event.duplicate_count == 1
    assert event.last_duplicate_at is not None
    assert get_queue("webhooks").count == 1


def test_it_keeps_the_same_event_id_on_two_topics(client):
    factories.shopify_channel()
    assert post_shopify(client, topic="orders/create", event_id="shared").json()["status"] == "enqueued"
    assert post_shopify(client, topic="orders/paid", event_id="shared").json()["status"] == "enqueued"
    assert sorted(ProcessedWebhookEvent.objects.values_list("topic", flat=True)) == [
        "orders/create",
        "orders/paid",
    ]


def test_the_topic_header_wins_over_the_path(client):
    factories.shopify_channel()
    response = post_shopify(client, topic="orders/paid", path="/webhooks/shopify/orders/create")
    assert response.status_code == 200
    assert ProcessedWebhookEvent.objects.get().topic == "orders/paid"


def test_the_topic_comes_from_the_path_when_the_header_is_missing(client):
    factories.shopify_channel()
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET, body=ORDER, shop=factories.SHOPIFY_SHOP, topic="x", event_id="e"
    )
    del headers["HTTP_X_SHOPIFY_TOPIC"]
    response = client.post(
        "/webhooks/shopify/orders/updated", ORDER, content_type="application/json", **headers
    )
    assert response.status_code == 200
    assert ProcessedWebhookEvent.objects.get().topic == "orders/updated"


def test_a_delivery_signed_with_the_previous_secret_is_accepted(client):
    factories.shopify_channel(webhook_secret="new-secret")
    from channels_app.models import Channel

    Channel.objects.update(previous_webhook_secret=factories.SHOPIFY_SECRET)
    assert post_shopify(client).status_code == 200


def test_an_unknown_shop_is_401_and_nothing_is_stored(client):
    factories.shopify_channel()
    response = post_shopify(client, HTTP_X_SHOPIFY_SHOP_DOMAIN="stranger.myshopify.com")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}  # the reason is logged, not told
    assert not ProcessedWebhookEvent.objects.exists()


def test_a_bad_signature_is_401_and_nothing_is_stored(client, caplog):
    factories.shopify_channel()
    response = post_shopify(client, HTTP_X_SHOPIFY_HMAC_SHA256="AAAA")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert not ProcessedWebhookEvent.objects.exists()
    assert "invalid signature" in caplog.text
    assert factories.SHOPIFY_SECRET not in caplog.text


def test_a_missing_signature_is_401(client):
    factories.shopify_channel()
    headers = shopify_headers(
        secret="x", body=ORDER, shop=factories.SHOPIFY_SHOP, topic="orders/create", event_id="e"
    )
    del headers["HTTP_X_SHOPIFY_HMAC_SHA256"]
    assert (
        client.post("/webhooks/shopify/", ORDER, content_type="application/json", **headers).status_code
        == 401
    )


@override_settings(WEBHOOK_MAX_BYTES=1024)
def test_an_oversized_body_is_413_and_nothing_is_stored(client):
    factories.shopify_channel()
    body = b'{"pad": "' + b"x" * 2000 + b'"}'
    response = post_shopify(client, body=body)
    assert response.status_code == 413
    assert not ProcessedWebhookEvent.objects.exists()


def test_a_signed_body_that_is_not_json_is_400_and_kept_as_failed(client, django_capture_on_commit_callbacks):
    factories.shopify_channel()
    body = b'{"id": 1, "truncated'
    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(client, body=body)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    event = ProcessedWebhookEvent.objects.get()
    assert event.status == EventStatus.FAILED
    assert event.raw_body == body.decode()
    assert event.payload is None
    assert get_queue("webhooks").count == 0


def test_get_is_not_allowed(client):
    assert client.get("/webhooks/shopify/").status_code == 405


# WooCommerce


def post_woo(client, channel, fixture="order_created.json", topic="order.created", body=None, **extra):
    body = body if body is not None else fixture_bytes(f"woocommerce/webhooks/{fixture}")
    return platforms.post_woocommerce(client, channel, topic, body, secret="woo-secret&1", **extra)


def test_woocommerce_ping_gets_200_and_stores_nothing(client):
    channel = factories.woocommerce_channel()
    response = client.post(
        f"/webhooks/woocommerce/{channel.pk}/",
        b"webhook_id=12",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert not ProcessedWebhookEvent.objects.exists()


def test_woocommerce_order_is_stored_keyed_on_resource_and_modification(client):
    channel = factories.woocommerce_channel()
    assert post_woo(client, channel).json()["status"] == "enqueued"
    # WooCommerce's delivery id changes every second; the same order state is still a duplicate.
    assert post_woo(client, channel, HTTP_X_WC_WEBHOOK_DELIVERY_ID="other").json()["status"] == "duplicate"
    changed = json.loads(fixture_bytes("woocommerce/webhooks/order_created.json"))
    changed["date_modified_gmt"] = "2030-01-01T00:00:00"
    assert post_woo(client, channel, body=json.dumps(changed).encode()).json()["status"] == "enqueued"
    events = ProcessedWebhookEvent.objects.order_by("pk")
    assert [e.topic for e in events] == ["order.created", "order.created"]
    assert events[0].triggered_at.isoformat() == "2017-03-22T19:28:08+00:00"


def test_woocommerce_deleted_payload_is_keyed_on_its_body(client):
    channel = factories.woocommerce_channel()
    response = post_woo(client, channel, fixture="order_deleted.json", topic="order.deleted")
    assert response.json()["status"] == "enqueued"
    assert ProcessedWebhookEvent.objects.get().event_key.startswith("order.deleted:7:sha256:")


def test_woocommerce_bad_signature_is_401(client):
    channel = factories.woocommerce_channel()
    assert post_woo(client, channel, HTTP_X_WC_WEBHOOK_SIGNATURE="bad").status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


def test_woocommerce_unknown_channel_is_401(client):
    channel = factories.woocommerce_channel()
    channel.pk += 100
    assert post_woo(client, channel).status_code == 401


# Shopee

PUSH = fixture_bytes("shopee/push/order_status_push_code3.json")


def post_shopee(client, body=PUSH, key=factories.SHOPEE_PARTNER_KEY):
    return platforms.post_shopee(client, None, body, partner_key=key)


def test_shopee_push_is_answered_with_an_empty_2xx_and_stored(client):
    factories.shopee_channel()
    response = post_shopee(client)
    assert response.status_code == 200
    assert response.content == b""
    event = ProcessedWebhookEvent.objects.get()
    assert event.topic == "order_status"
    assert event.payload["data"]["ordersn"] == "220810QSK8S7BX"
    assert event.triggered_at.timestamp() == 1660123127


def test_shopee_redelivery_is_a_duplicate_with_an_empty_2xx(client):
    factories.shopee_channel()
    post_shopee(client)
    # Same push, re-serialised with other whitespace: the digest is over its content.
    response = post_shopee(client, body=json.dumps(json.loads(PUSH), indent=2).encode())
    assert response.status_code == 200
    assert response.content == b""
    assert ProcessedWebhookEvent.objects.get().duplicate_count == 1


def test_shopee_bad_signature_and_unknown_shop_are_401(client):
    factories.shopee_channel()
    assert post_shopee(client, key="WRONG").status_code == 401
    factories.shopee_channel(shop_identifier="1")
    unknown = json.loads(PUSH) | {"shop_id": 999}
    assert post_shopee(client, body=json.dumps(unknown).encode()).status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


def test_shopee_signed_body_that_is_not_json_is_400_and_kept(client):
    channel = factories.shopee_channel()
    response = post_shopee(client, body=b"not json")
    assert response.status_code == 400
    event = ProcessedWebhookEvent.objects.get()
    assert (event.channel, event.status, event.raw_body) == (channel, EventStatus.FAILED, "not json")


def test_redis_down_still_answers_200_and_the_sweeper_enqueues_later(
    client, settings, run_worker, django_capture_on_commit_callbacks, caplog
):
    factories.shopify_channel()
    real_queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = rq_queues("redis://127.0.0.1:1/0", sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            body = fixture_bytes("shopify/webhooks/app_uninstalled.json")
            response = post_shopify(client, body=body, topic="app/uninstalled")
        assert len(callbacks) == 1
        assert "Redis unavailable" in caplog.text
    finally:
        settings.RQ_QUEUES = real_queues
        get_queue.cache_clear()
    assert response.status_code == 200
    assert response.json()["status"] == "enqueued"
    event = ProcessedWebhookEvent.objects.get()
    assert event.status == EventStatus.ENQUEUED
    assert get_queue("webhooks").count == 0
    assert events_sweep(enqueued_after=0).requeued == 1
    run_worker("webhooks")
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED


def test_a_non_ascii_signature_header_is_401_not_a_crash(client):
    factories.shopify_channel()
    assert post_shopify(client, HTTP_X_SHOPIFY_HMAC_SHA256="\xe9abc").status_code == 401


def test_a_chunked_body_without_length_is_411(client):
    factories.shopify_channel()
    response = post_shopify(client, HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    assert response.status_code == 411


def test_valid_json_the_database_cannot_hold_is_kept_as_raw_body(client):
    factories.shopify_channel()
    body = b'{"id": 1, "note": "nul \\u0000 and lone \\ud800 surrogate"}'
    response = post_shopify(client, body=body)
    event = ProcessedWebhookEvent.objects.get()
    if connection.vendor == "postgresql":  # jsonb refuses both; SQLite stores them
        assert response.status_code == 400
        assert event.status == EventStatus.FAILED
        assert event.raw_body == body.decode()
        assert "cannot be stored as JSON" in event.error_message
    else:
        assert response.status_code == 200


def test_a_non_json_body_with_nul_bytes_is_kept_readably(client):
    factories.shopify_channel()
    response = post_shopify(client, body=b"garbage\x00\xff")
    assert response.status_code == 400
    assert ProcessedWebhookEvent.objects.get().raw_body == "garbage\\x00\\xff"


def test_two_different_woocommerce_updates_within_one_second_are_both_kept(client):
    channel = factories.woocommerce_channel()
    first = json.loads(fixture_bytes("woocommerce/webhooks/order_created.json"))
    second = first | {"status": "completed"}  # same id, same date_modified_gmt (1 s resolution)
    assert post_woo(client, channel, body=json.dumps(first).encode()).json()["status"] == "enqueued"
    assert post_woo(client, channel, body=json.dumps(second).encode()).json()["status"] == "enqueued"
