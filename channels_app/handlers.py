"""Which functions process a webhook event, by (platform, topic).

A handler is two dotted paths, resolved when first used so that a domain app registers its
handlers here without channels_app importing it at start-up:

- `fetch(event)`, optional: reads what the event needs from the platform (a Shopee push only says
  "something changed"). It runs outside any transaction, since slow I/O must not hold locks.
- `apply(event, fetched)`: writes the effects. It runs in one transaction with the event's move
  to its final status, so a worker killed mid-job leaves no half-applied event: the effects and
  COMPLETED commit together or not at all. It returns None when done, or an `Outcome` to end the
  event another way (IGNORED with a reason: stale update, nothing to do).

Both raise `HandlerError(permanent=True)` for input that will never work; anything else is
retried with backoff. Handlers must still be idempotent: a redelivered event runs them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.module_loading import import_string

from channels_app.models import EventStatus

if TYPE_CHECKING:
    from channels_app.models import ProcessedWebhookEvent


class HandlerError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""


COMPLETED = Outcome(EventStatus.COMPLETED)


def ignored(reason: str) -> Outcome:
    return Outcome(EventStatus.IGNORED, reason)


@dataclass(frozen=True)
class Handler:
    apply: str
    fetch: str = ""


_SHOPIFY_ORDER = Handler(apply="channels_app.platforms.shopify.handlers.order_apply")
_SHOPIFY_CHECKOUT = Handler(apply="channels_app.platforms.shopify.handlers.checkout_apply")
_WOO_ORDER = Handler(apply="channels_app.platforms.woocommerce.handlers.order_apply")
_SHOPEE_ORDER = Handler(
    fetch="channels_app.platforms.shopee.handlers.order_fetch",
    apply="channels_app.platforms.shopee.handlers.order_apply",
)

_EASYPOST_TRACKER = Handler(apply="channels_app.platforms.easypost.handlers.tracker_apply")
_AFTERSHIP_TRACKING = Handler(apply="channels_app.platforms.aftership.handlers.tracking_apply_event")

HANDLERS: dict[tuple[str, str], Handler] = {
    ("shopify", "app/uninstalled"): Handler(apply="channels_app.services.channel_uninstalled"),
    ("shopify", "orders/create"): _SHOPIFY_ORDER,
    ("shopify", "orders/updated"): _SHOPIFY_ORDER,
    ("shopify", "orders/paid"): _SHOPIFY_ORDER,
    ("shopify", "orders/cancelled"): _SHOPIFY_ORDER,
    ("shopify", "fulfillments/create"): Handler(
        apply="channels_app.platforms.shopify.handlers.fulfillment_apply"
    ),
    ("shopify", "checkouts/create"): _SHOPIFY_CHECKOUT,
    ("shopify", "checkouts/update"): _SHOPIFY_CHECKOUT,
    ("shopify", "inventory_levels/update"): Handler(
        apply="channels_app.platforms.shopify.handlers.inventory_level_apply"
    ),
    ("shopee", "order_status"): _SHOPEE_ORDER,
    ("shopee", "reserved_stock_change"): Handler(
        fetch="channels_app.platforms.shopee.handlers.stock_fetch",
        apply="channels_app.platforms.shopee.handlers.stock_apply",
    ),
    ("woocommerce", "order.created"): _WOO_ORDER,
    ("woocommerce", "order.updated"): _WOO_ORDER,
    ("woocommerce", "order.restored"): _WOO_ORDER,  # out of the trash: sent as the whole order
    ("woocommerce", "order.deleted"): Handler(
        apply="channels_app.platforms.woocommerce.handlers.order_deleted_apply"
    ),
    ("easypost", "tracker.created"): _EASYPOST_TRACKER,
    ("easypost", "tracker.updated"): _EASYPOST_TRACKER,
    ("aftership", "tracking_update"): _AFTERSHIP_TRACKING,
    ("aftership", "edd_revise"): _AFTERSHIP_TRACKING,
    ("woocommerce", "product.updated"): Handler(
        apply="channels_app.platforms.woocommerce.handlers.product_stock_apply"
    ),
    ("twilio", "sms/status"): Handler(apply="messaging.inbound.status_apply"),
    ("twilio", "sms/inbound"): Handler(apply="messaging.inbound.inbound_apply"),
}


def topics_for(platform: str) -> list[str]:
    """The topics the hub handles for a platform: the webhooks it registers."""
    return sorted(topic for source, topic in HANDLERS if source == platform)


Fetch = Callable[["ProcessedWebhookEvent"], Any]
Apply = Callable[["ProcessedWebhookEvent", Any], "Outcome | None"]


@cache
def handler_for(platform: str, topic: str) -> tuple[Fetch | None, Apply] | None:
    handler = HANDLERS.get((platform, topic))
    if handler is None:
        return None
    return (import_string(handler.fetch) if handler.fetch else None), import_string(handler.apply)


def dispatch(event: ProcessedWebhookEvent) -> Outcome:
    """Run the event's handler and record its outcome on the event, in one transaction."""
    handler = handler_for(event.source, event.topic)
    if not event.channel.is_active:
        outcome = ignored("channel is inactive")
    elif handler is None:
        outcome = ignored(f"no handler for {event.source} topic {event.topic!r}")
    elif event.payload is None:
        raise HandlerError("event has no JSON payload", permanent=True)
    else:
        fetch, apply = handler
        fetched = fetch(event) if fetch else None
        with transaction.atomic():
            outcome = apply(event, fetched) or COMPLETED
            event.finish(outcome.status, ignored_reason=outcome.reason)
        return outcome
    event.finish(outcome.status, ignored_reason=outcome.reason)
    return outcome
