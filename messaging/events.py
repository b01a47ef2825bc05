"""Commerce events → automations → messages.

The orders app records what happened (an order paid or cancelled, a fulfillment created or
shipped) as a `CommerceEvent` row in its own transaction. It goes out once that commits
(`event_enqueue_on_commit`, connected to orders' signal), or later by `events_sweep`. On
`messaging-events` the event is normalized: its contact found or made from the order's phone
(E.164, read in the shipping country), and the plain data its templates may use. On
`messaging-automations` each active automation of that trigger whose conditions hold makes one
message (the database refuses a second for the same contact, automation and event), delivered now
or after the automation's delay.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.jobs import enqueue_unique
from messaging.contacts import phone_region
from messaging.models import Automation, Contact, Message, Trigger
from messaging.phones import PhoneError, e164
from messaging.queueing import messages_enqueue
from orders.events import commerce_event_mark_forwarded, commerce_events_waiting, event_key
from orders.models import CommerceEvent, Fulfillment, Order

logger = logging.getLogger(__name__)

NORMALIZE_JOB = "messaging.jobs.normalize_event"
EVALUATE_JOB = "messaging.jobs.evaluate_event"
TRANSACTIONAL_TRIGGERS = {Trigger.FULFILLMENT_CREATED, Trigger.FULFILLMENT_SHIPPED, Trigger.ORDER_CANCELLED}


class Forwarded(StrEnum):
    """What handing an event on did: the normalize job's result, stored by rq as this text."""

    NO_CONTACT = "no contact"  # the order is gone, or has no usable phone
    EVALUATED_NEXT = "evaluated next"
    ALREADY_EVALUATED = "already evaluated"


def event_enqueue_on_commit(sender: type[CommerceEvent], *, event: CommerceEvent, **kwargs: Any) -> None:
    """Connected to orders' `commerce_event_recorded` (`MessagingConfig.ready`): the event, just
    recorded in its order's transaction, goes out once that commits."""
    kind, order_id, fulfillment_id = event.kind, event.order_id, event.fulfillment_id
    # Robust: with Redis down the order still commits, and the sweep sends the event later.
    transaction.on_commit(lambda: _emit(kind, order_id, fulfillment_id), robust=True)


def _emit(kind: str, order_id: int, fulfillment_id: int | None) -> None:
    key = event_key(kind, order_id, fulfillment_id)
    # It returns False for the same event already on its way, which is not an error here.
    enqueue_unique("messaging-events", NORMALIZE_JOB, kind, order_id, fulfillment_id, job_id=_job_id(key))


def events_sweep(*, older_than: int = 120, limit: int = 1000) -> int:
    """Send again the commerce events not handed on after `older_than` seconds (Redis was down
    when their order committed, or lost their job); how many."""
    sent = 0
    for kind, order_id, fulfillment_id in commerce_events_waiting(older_than=older_than, limit=limit):
        _emit(kind, order_id, fulfillment_id)
        sent += 1
    return sent


def evaluate_job_id(key: str) -> str:
    return _job_id("evaluate:" + key)


