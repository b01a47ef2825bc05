"""What carriers say about shipments (EasyPost and AfterShip webhooks), onto the hub's fulfillments.

A tracking update finds the fulfillments carrying its tracking number and records the carrier's
status on them (an update older than the last one recorded changes nothing). A tracking number
the hub has not seen, for an order the carrier names, becomes a fulfillment of that order, which
is then pushed to the order's channel like one created in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import Q

from orders.fulfillments import fulfillment_enqueue_on_commit
from orders.models import Fulfillment, Order


@dataclass(frozen=True)
class TrackingUpdate:
    tracking_number: str
    carrier: str
    status: str
    status_detail: str = ""
    estimated_delivery: datetime | None = None
    updated_at: datetime | None = None
    order_ref: str = ""  # the order the carrier was told of (AfterShip's order_id / order_number)


class TrackingApplied(StrEnum):
    """What applying a carrier's tracking update did."""

    UPDATED = "updated"
    STALE = "stale"  # older than what every fulfillment of the number recorded: nothing changed
    CREATED = "created"  # a new fulfillment of the order the carrier named, pushed to its channel
    UNKNOWN = "unknown"  # no fulfillment carries the number, and the carrier names no one live order


def tracking_update(*, organization_id: int, update: TrackingUpdate) -> TrackingApplied:
    """Apply one update to the fulfillments carrying its tracking number."""
    if not update.tracking_number:
        return TrackingApplied.UNKNOWN
    with transaction.atomic():
        fulfillments = list(
            Fulfillment.objects.select_for_update()
            .filter(order__organization_id=organization_id, tracking_number=update.tracking_number)
            .order_by("pk")
        )
        if fulfillments:
            fresh = [
                f
                for f in fulfillments
                if not (
                    f.tracking_updated_at and update.updated_at and update.updated_at < f.tracking_updated_at
                )
            ]
            for fulfillment in fresh:
                fulfillment.shipment_status = update.status[:50]
                fulfillment.shipment_status_detail = update.status_detail[:200]
                fulfillment.estimated_delivery = update.estimated_delivery
                fulfillment.tracking_updated_at = update.updated_at
                fulfillment.save(
                    update_fields=[
                        "shipment_status",
                        "shipment_status_detail",
                        "estimated_delivery",
                        "tracking_updated_at",
                    ]
                )
            return TrackingApplied.UPDATED if fresh else TrackingApplied.STALE
        order = _order_named(organization_id, update.order_ref)
        if order is None:
            return TrackingApplied.UNKNOWN
        fulfillment = Fulfillment.objects.create(
            order=order,
            tracking_number=update.tracking_number[:100],
            tracking_company=update.carrier[:100],
            shipment_status=update.status[:50],
            shipment_status_detail=update.status_detail[:200],
            estimated_delivery=update.estimated_delivery,
            tracking_updated_at=update.updated_at,
        )
        fulfillment_enqueue_on_commit(fulfillment)
        return TrackingApplied.CREATED


def _order_named(organization_id: int, ref: str) -> Order | None:
    """The one live order the carrier names; none when two stores' orders answer to it (a
    shipment attached to the wrong customer's order is worse than one left for a person)."""
    if not ref:
        return None
    named = Q(external_id=ref) | Q(number=ref) | Q(number=f"#{ref.lstrip('#')}")
    orders = list(
        Order.objects.filter(
            named, organization_id=organization_id, cancelled_at__isnull=True, deleted_at__isnull=True
        )[:2]
    )
    return orders[0] if len(orders) == 1 else None
