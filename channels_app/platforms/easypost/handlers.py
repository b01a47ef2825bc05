"""What EasyPost events do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.models import ProcessedWebhookEvent
from channels_app.outcomes import Outcome
from channels_app.platforms.shapes import Object, Shape, Text50, Text100, Text200, When, validated
from channels_app.platforms.tracking import tracking_apply
from orders.tracking import TrackingUpdate


class _Event(Shape):
    result: Object | None = None


class _Tracker(Shape):
    tracking_code: Text100
    carrier: Text100 | None = None
    status: Text50 | None = None
    status_detail: Text200 | None = None
    est_delivery_date: When | None = None
    updated_at: When | None = None


def tracker(payload: Any) -> TrackingUpdate | None:
    """A tracker.* Event's Tracker (`result`), as EasyPost's client libraries type it."""
    result = validated(_Event, payload, "EasyPost event").result
    if result is None or result.get("object") != "Tracker":
        return None
    shape = validated(_Tracker, result, "EasyPost tracker")
    return TrackingUpdate(
        tracking_number=shape.tracking_code,
        carrier=shape.carrier or "",
        status=shape.status or "",
        status_detail=shape.status_detail or "",
        estimated_delivery=shape.est_delivery_date,
        updated_at=shape.updated_at,
    )


def tracker_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    return tracking_apply(event, tracker(event.payload))
