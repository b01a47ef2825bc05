"""Abandoned checkouts: Shopify's signed checkouts/* webhooks → recorded → abandoned → automation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import EventStatus, ProcessedWebhookEvent
from messaging.checkouts import checkouts_due
from messaging.models import (
    Automation,
    Checkout,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    OutboxRecord,
    Suppression,
)
from tests.channels_app.conftest import post_shopify
from tests.platforms import SHOPIFY_WEBHOOK_VERSIONS, shopify_fixture_at

pytestmark = pytest.mark.django_db(transaction=True)


def recent(payload, minutes_ago):
    """The recorded payload as if it happened `minutes_ago` (the fixture's dates are fixed)."""
    at = (timezone.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()
    return (
        payload
        | {"created_at": at, "updated_at": at}
        | ({"completed_at": at} if payload["completed_at"] else {})
    )


QUEUES = ("webhooks", "messaging-automations", "messaging-delivery")


@pytest.fixture(autouse=True)
def come_back(channel):
    """The merchant's abandoned-checkout automation."""
    return Automation.objects.create(
        organization=channel.organization,
        name="Come back",
        trigger="checkout_abandoned",
        template="{{ checkout.items }} items wait for you: {{ checkout.url }}",
    )


@dataclass(frozen=True)
class Shapes:
    """The recorded payloads as Shopify sends them at one webhook API version."""

    version: str
    recorded: dict  # checkouts/create, with its recorded dates
    create: dict
    update: dict
    order: dict

    def ordered_from(self, checkout: dict) -> dict:
        """An order placed from the checkout, naming it as this version does."""
        return (
            self.order
            | {"checkout_token": checkout["token"]}
            | ({"checkout_id": checkout["id"]} if "checkout_id" in self.order else {})
        )


@pytest.fixture(params=SHOPIFY_WEBHOOK_VERSIONS)
def at(request):
    version = request.param
    recorded = shopify_fixture_at(version, "checkouts_create.json")
    return Shapes(
        version=version,
        recorded=recorded,
        create=recent(recorded, 10),
        update=recent(shopify_fixture_at(version, "checkouts_update.json"), 2),
        order=shopify_fixture_at(version, "orders_create.json"),
    )


@pytest.fixture
def deliver(client, run_worker, at):
    def deliver(payload, topic, event_id, version=None):
        body = json.dumps(payload).encode()
        response = post_shopify(
            client, body, topic=topic, event_id=event_id, HTTP_X_SHOPIFY_API_VERSION=version or at.version
        )
        assert response.status_code == 200
        run_worker(*QUEUES)
        return ProcessedWebhookEvent.objects.get(delivery_id=f"wh-{event_id}")

    return deliver


def abandon_now():
    Checkout.objects.exclude(due_at=None).update(due_at=timezone.now() - timedelta(seconds=1))


def test_a_checkout_left_alone_is_abandoned_once_and_its_automation_sends_the_recovery_link(
    at, deliver, run_worker, channel
):
    event = deliver(at.create, "checkouts/create", "ev-1")

    assert event.status == EventStatus.COMPLETED
    checkout = Checkout.objects.get()
    assert checkout.due_at == checkout.platform_updated_at + timedelta(minutes=60)
    contact = Contact.objects.get()
    # The number given for texts, and the box ticked at the checkout: opted in, on the ledger.
    assert (contact.phone, contact.consent) == ("+14155550123", ConsentState.OPTED_IN)
    assert contact.consent_events.get().text == ("shopify checkout 123123123: accepted SMS marketing")
    assert checkouts_due() == 0  # not yet

    abandon_now()
    assert checkouts_due() == 1
    run_worker(*QUEUES)
    assert OutboxRecord.objects.get().body == (
        "2 items wait for you: https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
    )
    abandon_now()
    assert checkouts_due() == 0  # once per checkout
    assert Checkout.objects.get().abandoned_at is not None


def test_a_completed_checkout_is_not_abandoned_and_an_older_update_changes_nothing(
    at, deliver, run_worker, channel
):
    deliver(at.create, "checkouts/create", "ev-1")
    deliver(at.update, "checkouts/update", "ev-2")
    assert Checkout.objects.get().due_at is None

    stale = deliver(at.create | {"completed_at": None}, "checkouts/update", "ev-3")

    assert (stale.status, stale.ignored_reason) == (
        EventStatus.IGNORED,
        "stale update: older than the stored checkout",
    )
    checkout = Checkout.objects.get()
    assert checkout.completed_at is not None and checkout.due_at is None
    abandon_now()
    assert checkouts_due() == 0 and not Message.objects.exists()


def test_the_order_placed_from_a_checkout_ends_it(at, deliver, run_worker, channel):
    deliver(at.create, "checkouts/create", "ev-1")

    deliver(at.ordered_from(at.create), "orders/create", "ev-2")

    assert Checkout.objects.get().due_at is None
    assert checkouts_due() == 0


def test_a_purchase_after_the_reminder_was_made_suppresses_it(at, deliver, run_worker, channel):
    Automation.objects.update(delay_minutes=30)  # the merchant waits a little longer still
    deliver(at.create, "checkouts/create", "ev-1")
    abandon_now()
    checkouts_due()
    run_worker(*QUEUES)
    waiting = Message.objects.get()
    assert waiting.status == MessageStatus.QUEUED and waiting.send_after > timezone.now()

    deliver(at.update, "checkouts/update", "ev-2")
    Message.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    from messaging.delivery import messages_deliver

    messages_deliver([waiting.pk])

    waiting.refresh_from_db()
    assert (waiting.status, waiting.suppression_reason) == (
        MessageStatus.SUPPRESSED,
        Suppression.CHECKOUT_COMPLETED,
    )
    assert not OutboxRecord.objects.exists()


def test_a_checkout_without_a_usable_phone_is_recorded_and_never_due(at, deliver, run_worker, channel):
    no_phone = at.create | {"sms_marketing_phone": None, "shipping_address": None, "billing_address": None}

    event = deliver(no_phone, "checkouts/create", "ev-1")

    assert event.status == EventStatus.IGNORED
    assert Checkout.objects.get().due_at is None and not Contact.objects.exists()


def test_an_opt_out_the_customer_sent_stands_over_a_ticked_box(at, deliver, run_worker, channel):
    from messaging.consent import consent_record

    person = Contact.objects.create(organization=channel.organization, phone="+14155550123")
    consent_record(person, ConsentState.OPTED_OUT, source="inbound SMS", text="STOP")

    deliver(at.create, "checkouts/create", "ev-1")
    abandon_now()
    checkouts_due()
    run_worker(*QUEUES)

    person.refresh_from_db()
    assert person.consent == ConsentState.OPTED_OUT
    assert Message.objects.get().suppression_reason == Suppression.OPTED_OUT


def test_a_checkout_heard_of_a_day_late_is_recorded_but_not_reminded_of(at, deliver, run_worker, channel):
    event = deliver(at.recorded, "checkouts/create", "ev-1")  # dated 2026-11-25

    assert (event.status, event.ignored_reason) == (
        EventStatus.IGNORED,
        "the checkout was last touched over a day ago: too old to remind of (recorded)",
    )
    assert Checkout.objects.get().due_at is None


def test_an_order_that_arrives_before_its_checkout_still_ends_it(at, deliver, run_worker, channel):
    deliver(at.ordered_from(at.create), "orders/create", "ev-1")

    deliver(at.create, "checkouts/create", "ev-2")  # late

    checkout = Checkout.objects.get()
    assert checkout.completed_at is not None and checkout.due_at is None
    assert checkouts_due() == 0


def test_the_box_ticked_for_another_number_opts_in_no_one(at, deliver, run_worker, channel):
    other = at.create | {"sms_marketing_phone": "not a number"}  # the shipping phone is used instead

    deliver(other, "checkouts/create", "ev-1")

    assert Contact.objects.get().consent == ConsentState.UNKNOWN


def test_a_checkout_begun_before_the_app_moved_to_2026_04_is_the_same_checkout_after(
    deliver, run_worker, channel
):
    """Shopify moves an app's webhooks to a newer version by itself when the old one leaves
    support: the checkout it named by id and token goes on by its token alone."""
    before = recent(shopify_fixture_at("2025-07", "checkouts_create.json"), 10)
    after = recent(shopify_fixture_at("2026-07", "checkouts_update.json"), 2)
    assert "id" in before and "id" not in after

    deliver(before, "checkouts/create", "ev-1", version="2025-07")
    deliver(after, "checkouts/update", "ev-2", version="2026-07")

    checkout = Checkout.objects.get()
    assert (checkout.token, checkout.external_id) == ("123123123", "981820079255243537")
    assert checkout.completed_at is not None and checkout.due_at is None


def test_a_checkout_without_a_token_is_refused_by_name(at, deliver, channel):
    event = deliver(
        {key: value for key, value in at.create.items() if key != "token"}, "checkouts/create", "ev-1"
    )

    assert event.status == EventStatus.FAILED
    assert "Shopify checkout" in event.error_message and "token" in event.error_message, event.error_message
    assert not Checkout.objects.exists()
