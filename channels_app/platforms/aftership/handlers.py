"""What AfterShip tracking events do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.handlers import Outcome
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.parsing import timestamp
from channels_app.platforms.shapes import Shape, Text50, Text100, Text200, When, validated
from channels_app.platforms.tracking import tracking_apply
from orders.tracking import TrackingUpdate


class _Tracking(Shape):
    tracking_number: Text100 | None = None
    slug: Text100 | None = None
    tag: Text50 | None = None
    subtag: Text100 | None = None
    subtag_message: Text200 | None = None
    # A time, or an object of dates (courier_estimated_delivery_date, as AfterShip documents it
    # now): read as a time where it is one.
    expected_delivery: Any = None
    courier_estimated_delivery_date: Any = None
    updated_at: When | None = None
    order_id: Text100 | None = None
    order_number: Text100 | None = None


class _Event(Shape):
    msg: _Tracking | None = None


def tracking(payload: Any) -> TrackingUpdate | None:
    """The tracking in `msg`: its tag (Delivered, InTransit, ...) is the status."""
    msg = validated(_Event, payload, "AfterShip event").msg
    if msg is None:
        return None
    return TrackingUpdate(
        tracking_number=msg.tracking_number or "",
        carrier=msg.slug or "",
        status=msg.tag or "",
        status_detail=msg.subtag_message or msg.subtag or "",
        estimated_delivery=timestamp(msg.expected_delivery or msg.courier_estimated_delivery_date),
        updated_at=msg.updated_at,
        order_ref=msg.order_id or msg.order_number or "",
    )


def tracking_apply_event(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    return tracking_apply(event, tracking(event.payload))
