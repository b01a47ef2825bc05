"""The channel a webhook names is kept a few seconds per web process (channels_app.channel_cache):
a change made by another process takes effect within those seconds, or at once where it can."""

from __future__ import annotations

import time

import pytest

from channels_app.models import Channel, ProcessedWebhookEvent
from tests.channels_app import factories
from tests.platforms import fixture_bytes, shopify_headers

ORDER = fixture_bytes("shopify/webhooks/orders_create.json")
TTL = 0.5  # seconds, in place of the default 5: what the tests wait for


@pytest.fixture(autouse=True)
def short_cache(settings):
    settings.HUB_WEBHOOK_CHANNEL_CACHE_SECONDS = TTL


def post(client, secret: str, event_id: str):
    headers = shopify_headers(
        secret=secret, body=ORDER, shop=factories.SHOPIFY_SHOP, topic="orders/create", event_id=event_id
    )
    return client.post("/webhooks/shopify/", data=ORDER, content_type="application/json", **headers)


def elsewhere(channel: Channel, **changes: object) -> None:
    """A change made by another process: a queryset write, which this process's cache never hears of."""
    Channel.objects.filter(pk=channel.pk).update(**changes)


@pytest.mark.django_db
def test_a_secret_rotated_elsewhere_is_accepted_at_once(client):
    channel = factories.shopify_channel()
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 200  # the channel is kept
    elsewhere(channel, webhook_secret="rotated-secret", previous_webhook_secret=factories.SHOPIFY_SECRET)
    assert post(client, "rotated-secret", "e2").status_code == 200
    assert post(client, factories.SHOPIFY_SECRET, "e3").status_code == 200  # the previous one, too


@pytest.mark.django_db
def test_a_secret_removed_elsewhere_stops_being_accepted_within_the_cache_time(client):
    channel = factories.shopify_channel()
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 200
    elsewhere(channel, webhook_secret="rotated-secret", previous_webhook_secret="")
    time.sleep(TTL + 0.1)
    assert post(client, factories.SHOPIFY_SECRET, "e2").status_code == 401
    assert post(client, "rotated-secret", "e3").status_code == 200
    assert sorted(ProcessedWebhookEvent.objects.values_list("event_key", flat=True)) == [
        "orders/create:event:e1",
        "orders/create:event:e3",
    ]


@pytest.mark.django_db
def test_a_secret_changed_in_this_process_takes_effect_at_once(client):
    channel = factories.shopify_channel()
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 200
    channel.webhook_secret, channel.previous_webhook_secret = "new-secret", ""
    channel.save()
    assert post(client, factories.SHOPIFY_SECRET, "e2").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_channel_deleted_elsewhere_is_refused_at_once_and_nothing_is_stored(client):
    channel = factories.shopify_channel()
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 200
    Channel.objects.filter(pk=channel.pk).delete()  # its events go with it
    # Still kept by this process: the event's row refers to a channel that is gone.
    response = post(client, factories.SHOPIFY_SECRET, "e2")
    assert response.status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()
    time.sleep(TTL + 0.1)
    assert post(client, factories.SHOPIFY_SECRET, "e3").status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_channel_deleted_elsewhere_stops_being_found_within_the_cache_time(client):
    channel = factories.shopify_channel()
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 200
    Channel.objects.filter(pk=channel.pk).delete()
    time.sleep(TTL + 0.1)
    assert post(client, factories.SHOPIFY_SECRET, "e2").status_code == 401
    assert not ProcessedWebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_unknown_shop_is_asked_for_each_time_so_a_new_channel_is_known_at_once(client):
    assert post(client, factories.SHOPIFY_SECRET, "e1").status_code == 401
    Channel.objects.bulk_create([Channel(**_shopify_fields(factories.shopify_channel))])  # no save()
    assert post(client, factories.SHOPIFY_SECRET, "e2").status_code == 200


def _shopify_fields(make) -> dict:
    """A Shopify channel's fields, made with the factory and removed again (for bulk_create)."""
    channel = make()
    fields = {
        f.attname: getattr(channel, f.attname) for f in Channel._meta.concrete_fields if f.attname != "id"
    }
    Channel.objects.filter(pk=channel.pk).delete()
    return fields
