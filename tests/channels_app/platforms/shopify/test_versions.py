"""The Shopify API version as a first-class setting: each delivery records the version it came in,
and the channel page warns when deliveries arrive in another version than the hub speaks, or in one
about to leave Shopify's support (12 months from its release: shopify.dev, "About Shopify API
versioning")."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from channels_app.models import EventStatus, ProcessedWebhookEvent, WebhookSubscription
from channels_app.platforms.shopify.versions import support_ends, version_warnings
from tests.channels_app import factories
from tests.channels_app.conftest import post_shopify
from tests.platforms import fixture_bytes

pytestmark = pytest.mark.django_db

ORDER = fixture_bytes("shopify/webhooks/orders_create.json")


def deliver(client, version, event_id):
    response = post_shopify(client, ORDER, event_id=event_id, HTTP_X_SHOPIFY_API_VERSION=version)
    assert response.status_code == 200
    return ProcessedWebhookEvent.objects.get(pk=response.json()["event"])


def test_support_ends_twelve_months_after_a_stable_release():
    assert support_ends("2026-04") == date(2027, 4, 1)
    assert support_ends("2025-10") == date(2026, 10, 1)
    assert support_ends("unstable") is None and support_ends("2026-05") is None


def test_each_delivery_records_the_api_version_it_came_in(client):
    factories.shopify_channel()
    assert deliver(client, "2026-07", "e1").api_version == "2026-07"


def test_an_api_version_header_longer_than_its_column_is_400_and_kept(client):
    factories.shopify_channel()
    response = post_shopify(client, ORDER, event_id="e1", HTTP_X_SHOPIFY_API_VERSION="2026-07" * 5)
    assert response.status_code == 400
    event = ProcessedWebhookEvent.objects.get()
    assert (event.status, event.error_message) == (
        EventStatus.FAILED,
        "api version is 35 characters, over 20",
    )


def test_no_warning_while_deliveries_and_subscriptions_are_in_the_hubs_supported_version(client, settings):
    channel = factories.shopify_channel()
    deliver(client, settings.SHOPIFY_API_VERSION, "e1")
    assert version_warnings(channel, today=date(2027, 1, 1)) == []


def test_deliveries_in_another_version_are_named_with_their_count(client, settings):
    channel = factories.shopify_channel()
    deliver(client, "2026-07", "e1")
    deliver(client, "2026-07", "e2")
    deliver(client, settings.SHOPIFY_API_VERSION, "e3")
    WebhookSubscription.objects.create(
        channel=channel, topic="orders/create", callback_url=channel.webhook_url, api_version="2026-04"
    )

    where = (
        "the webhooks API version in the app's configuration (Shopify's Dev Dashboard, or "
        "`[webhooks] api_version` in shopify.app.toml) to 2026-10."
    )
    assert version_warnings(channel, today=date(2026, 12, 6)) == [
        "2 webhook deliveries in the last 7 days arrived in API version 2026-07, not the hub's "
        f"2026-10: their payloads may be shaped differently. Set {where}",
        f"Shopify lists the webhook subscriptions at API version 2026-04, not the hub's 2026-10: set {where}",
    ]


def test_a_version_within_90_days_of_leaving_support_and_one_past_it_are_named(client, settings):
    channel = factories.shopify_channel()
    deliver(client, "2026-01", "e1")  # Shopify fell forward from an older one, or will soon
    settings.SHOPIFY_API_VERSION = "2026-04"

    warnings = version_warnings(channel, today=date(2027, 1, 15))

    assert warnings[1:] == [
        "API version 2026-01 left Shopify's support on 2027-01-01: Shopify now answers and sends "
        "webhooks in the oldest version it still supports.",
        "API version 2026-04 leaves Shopify's support on 2027-04-01, in 76 days: update "
        "SHOPIFY_API_VERSION before Shopify moves to a newer one by itself.",
    ]
    assert version_warnings(channel, today=date(2026, 9, 1))[1:] == []  # not yet within 90 days


def test_the_channel_page_shows_the_versions_and_warns(client, settings):
    channel = factories.shopify_channel()
    deliver(client, "2026-07", "e1")
    User.objects.create_superuser("ops", password="pw")
    client.login(username="ops", password="pw")

    page = client.get(reverse("admin:channels_app_channel_change", args=[channel.pk])).content.decode()

    assert "The hub speaks Shopify API 2026-10. Deliveries of the last 7 days: 2026-07 (1)." in page
    assert "1 webhook deliveries in the last 7 days arrived in API version 2026-07" in page
