"""Which function processes a webhook event, by (platform, topic).

Handlers are dotted paths resolved when first used, so a domain app registers its handlers here
without channels_app importing it at start-up (and without import cycles). A handler takes the
event, must be idempotent (it may see the same event again after a crash), and returns None when
done or an `Outcome` to end the event another way (IGNORED with a reason: stale update, nothing to
do). It raises `HandlerError(permanent=True)` for input that will never work, anything else to be
retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

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


HANDLERS: dict[tuple[str, str], str] = {
    ("shopify", "app/uninstalled"): "channels_app.services.channel_uninstalled",
}


@cache
def handler_for(platform: str, topic: str) -> Callable[[ProcessedWebhookEvent], Outcome | None] | None:
    path = HANDLERS.get((platform, topic))
    return import_string(path) if path else None


def dispatch(event: ProcessedWebhookEvent) -> Outcome:
    if not event.channel.is_active:
        return ignored("channel is inactive")
    handler = handler_for(event.source, event.topic)
    if handler is None:
        return ignored(f"no handler for {event.source} topic {event.topic!r}")
    if event.payload is None:
        raise HandlerError("event has no JSON payload", permanent=True)
    return handler(event) or COMPLETED
