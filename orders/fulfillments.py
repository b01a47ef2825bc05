"""Fulfillments created in the hub, pushed to the order's channel once.

`fulfillment_create` records the shipment and enqueues its push on the `fulfillment` queue after
commit; `fulfillment_push` claims it and calls the channel's client (reached through the platform
registry). Once: the claim is a conditional UPDATE, and every client checks what the platform
already holds before writing, so a job retried after a lost answer finds its own fulfillment
rather than making a second.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rq.job import Job

from channels_app.clients import Shipment, client_for
from config.jobs import enqueue_unique
from config.queues import get_queue
from config.workers import job_will_retry, running_as_job
from orders.events import commerce_event_record
from orders.models import CommerceEventKind, Fulfillment, Order, PushStatus

logger = logging.getLogger(__name__)

PUSH_JOB = "orders.jobs.push_fulfillment"


class FulfillmentError(Exception):
    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def fulfillment_create(*, order_id: int, tracking_number: str, carrier: str, url: str = "") -> Fulfillment:
    """Record a shipment of the order and push it to its channel after commit."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise FulfillmentError(f"no order {order_id}")
    if order.cancelled_at is not None or order.deleted_at is not None:
        raise FulfillmentError(f"order {order.number or order.pk} is cancelled or deleted: nothing to ship")
    with transaction.atomic():
        fulfillment = Fulfillment.objects.create(
            order=order, tracking_number=tracking_number, tracking_company=carrier, tracking_url=url
        )
        fulfillment_enqueue_on_commit(fulfillment)
        _commerce_events(fulfillment)
    return fulfillment


def _commerce_events(fulfillment: Fulfillment) -> None:
    """Record that a fulfillment was created, and shipped if it has tracking (`orders.events`)."""
    commerce_event_record(
        kind=CommerceEventKind.FULFILLMENT_CREATED,
        order_id=fulfillment.order_id,
        fulfillment_id=fulfillment.pk,
    )
    if fulfillment.tracking_number:
        commerce_event_record(
            kind=CommerceEventKind.FULFILLMENT_SHIPPED,
            order_id=fulfillment.order_id,
            fulfillment_id=fulfillment.pk,
        )


def fulfillment_enqueue_on_commit(fulfillment: Fulfillment) -> None:
    # Robust, so that Redis being down cannot fail what committed; the sweep below enqueues the
    # push later.
    transaction.on_commit(lambda: fulfillment_enqueue(fulfillment.pk), robust=True)


def fulfillment_enqueue(fulfillment_id: int) -> bool:
    """Enqueue the fulfillment's push; whether it was enqueued now (False: its job is there already)."""
    return enqueue_unique("fulfillment", PUSH_JOB, fulfillment_id, job_id=f"fulfillment-{fulfillment_id}")


def fulfillments_sweep(*, older_than: int = 120) -> int:
    """Enqueue the push of every fulfillment still PENDING whose job is gone (Redis was down when
    it was created, or its job was lost); a queued, scheduled or running job is left alone."""
    connection = get_queue("fulfillment").connection
    stale = Fulfillment.objects.filter(
        push_status=PushStatus.PENDING, created_at__lt=timezone.now() - timedelta(seconds=older_than)
    ).values_list("pk", flat=True)
    swept = 0
    for pk in stale.iterator():
        if not Job.exists(f"fulfillment-{pk}", connection=connection) and fulfillment_enqueue(pk):
            swept += 1
    return swept


def fulfillment_push(fulfillment_id: int) -> Fulfillment:
    """Claim the fulfillment and push it to its order's channel; one already pushed, or held by
    another job, is left as it is. A failure is recorded on it and raised, for rq to retry."""
    claimable = [PushStatus.PENDING]
    if running_as_job(f"fulfillment-{fulfillment_id}"):
        # Its own job run again: after a worker died mid-push, or retried by ops from the
        # dead-letter queue (no other job can hold this fulfillment: the id is unique).
        claimable += [PushStatus.PUSHING, PushStatus.FAILED]
    claimed = Fulfillment.objects.filter(pk=fulfillment_id, push_status__in=claimable).update(
        push_status=PushStatus.PUSHING, push_error=""
    )
    fulfillment = Fulfillment.objects.select_related("order__channel").get(pk=fulfillment_id)
    if not claimed:
        logger.info("fulfillment %s is %s: nothing to push", fulfillment_id, fulfillment.push_status)
        return fulfillment
    Fulfillment.objects.filter(pk=fulfillment_id).update(push_attempts=fulfillment.push_attempts + 1)
    order = fulfillment.order
    shipment = Shipment(
        order_external_id=order.external_id,
        tracking_number=fulfillment.tracking_number,
        carrier=fulfillment.tracking_company,
        tracking_url=fulfillment.tracking_url,
    )
    try:
        external_id = client_for(order.channel).push_fulfillment(shipment)
    except BaseException as exc:
        retrying = job_will_retry(exc)
        Fulfillment.objects.filter(pk=fulfillment_id).update(
            push_status=PushStatus.PENDING if retrying else PushStatus.FAILED,
            push_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise
    Fulfillment.objects.filter(pk=fulfillment_id).update(
        push_status=PushStatus.PUSHED, external_id=external_id[:100], pushed_at=timezone.now()
    )
    logger.info(
        "fulfillment %s of order %s pushed to channel %s as %s",
        fulfillment_id,
        order.pk,
        order.channel_id,
        external_id,
        extra={"order_id": order.pk, "channel_id": order.channel_id},
    )
    fulfillment.refresh_from_db()
    return fulfillment


class FulfillmentReported(StrEnum):
    """What recording a fulfillment the platform reports did."""

    RECORDED = "recorded"  # made on the platform: new to the hub, stored as already pushed
    KNOWN = "known"  # the echo of the hub's own push, now marked pushed
    NO_ORDER = "no order"  # its order is not in the hub (the reconciliation brings it)


def fulfillment_from_platform(
    *, channel_id: int, order_external_id: str, external_id: str, tracking_number: str, carrier: str, url: str
) -> FulfillmentReported:
    """Record once a fulfillment the platform reports (made there, or the echo of one the hub
    pushed), as already on the platform."""
    order = Order.objects.filter(channel_id=channel_id, external_id=order_external_id).first()
    if order is None:
        return FulfillmentReported.NO_ORDER
    mine = (
        Q(external_id=external_id) | Q(external_id="", tracking_number=tracking_number)
        if tracking_number
        else Q(external_id=external_id)
    )
    with transaction.atomic():
        existing = Fulfillment.objects.select_for_update().filter(mine, order=order).order_by("pk").first()
        if existing is not None:
            Fulfillment.objects.filter(pk=existing.pk).update(
                external_id=external_id,
                push_status=PushStatus.PUSHED,
                pushed_at=existing.pushed_at or timezone.now(),
            )
            return FulfillmentReported.KNOWN
        recorded = Fulfillment.objects.create(
            order=order,
            external_id=external_id,
            tracking_number=tracking_number[:100],
            tracking_company=carrier[:100],
            tracking_url=url[:200],
            push_status=PushStatus.PUSHED,  # It was made on the platform: there is nothing to push.
            pushed_at=timezone.now(),
        )
        _commerce_events(recorded)
    return FulfillmentReported.RECORDED
