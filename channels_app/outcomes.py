"""What a webhook handler says happened, and how a platform declares its handlers.

Kept apart from the dispatch (channels_app.handlers) so that each platform package can declare its
topics' handlers, and every handler can say its outcome, without importing the dispatch that
assembles those declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels_app.models import EventStatus


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
