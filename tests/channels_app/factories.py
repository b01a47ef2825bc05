"""Valid organizations and channels, one function per platform, made as `create_channel` makes them."""

from __future__ import annotations

from typing import Any

from channels_app.intake import event_enqueue, queue_for
from channels_app.models import Channel, Organization, Platform, ProcessedWebhookEvent
from channels_app.services import channel_create

SHOPIFY_SECRET = "test_secret_key"
WOO_SECRET = "woo-secret&amp;1"  # stored as WordPress stores it: entities encoded
SHOPEE_PARTNER_KEY = "PARTNER_KEY"
SHOPIFY_SHOP = "snowdevil.myshopify.com"
SHOPEE_SHOP_ID = "727720655"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token"
EASYPOST_SECRET = "easypost-secret"
AFTERSHIP_SECRET = "aftership-secret"


CREDENTIALS = ("access_token", "refresh_token", "consumer_key", "consumer_secret")


def organization(slug: str = "acme", name: str = "") -> Organization:
    """A merchant's company; its name is its slug in title case unless given ("acme" is "Acme")."""
    return Organization.objects.create(slug=slug, name=name or slug.title())


def _create(platform: str, values: dict[str, Any]) -> Channel:
    credentials = dict(values.pop("credentials", {}))
    credentials.update({name: values.pop(name) for name in CREDENTIALS if name in values})
    flags = {name: values.pop(name) for name in ("push_catalog",) if name in values}
    channel = channel_create(organization_slug="acme", platform=platform, credentials=credentials, **values)
    if flags:
        Channel.objects.filter(pk=channel.pk).update(**flags)
        channel.refresh_from_db()
    return channel


def shopify_channel(**overrides: Any) -> Channel:
    values = {"shop_identifier": SHOPIFY_SHOP, "webhook_secret": SHOPIFY_SECRET, **overrides}
    return _create(Platform.SHOPIFY, values)


def woocommerce_channel(**overrides: Any) -> Channel:
    values = {"shop_identifier": "https://shop.example.com", "webhook_secret": WOO_SECRET, **overrides}
    return _create(Platform.WOOCOMMERCE, values)


def shopee_channel(**overrides: Any) -> Channel:
    values = {
        "shop_identifier": SHOPEE_SHOP_ID,
        "webhook_secret": SHOPEE_PARTNER_KEY,
        "partner_id": "2001887",
        **overrides,
    }
    return _create(Platform.SHOPEE, values)


def twilio_channel(**overrides: Any) -> Channel:
    """A Twilio account: its SID names it in every callback and its auth token signs them."""
    values = {"shop_identifier": TWILIO_SID, "webhook_secret": TWILIO_TOKEN, "name": "Twilio", **overrides}
    return _create(Platform.TWILIO, values)


def easypost_channel(**overrides: Any) -> Channel:
    values = {"shop_identifier": "easypost-acme", "webhook_secret": EASYPOST_SECRET, **overrides}
    return _create(Platform.EASYPOST, values)


def aftership_channel(**overrides: Any) -> Channel:
    values = {"shop_identifier": "aftership-acme", "webhook_secret": AFTERSHIP_SECRET, **overrides}
    return _create(Platform.AFTERSHIP, values)


def queued_event(
    channel: Channel, topic: str = "test/topic", payload: Any = None, **fields: Any
) -> ProcessedWebhookEvent:
    """An event stored as the intake stores it, its job on its queue."""
    count = ProcessedWebhookEvent.objects.count()
    event = ProcessedWebhookEvent.objects.create(
        source=channel.platform,
        channel=channel,
        topic=topic,
        event_key=f"{topic}:{count}",
        payload={"id": 1} if payload is None else payload,
        request_id=f"req-{count}",
        **fields,
    )
    assert event_enqueue(event.pk, event.request_id, queue_for(channel.platform))
    return event


def event_statuses(events: list[ProcessedWebhookEvent]) -> list[str]:
    """Each event's status as stored now."""
    stored = dict(
        ProcessedWebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("pk", "status")
    )
    return [stored[event.pk] for event in events]
