"""What a webhook handler says happened, and how a platform declares its handlers.

Kept apart from the dispatch (channels_app.handlers) so that each platform package can declare its
topics' handlers, and every handler can say its outcome, without importing the dispatch that
assembles those declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels_app.models import EventStatus, MappingKind


class HandlerError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class NeedsMapping(HandlerError):
    """The event names something the merchant has not mapped yet (`kind`, `ref`): it waits, as
    NEEDS_MAPPING, for the mapping screen to map it and replay it. Permanent, so that a caller
    that does not know this outcome fails the event rather than retrying it."""

    def __init__(self, message: str, *, kind: MappingKind, ref: str) -> None:
        super().__init__(message, permanent=True)
        self.kind = kind
        self.ref = ref


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
