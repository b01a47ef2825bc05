"""Carrier tracking webhooks (EasyPost, AfterShip): verified, stored, applied to fulfillments."""

from __future__ import annotations

import json

import pytest

from channels_app.models import EventStatus, Platform, ProcessedWebhookEvent
from channels_app.services import channel_create
from config.queues import get_queue
from orders.models import Fulfillment, PushStatus
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.orders import factories as orders
from tests.platforms import fixture_bytes, fixture_json, post_carrier

pytestmark = pytest.mark.django_db

VECTOR = fixture_json("carrier/easypost/webhook_vector.json")
EASYPOST_BODY = fixture_bytes("carrier/easypost/event-body.json")
AFTERSHIP_SECRET = "aftership-secret"


@pytest.fixture
def order():
    return orders.order(factories.shopify_channel(), "450789469", number="#1001", financial_status="paid")


@pytest.fixture
def easypost(order):
    return factories.easypost_channel(webhook_secret=VECTOR["secret"])


@pytest.fixture
def aftership(order):
    return factories.aftership_channel(webhook_secret=AFTERSHIP_SECRET)


def post(client, carrier, body, **headers):
    return client.post(f"/webhooks/carriers/{carrier}/", body, content_type="application/json", **headers)


def test_an_easypost_tracker_update_signed_as_easypost_signs_updates_the_fulfillment(
    client, easypost, order, run_worker, django_capture_on_commit_callbacks
):
    fulfillment = Fulfillment.objects.create(order=order, tracking_number="1", tracking_company="FedEx")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "easypost", EASYPOST_BODY, HTTP_X_HMAC_SIGNATURE=VECTOR["header_value"])
    assert response.status_code == 200 and response.json()["status"] == "enqueued"
    assert get_queue("shipment-tracking").count == 1 and get_queue("webhooks").count == 0
    run_worker("shipment-tracking")
    event = ProcessedWebhookEvent.objects.get()
    assert (event.source, event.topic, event.status) == ("easypost", "tracker.updated", EventStatus.COMPLETED)
    fulfillment.refresh_from_db()
    assert (fulfillment.shipment_status, fulfillment.shipment_status_detail) == (
        "in_transit",
        "arrived_at_facility",
    )
    assert fulfillment.estimated_delivery.isoformat() == "2024-08-05T00:00:00+00:00"
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, "easypost", EASYPOST_BODY, HTTP_X_HMAC_SIGNATURE=VECTOR["header_value"])
    assert again.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    "signature",
    [
        "hmac-sha256-hex=7f1669d6699d0b937cc1e69402423bdd2be0a8bcf571d34a8116765f1741219b",  # secret not NFKD
        "38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db",  # no prefix
        "hmac-sha256-hex=ünïcode",
        None,
    ],
)
def test_an_easypost_webhook_not_signed_with_the_secret_is_refused_and_not_stored(
    client, easypost, signature
):
    headers = {"HTTP_X_HMAC_SIGNATURE": signature} if signature else {}
    assert post(client, "easypost", EASYPOST_BODY, **headers).status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


def aftership_body(**msg):
    return json.dumps(
        {
            "ts": 1732560000,
            "event": "tracking_update",
            "event_id": "3b8d5ab4-7b3c-4f8e-9d3e-0f1c2a3b4c5d",
            "is_tracking_first_tag": True,
            "msg": {
                "id": "5b7658cec7c33c0e007de3c5",
                "tracking_number": "1Z9999W99999999999",
                "slug": "ups",
                "tag": "InTransit",
                "subtag": "InTransit_001",
                "subtag_message": "In Transit",
                "updated_at": "2026-11-25T18:00:00+00:00",
                "expected_delivery": "2026-11-28",
                **msg,
            },
        }
    ).encode()


def test_an_aftership_tracking_number_new_to_the_hub_becomes_a_fulfillment_pushed_to_the_channel(
    client, aftership, order, run_worker, django_capture_on_commit_callbacks
):
    body = aftership_body(order_id="450789469")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_carrier(client, aftership, body)
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        run_worker("shipment-tracking")
    fulfillment = Fulfillment.objects.get(order=order)
    assert (fulfillment.tracking_number, fulfillment.tracking_company, fulfillment.shipment_status) == (
        "1Z9999W99999999999",
        "ups",
        "InTransit",
    )
    assert fulfillment.push_status == PushStatus.PENDING
    assert get_queue("fulfillment").job_ids == [
        fulfillment.job_id
    ]  # the new tracking number goes to the channel


