"""The frequency cap at its boundary, and "never the same message twice"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from messaging.models import Automation, Campaign, Contact, Message, MessageStatus, MessagingSettings
from messaging.rules import marketing_sent
from tests.channels_app import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def contact():
    organization = factories.organization()
    return Contact.objects.create(organization=organization, phone="+14155550123")


def cap_reached(contact, rules, now):
    return marketing_sent([contact.pk], rules, now)[contact.pk] >= rules.cap_messages


def sent(contact, ago, *, transactional=False, status=MessageStatus.SENT):
    return Message.objects.create(
        organization=contact.organization,
        contact=contact,
        transactional=transactional,
        status=status,
        sent_at=NOW - ago,
    )


def test_the_third_message_in_24_hours_reaches_the_cap_and_the_oldest_leaving_the_window_frees_it(contact):
    rules = MessagingSettings(cap_messages=3, cap_hours=24)
    sent(contact, timedelta(hours=24))  # exactly 24 h ago: out of the window
    sent(contact, timedelta(hours=23, minutes=59))
    sent(contact, timedelta(hours=1))
    assert not cap_reached(contact, rules, NOW)  # two in the window
    sent(contact, timedelta(minutes=5))
    assert cap_reached(contact, rules, NOW)  # three
    assert not cap_reached(contact, rules, NOW + timedelta(minutes=1))  # the 23:59 one has left


def test_transactional_suppressed_and_failed_messages_do_not_count(contact):
    rules = MessagingSettings(cap_messages=1, cap_hours=24)
    sent(contact, timedelta(hours=1), transactional=True)
    sent(contact, timedelta(hours=1), status=MessageStatus.SUPPRESSED)
    sent(contact, timedelta(hours=1), status=MessageStatus.FAILED)
    assert not cap_reached(contact, rules, NOW)
    sent(contact, timedelta(hours=1), status=MessageStatus.DELIVERED)
    assert cap_reached(contact, rules, NOW)


def test_one_message_per_contact_per_automation_event_and_per_campaign(contact):
    organization = contact.organization
    automation = Automation.objects.create(
        organization=organization, name="Shipped", trigger="fulfillment_shipped", template="x"
    )
    campaign = Campaign.objects.create(organization=organization, name="Sale", template="y")
    Message.objects.create(
        organization=organization, contact=contact, automation=automation, event_key="order-1"
    )
    Message.objects.create(
        organization=organization, contact=contact, automation=automation, event_key="order-2"
    )
    Message.objects.create(organization=organization, contact=contact, campaign=campaign)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            organization=organization, contact=contact, automation=automation, event_key="order-1"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(organization=organization, contact=contact, campaign=campaign)
