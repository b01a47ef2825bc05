"""Abandoned checkouts: Shopify's checkouts/create and checkouts/update (WooCommerce sends none).

A platform says a checkout started or changed; nothing says it was abandoned. The hub records each
checkout (by its token: Shopify's API 2026-04 and later send no checkout id) with the phone it
was given, and one that neither completes nor changes for
MESSAGING_CHECKOUT_ABANDONED_AFTER minutes is abandoned: the sweep (every minute) hands it to the
automations as a `checkout_abandoned` event, once per checkout. The record is the schedule, so a
Redis that was down loses nothing. An order placed from the checkout ends it (its checkouts/update
with completed_at, or the order's checkout token); a message made for it that has not gone yet is
then suppressed (`checkout_completed`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.jobs import enqueue_unique
from messaging.consent import consent_record
from messaging.contacts import phone_region
from messaging.events import EVALUATE_JOB, country_zone, evaluate_job_id
from messaging.models import Checkout, ConsentState, Contact, Trigger
from messaging.phones import PhoneError, e164

logger = logging.getLogger(__name__)

TOO_OLD = timedelta(days=1)


class CheckoutSynced(StrEnum):
    """What recording a checkout did (the platform's handler says why it ignored some)."""

    STALE = "stale"  # older than the stored update: nothing changed
    COMPLETED = "completed"
    WAITING = "waiting"  # due to count as abandoned unless it changes or completes first
    ABANDONED_BEFORE = "abandoned before"
    TOO_OLD = "too old"  # last touched over TOO_OLD ago: recorded, never reminded of
    NO_PHONE = "no phone"  # recorded, with no usable number to text


@dataclass(frozen=True)
class CheckoutData:
    """A checkout as every platform's parser gives it."""

    token: str  # what names it, in every API version
    external_id: str = ""  # its id, where the payload still carries one
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    phones: tuple[str, ...] = ()  # the numbers it carries, the one given for SMS first
    sms_phone: str = ""  # the number given for texts, if any
    country: str = ""  # ISO 3166 alpha-2, of the shipping address
    customer_name: str = ""
    accepts_sms: bool = False  # the customer ticked "text me offers" (for `sms_phone`)
    total: Decimal = Decimal(0)
    currency: str = ""
    items: int = 0
    recovery_url: str = ""


def checkout_sync(*, channel: Any, data: CheckoutData) -> CheckoutSynced:
    """Record the checkout (idempotent; an update older than the stored one changes nothing) and
    when it counts as abandoned; what was done."""
    with transaction.atomic():
        # The row first (two workers with its create and its update at once: one inserts), then
        # locked, so the later update is the one that stays.
        Checkout.objects.get_or_create(
            channel=channel, token=data.token, defaults={"organization_id": channel.organization_id}
        )
        stored = Checkout.objects.select_for_update().get(channel=channel, token=data.token)
        if stored.platform_updated_at and data.updated_at and data.updated_at < stored.platform_updated_at:
            return CheckoutSynced.STALE
        contact = _contact(channel.organization_id, data, channel.platform)
        completed = data.completed_at or stored.completed_at
        abandoned_before = stored.abandoned_at is not None
        due = None
        last_seen = data.updated_at or timezone.now()
        # A checkout heard of only days later (a replay, a long outage) is too old to remind of.
        recent = last_seen > timezone.now() - TOO_OLD
        if contact is not None and not completed and not abandoned_before and recent:
            due = last_seen + timedelta(minutes=settings.MESSAGING_CHECKOUT_ABANDONED_AFTER)
        Checkout.objects.filter(pk=stored.pk).update(
            external_id=data.external_id[:100] or stored.external_id,
            contact=contact,
            customer_name=data.customer_name[:200],
            country=data.country[:2].upper(),
            total=data.total,
            currency=data.currency[:3],
            items=data.items,
            recovery_url=data.recovery_url[:1000],
            platform_updated_at=data.updated_at or stored.platform_updated_at,
            completed_at=completed,
            due_at=due,
            updated_at=timezone.now(),
        )
    if completed:
        return CheckoutSynced.COMPLETED
    if due:
        return CheckoutSynced.WAITING
    if abandoned_before:
        return CheckoutSynced.ABANDONED_BEFORE
    return CheckoutSynced.TOO_OLD if contact is not None else CheckoutSynced.NO_PHONE


def _contact(organization_id: int, data: CheckoutData, platform: str) -> Contact | None:
    """The contact of the checkout's first valid number; opted in if that is the number they gave
    for texts and ticked the box for (never over an opt-out they sent: that one stands until they
    opt in by SMS)."""
    region = data.country or phone_region(organization_id)
    for raw in data.phones:
        try:
            phone = e164(raw, region)
        except PhoneError:
            continue
        contact, _ = Contact.objects.get_or_create(
            organization_id=organization_id, phone=phone, defaults={"name": data.customer_name[:200]}
        )
        if data.accepts_sms and raw == data.sms_phone and contact.consent == ConsentState.UNKNOWN:
            text = f"{platform} checkout {data.token}: accepted SMS marketing"
            consent_record(contact, ConsentState.OPTED_IN, source="checkout", text=text)
        return contact
    return None


def checkout_converted(channel: Any, token: str, external_id: str = "") -> int:
    """An order was placed from the checkout with this token (and id, in older payloads): it is no
    longer abandoned. If its order came first, the checkout is recorded completed, so a late
    checkouts/create does not make it due."""
    now = timezone.now()
    if not token or len(token) > 100:
        return 0
    ending = Checkout.objects.filter(channel=channel, token=token, completed_at__isnull=True)
    done = ending.update(completed_at=now, due_at=None, updated_at=now)
    if not done:
        _, created = Checkout.objects.get_or_create(
            channel=channel,
            token=token,
            defaults={
                "organization_id": channel.organization_id,
                "external_id": external_id[:100],
                "completed_at": now,
            },
        )
        if not created:
            # Its checkouts/create inserted the row between the two statements: ended after all.
            return ending.update(completed_at=now, due_at=None, updated_at=now)
        done = 1
    return done


def checkout_completed(checkout_id: int) -> bool:
    return Checkout.objects.filter(pk=checkout_id, completed_at__isnull=False).exists()


def checkouts_due(*, limit: int = 500) -> int:
    """Hand the checkouts abandoned by now to the automations, each once; how many."""
    now = timezone.now()
    handed = 0
    for checkout in Checkout.objects.filter(due_at__lte=now).order_by("due_at")[:limit]:
        with transaction.atomic():
            # Claimed with the due time read: an update that moved it meanwhile wins.
            if not Checkout.objects.filter(pk=checkout.pk, due_at=checkout.due_at).update(
                due_at=None, abandoned_at=now, updated_at=now
            ):
                continue
            if checkout.contact_id is None:
                continue
            key = f"{Trigger.CHECKOUT_ABANDONED}:checkout-{checkout.pk}"
            event = {
                "kind": Trigger.CHECKOUT_ABANDONED.value,
                "key": key,
                "organization_id": checkout.organization_id,
                "contact_id": checkout.contact_id,
                "address_zone": country_zone(checkout.country),
                "channel_id": checkout.channel_id,
                "checkout": {
                    "id": checkout.pk,
                    "total": str(checkout.total),
                    "currency": checkout.currency,
                    "items": checkout.items,
                    "url": checkout.recovery_url,
                    "customer_name": checkout.customer_name,
                },
            }
            # In the claim's transaction: with Redis down the claim rolls back, and the next sweep
            # tries again. A second evaluation would make no second message.
            enqueue_unique("messaging-automations", EVALUATE_JOB, event, job_id=evaluate_job_id(key))
        handed += 1
    if handed:
        logger.info("%s abandoned checkouts handed to the automations", handed)
    return handed
