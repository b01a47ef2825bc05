"""What AfterShip tracking events do (registered in channels_app.handlers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import Outcome
from channels_app.platforms.shapes import Shape, Text50, Text100, Text200, WhenOrBlank, validated
from channels_app.platforms.tracking import tracking_apply
from orders.tracking import TrackingUpdate


class _DeliveryDates(Shape):
    """The shape of courier_, aftership_ and custom_estimated_delivery_date alike."""

    estimated_delivery_date: WhenOrBlank = None
    estimated_delivery_date_max: WhenOrBlank = None

    def best(self) -> datetime | None:
        return self.estimated_delivery_date or self.estimated_delivery_date_max


class _Estimate(Shape):
    """The shape of first_ and latest_estimated_delivery: a day, or a range of days."""

    day: WhenOrBlank = Field(default=None, alias="datetime")
    day_max: WhenOrBlank = Field(default=None, alias="datetime_max")

    def best(self) -> datetime | None:
        return self.day or self.day_max


class _Tracking(Shape):
    tracking_number: Text100 | None = None
    slug: Text100 | None = None
    tag: Text50 | None = None
    subtag: Text100 | None = None
    subtag_message: Text200 | None = None
    updated_at: WhenOrBlank = None
    order_id: Text100 | None = None
    order_number: Text100 | None = None
    # The estimated delivery: the latest estimate of any source, else the courier's, the
    # merchant's own, AfterShip's prediction, and in webhooks before 2024 `expected_delivery`.
    latest_estimated_delivery: _Estimate | None = None
    courier_estimated_delivery_date: _DeliveryDates | None = None
    custom_estimated_delivery_date: _DeliveryDates | None = None
    aftership_estimated_delivery_date: _DeliveryDates | None = None
    expected_delivery: WhenOrBlank = None

    def estimated_delivery(self) -> datetime | None:
        sources = (
            self.latest_estimated_delivery,
            self.courier_estimated_delivery_date,
            self.custom_estimated_delivery_date,
            self.aftership_estimated_delivery_date,
        )
        estimates = (source.best() for source in sources if source is not None)
        return next((day for day in estimates if day is not None), self.expected_delivery)


class _Event(Shape):
    msg: _Tracking | None = None


def tracking(payload: Any) -> TrackingUpdate | None:
    """The tracking in `msg`: its tag (Delivered, InTransit, ...) is the status. Shapes as AfterShip
    documents them (Webhook Specifications, and its SDK's Tracking model)."""
    msg = validated(_Event, payload, "AfterShip event").msg
    if msg is None:
        return None
    return TrackingUpdate(
        tracking_number=msg.tracking_number or "",
        carrier=msg.slug or "",
        status=msg.tag or "",
        status_detail=msg.subtag_message or msg.subtag or "",
        estimated_delivery=msg.estimated_delivery(),
        updated_at=msg.updated_at,
        order_ref=msg.order_id or msg.order_number or "",
    )


def tracking_apply_event(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    return tracking_apply(event, tracking(event.payload))
