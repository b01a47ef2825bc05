"""Commerce events: what happened to an order, recorded for the apps that answer it.

An event is a `CommerceEvent` row written in the order's own transaction, so it commits with the
order or not at all (an outbox). The orders app writes it and says so with
`commerce_event_recorded`; messaging, which listens, enqueues it once that transaction commits,
and its sweep sends any row still not handed on. The table is the orders app's: messaging marks an
event handed on, finds the ones still waiting and purges old ones through the functions below.
Orders never imports messaging.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.dispatch import Signal
from django.utils import timezone

from config.statements import insert_new
from orders.models import CommerceEvent, CommerceEventKind

# Sent with `event` (the new CommerceEvent) inside the writer's transaction, once per event.
# A wake-up only: the row is the record, and messaging's sweep catches what a listener missed.
commerce_event_recorded = Signal()


def commerce_event_record(*, kind: str, order_id: int, fulfillment_id: int | None = None) -> None:
    """Record the event in the caller's transaction (said twice, it is one event)."""
    # Plain text, not the enum member: the kind travels on as a job argument, stored as JSON.
    kind = CommerceEventKind(kind).value
    event = CommerceEvent(
        kind=kind,
        key=event_key(kind, order_id, fulfillment_id),
        order_id=order_id,
        fulfillment_id=fulfillment_id,
        created_at=timezone.now(),
    )
    # Said twice, it is one event: one statement, where get_or_create costs a SELECT, an INSERT
    # and a savepoint around it.
    if insert_new(event, unique=["key"]):
        commerce_event_recorded.send(sender=CommerceEvent, event=event)


def event_key(kind: str, order_id: int, fulfillment_id: int | None) -> str:
    """The event's identity: one message per contact and automation for it."""
    return f"{kind}:order-{order_id}" + (f":fulfillment-{fulfillment_id}" if fulfillment_id else "")


def commerce_event_mark_forwarded(*, kind: str, order_id: int, fulfillment_id: int | None) -> None:
    """Mark the event handed on, so that the sweep does not send it again."""
    CommerceEvent.objects.filter(key=event_key(kind, order_id, fulfillment_id), forwarded_at=None).update(
        forwarded_at=timezone.now()
    )


def commerce_events_waiting(*, older_than: int, limit: int) -> list[tuple[str, int, int | None]]:
    """The oldest events not handed on `older_than` seconds after they were recorded, as
    (kind, order id, fulfillment id); the partial index on waiting rows serves this query."""
    waiting = CommerceEvent.objects.filter(
        forwarded_at__isnull=True, created_at__lt=timezone.now() - timedelta(seconds=older_than)
    )
    return list(waiting.order_by("created_at").values_list("kind", "order_id", "fulfillment_id")[:limit])


def commerce_events_purge(*, before: datetime) -> int:
    """Delete the events recorded before `before` that were handed on; how many. One still
    waiting is kept whatever its age: its sweep has not sent it yet."""
    deleted, _ = CommerceEvent.objects.filter(created_at__lt=before, forwarded_at__isnull=False).delete()
    return deleted
