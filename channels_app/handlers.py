"""Which functions process a webhook event, by (platform, topic), and running them.

Each platform package declares its topics and their handlers in its `webhooks.py` (`HANDLERS`); the
table here is assembled from those. A handler is two dotted paths, resolved when first used, so the
platform packages import no domain app at start-up:

- `fetch(event)`, optional: reads what the event needs from the platform (a Shopee push only says
  "something changed"). It runs outside any transaction, since slow I/O must not hold locks.
- `apply(event, fetched)`: writes the effects. It runs in one transaction with the event's move
  to its final status, so a worker killed mid-job leaves no half-applied event: the effects and
  COMPLETED commit together or not at all. It returns None when done, or an `Outcome` to end the
  event another way (IGNORED with a reason: stale update, nothing to do). Raising `NeedsMapping`
  rolls its writes back and leaves the event waiting for a mapping (NEEDS_MAPPING).

Both raise `HandlerError(permanent=True)` for input that will never work; anything else is
retried with backoff. Handlers must still be idempotent: a redelivered event runs them again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.module_loading import import_string

from channels_app.models import EventStatus
from channels_app.outcomes import COMPLETED, Handler, HandlerError, NeedsMapping, Outcome, ignored
from channels_app.platforms.aftership import webhooks as aftership
from channels_app.platforms.easypost import webhooks as easypost
from channels_app.platforms.shopee import webhooks as shopee
from channels_app.platforms.shopify import webhooks as shopify
from channels_app.platforms.twilio import webhooks as twilio
from channels_app.platforms.woocommerce import webhooks as woocommerce

if TYPE_CHECKING:
    from channels_app.models import ProcessedWebhookEvent

PLATFORMS = {
    "shopify": shopify,
    "woocommerce": woocommerce,
    "shopee": shopee,
    "easypost": easypost,
    "aftership": aftership,
    "twilio": twilio,
}
HANDLERS: dict[tuple[str, str], Handler] = {
    (platform, topic): handler
    for platform, module in PLATFORMS.items()
    for topic, handler in module.HANDLERS.items()
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
        try:
            with transaction.atomic():
                outcome = apply(event, fetched) or COMPLETED
                event.finish(outcome.status, ignored_reason=outcome.reason)
        except NeedsMapping as waiting:
            # Whatever the handler wrote is rolled back: the replay after mapping applies it whole.
            outcome = Outcome(EventStatus.NEEDS_MAPPING, str(waiting))
            event.finish(
                outcome.status, error=str(waiting), mapping_kind=waiting.kind, mapping_ref=waiting.ref
            )
        return outcome
    event.finish(outcome.status, ignored_reason=outcome.reason)
    return outcome
