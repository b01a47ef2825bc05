"""Claiming an event and reading it, with its channel, in one statement (both backends)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import EventStatus, ProcessedWebhookEvent
from tests.channels_app import factories
from tests.platforms import fixture_json


def stored_event(channel, **fields):
    return ProcessedWebhookEvent.objects.create(
        source=channel.platform,
        channel=channel,
        topic="orders/paid",
        event_key=f"orders/paid:{ProcessedWebhookEvent.objects.count()}",
        payload=fixture_json("shopify/webhooks/orders_paid.json"),
        headers={"Topic": "orders/paid"},
        request_id="req-claims",
        **fields,
    )


@pytest.mark.django_db
def test_the_claim_returns_the_event_as_the_orm_reads_it_with_its_channel():
    channel = factories.shopify_channel()
    event = stored_event(channel)

    claimed = ProcessedWebhookEvent.claim_read(event.pk)

    read = ProcessedWebhookEvent.objects.select_related("channel").get(pk=event.pk)
    assert claimed is not None
    assert read.status == EventStatus.PROCESSING
    assert read.attempts == 1
    for field in ProcessedWebhookEvent._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(read, field.attname), field.name
    for field in type(channel)._meta.concrete_fields:
        assert getattr(claimed.channel, field.attname) == getattr(read.channel, field.attname), field.name
    assert claimed.payload["id"] == fixture_json("shopify/webhooks/orders_paid.json")["id"]
    assert claimed.channel.webhook_secret == channel.webhook_secret  # decrypted as the ORM does


@pytest.mark.django_db
def test_an_event_is_claimed_once_and_a_failed_one_again():
    channel = factories.shopify_channel()
    event = stored_event(channel)

    assert ProcessedWebhookEvent.claim_read(event.pk) is not None
    assert ProcessedWebhookEvent.claim_read(event.pk) is None  # PROCESSING: another caller holds it
    ProcessedWebhookEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED)
    again = ProcessedWebhookEvent.claim_read(event.pk)
    assert again is not None and again.attempts == 2
    again.finish(EventStatus.COMPLETED)  # the attempt read by the claim is the one that holds it
    assert ProcessedWebhookEvent.objects.get(pk=event.pk).status == EventStatus.COMPLETED
    assert ProcessedWebhookEvent.claim_read(event.pk) is None
    assert ProcessedWebhookEvent.claim_read(event.pk + 1000) is None


@pytest.mark.django_db
def test_on_postgresql_the_claim_is_one_statement():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite cannot join in RETURNING; its second read costs no network round trip")
    event = stored_event(factories.shopify_channel())

    with CaptureQueriesContext(connection) as queries:
        claimed = ProcessedWebhookEvent.claim_read(event.pk)
        assert claimed.channel.is_active

    assert len(queries) == 1