def _job_id(key: str) -> str:
    return "event-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def event_normalize(kind: str, order_id: int, fulfillment_id: int | None) -> dict[str, Any] | None:
    """The event as automations read it, with its contact; None when the order has no usable phone."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return None
    address = order.shipping_address or order.billing_address or {}
    country = str(address.get("country_code") or address.get("country") or "")[:2].upper() or None
    raw = order.phone or address.get("phone") or (order.billing_address or {}).get("phone") or ""
    try:
        # Read in the shipping country; with none, in the merchant's own.
        phone = e164(str(raw), country or phone_region(order.organization_id))
    except PhoneError as exc:
        logger.info("order %s: no SMS for %s (%s)", order_id, kind, exc, extra={"order_id": order_id})
        return None
    contact, _ = Contact.objects.get_or_create(
        organization_id=order.organization_id,
        phone=phone,
        defaults={"name": order.customer_name[:200], "email": order.email[:254]},
    )
    event: dict[str, Any] = {
        "kind": kind,
        "key": event_key(kind, order_id, fulfillment_id),
        "organization_id": order.organization_id,
        "contact_id": contact.pk,
        "address_zone": country_zone(country or ""),
        "channel_id": order.channel_id,
        "order": {
            "number": order.number,
            "total": str(order.total),
            "currency": order.currency,
            "customer_name": order.customer_name,
            "city": address.get("city", ""),
        },
    }
    if fulfillment_id:
        fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).first()
        if fulfillment is not None:
            event["tracking"] = {
                "number": fulfillment.tracking_number,
                "company": fulfillment.tracking_company,
                "url": fulfillment.tracking_url,
            }
    return event


def event_forward(kind: str, order_id: int, fulfillment_id: int | None) -> Forwarded:
    """The normalized event handed to `messaging-automations` (once per event)."""
    event = event_normalize(kind, order_id, fulfillment_id)
    done = Forwarded.NO_CONTACT
    if event is not None:
        job_id = evaluate_job_id(event["key"])
        if enqueue_unique("messaging-automations", EVALUATE_JOB, event, job_id=job_id):
            done = Forwarded.EVALUATED_NEXT
        else:
            done = Forwarded.ALREADY_EVALUATED
    commerce_event_mark_forwarded(kind=kind, order_id=order_id, fulfillment_id=fulfillment_id)
    return done


def event_evaluate(event: dict[str, Any]) -> int:
    """One message per matching active automation; how many were made (not before)."""
    made = 0
    now = timezone.now()
    for automation in Automation.objects.filter(
        organization_id=event["organization_id"], trigger=event["kind"], is_active=True
    ):
        if not conditions_hold(automation.conditions, event):
            continue
        due = now + timedelta(minutes=automation.delay_minutes) if automation.delay_minutes else None
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    send_after=due,
                    organization_id=event["organization_id"],
                    contact_id=event["contact_id"],
                    automation=automation,
                    event_key=event["key"][:200],
                    transactional=automation.transactional or event["kind"] in TRANSACTIONAL_TRIGGERS,
                    context=event,
                )
        except IntegrityError:
            continue  # The contact has this automation's message for this event already.
        messages_enqueue([message.pk], at=due)
        made += 1
    return made


def conditions_hold(conditions: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether the event meets an automation's conditions: `min_total` (the order's, or the
    abandoned checkout's, total is at least this) and `channel_ids` (it comes from one of these
    channels)."""
    if "min_total" in conditions:
        try:
            amount = (event.get("order") or event.get("checkout") or {})["total"]
            if Decimal(amount) < Decimal(str(conditions["min_total"])):
                return False
        except (InvalidOperation, KeyError):
            return False
    if conditions.get("channel_ids") and event.get("channel_id") not in conditions["channel_ids"]:
        return False
    return True


@cache
def _country_zones() -> dict[str, list[str]]:
    """The IANA zones of each country, by ISO country code, read from the system's zone.tab."""
    zones: dict[str, list[str]] = {}
    for base in (Path("/usr/share/zoneinfo"), _tzdata_dir()):
        path = base / "zone.tab" if base else None
        if path and path.exists():
            for line in path.read_text().splitlines():
                if line and not line.startswith("#"):
                    fields = line.split("\t")
                    zones.setdefault(fields[0], []).append(fields[2])
            break
    return zones


def _tzdata_dir() -> Path | None:
    try:
        # Imported here, where its absence is handled: the tzdata package is optional.
        import tzdata  # type: ignore[import-not-found]

        return Path(tzdata.__file__).parent / "zoneinfo"
    except ImportError:
        return None


def country_zone(country: str) -> str:
    """The shipping country's zone when it has only one (France, Japan), else ""."""
    zones = _country_zones().get(country.upper(), [])
    return zones[0] if len(zones) == 1 else ""
