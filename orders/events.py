"""Commerce events: what happened to an order, recorded for the apps that answer it.

An event is a `CommerceEvent` row written in the order's own transaction, so it commits with the
order or not at all (an outbox). The orders app only writes it and says so with
`commerce_event_recorded`; messaging, which listens, enqueues it once that transaction commits,
and its sweep sends any row still not handed on. Orders never imports messaging.
"""

from __future__ import annotations

from django.dispatch import Signal

from orders.models import CommerceEvent, CommerceEventKind

# Sent with `event` (the new CommerceEvent) inside the writer's transaction, once per event.
# A wake-up only: the row is the record, and messaging's sweep catches what a listener missed.
commerce_event_recorded = Signal()


def commerce_event_record(*, kind: str, order_id: int, fulfillment_id: int | None = None) -> CommerceEvent:
    """Record the event in the caller's transaction (said twice, it is one event)."""
    kind = CommerceEventKind(kind).value  # plain text: it travels on as a job argument
    event, created = CommerceEvent.objects.get_or_create(
        key=event_key(kind, order_id, fulfillment_id),
        defaults={"kind": kind, "order_id": order_id, "fulfillment_id": fulfillment_id},
    )
    if created:
        commerce_event_recorded.send(sender=CommerceEvent, event=event)
    return event


def event_key(kind: str, order_id: int, fulfillment_id: int | None) -> str:
    """The event's identity: one message per contact and automation for it."""
    return f"{kind}:order-{order_id}" + (f":fulfillment-{fulfillment_id}" if fulfillment_id else "")
