"""Jobs of orders. Their import paths and arguments are a public API: failed jobs are retried
from the admin days after they were enqueued."""

from __future__ import annotations

from orders.fulfillments import fulfillment_push, fulfillments_sweep


def push_fulfillment(fulfillment_id: int) -> str:
    """Push a fulfillment created in the hub to its order's channel (orders.fulfillments)."""
    return fulfillment_push(fulfillment_id).push_status


def sweep_fulfillments() -> int:
    """Scheduled: enqueue the pushes whose job was lost (orders.fulfillments.fulfillments_sweep)."""
    return fulfillments_sweep()
