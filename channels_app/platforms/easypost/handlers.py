"""What EasyPost events do (registered in channels_app.handlers)."""

from __future__ import annotations

from typing import Any

from channels_app.handlers import Outcome
from channels_app.models import ProcessedWebhookEvent
from channels_app.platforms.parsing import text, timestamp
from channels_app.platforms.tracking import tracking_apply
from orders.tracking import TrackingUpdate


def tracker(payload: Any) -> TrackingUpdate | None:
    """A tracker.* Event's Tracker (`result`)."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or result.get("object") != "Tracker":
        return None
    return TrackingUpdate(
        tracking_number=text(result.get("tracking_code")),
        carrier=text(result.get("carrier")),
        status=text(result.get("status")),
        status_detail=text(result.get("status_detail")),
        estimated_delivery=timestamp(result.get("est_delivery_date")),
        updated_at=timestamp(result.get("updated_at")),
    )


def tracker_apply(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    return tracking_apply(event, tracker(event.payload))