def test_an_older_tracking_update_changes_nothing(
    client, aftership, order, run_worker, django_capture_on_commit_callbacks
):
    fulfillment = Fulfillment.objects.create(
        order=order, tracking_number="1Z9999W99999999999", tracking_company="UPS"
    )
    for event_id, tag, updated in (
        ("e-new", "Delivered", "2026-11-26T10:00:00Z"),
        ("e-old", "InTransit", "2026-11-25T10:00:00Z"),
    ):
        body = json.loads(aftership_body(tag=tag, updated_at=updated))
        body["event_id"] = event_id
        raw = json.dumps(body).encode()
        with django_capture_on_commit_callbacks(execute=True):
            post_carrier(client, aftership, raw)
        run_worker("shipment-tracking")
    fulfillment.refresh_from_db()
    assert fulfillment.shipment_status == "Delivered"
    old = ProcessedWebhookEvent.objects.get(event_key="tracking_update:e-old")
    assert (old.status, old.ignored_reason) == (
        EventStatus.IGNORED,
        "stale tracking update: older than the one recorded",
    )


def test_a_tracking_number_of_no_order_is_kept_and_ignored_with_its_reason(
    client, aftership, run_worker, django_capture_on_commit_callbacks
):
    body = aftership_body()
    with django_capture_on_commit_callbacks(execute=True):
        post_carrier(client, aftership, body)
    run_worker("shipment-tracking")
    event = ProcessedWebhookEvent.objects.get()
    assert event.status == EventStatus.IGNORED and "1Z9999W99999999999" in event.ignored_reason


def test_an_unknown_carrier_is_404_and_a_carrier_channel_says_where_to_point_it(client, easypost):
    assert post(client, "dhl", b"{}").status_code == 404
    assert easypost.webhook_url.endswith(f"/webhooks/carriers/easypost/{easypost.pk}/")
    from channels_app.sync import channel_verify

    ok, message = channel_verify(easypost)
    assert not ok and easypost.webhook_url in message


def test_an_order_number_two_stores_share_attaches_the_shipment_to_neither(
    client, aftership, order, run_worker, django_capture_on_commit_callbacks
):
    woo = factories.woocommerce_channel()
    order_sync(channel=woo, data=OrderData(external_id="1001", number="1001", lines=(LineData("1", 1, 1),)))
    body = aftership_body(order_id="1001")  # Shopify's #1001 and WooCommerce's 1001
    with django_capture_on_commit_callbacks(execute=True):
        post_carrier(client, aftership, body)
    run_worker("shipment-tracking")
    assert not Fulfillment.objects.exists()
    assert ProcessedWebhookEvent.objects.get().status == EventStatus.IGNORED


def test_two_carrier_accounts_sharing_a_secret_get_nothing_at_the_shared_url_and_all_at_their_own(
    client, easypost, order, django_capture_on_commit_callbacks
):
    from channels_app.models import Organization

    other_org = Organization.objects.create(name="Globex", slug="globex")
    other = channel_create(
        organization_slug=other_org.slug,
        platform=Platform.EASYPOST,
        shop_identifier="easypost-globex",
        webhook_secret=VECTOR["secret"],
    )
    headers = {"HTTP_X_HMAC_SIGNATURE": VECTOR["header_value"]}
    assert post(client, "easypost", EASYPOST_BODY, **headers).status_code == 401  # whose is it? neither's
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/webhooks/carriers/easypost/{other.pk}/",
            EASYPOST_BODY,
            content_type="application/json",
            **headers,
        )
    assert response.status_code == 200
    assert ProcessedWebhookEvent.objects.get().channel == other


def post_aftership(client, aftership, body: bytes, django_capture_on_commit_callbacks, run_worker):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_carrier(client, aftership, body)
    assert response.status_code == 200
    run_worker("shipment-tracking")
    return ProcessedWebhookEvent.objects.latest("pk")


def test_aftership_delivery_estimates_are_read_from_the_documented_fields_and_revised(
    client, aftership, order, run_worker, django_capture_on_commit_callbacks
):
    """Today's shapes (AfterShip's published tracking model): no `expected_delivery`; the estimate
    is `latest_estimated_delivery` (a day or a range), then the courier's, and so on."""
    for name, day in (("tracking_update", "2026-11-29"), ("edd_revise", "2026-12-01")):
        body = fixture_bytes(f"carrier/aftership/{name}.json")
        event = post_aftership(client, aftership, body, django_capture_on_commit_callbacks, run_worker)
        assert event.status == EventStatus.COMPLETED, event.error_message
        fulfillment = Fulfillment.objects.get(order=order)
        assert fulfillment.estimated_delivery.isoformat() == f"{day}T00:00:00+00:00", name


def test_an_older_aftership_webhook_still_gives_its_expected_delivery(
    client, aftership, order, run_worker, django_capture_on_commit_callbacks
):
    body = aftership_body(order_id="450789469", expected_delivery="2026-11-28")
    post_aftership(client, aftership, body, django_capture_on_commit_callbacks, run_worker)
    assert Fulfillment.objects.get(order=order).estimated_delivery.isoformat() == "2026-11-28T00:00:00+00:00"
    blank = aftership_body(order_id="450789469", expected_delivery="", updated_at="2026-11-26T00:00:00+00:00")
    assert (
        post_aftership(client, aftership, blank, django_capture_on_commit_callbacks, run_worker).status
        == EventStatus.COMPLETED
    )
