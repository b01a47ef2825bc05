"""Structured logs with a request id that follows a webhook into every job it causes.

The id comes from the inbound `X-Request-Id` header when a proxy set one, else it is made here; it
is stored on the event, copied into each job's meta by config.queues.enqueue, and restored by the
worker (config.workers) before the job runs.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_INBOUND_ID = re.compile(r"[A-Za-z0-9._:-]{8,100}")

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def request_id_context(request_id: str | None) -> Iterator[str]:
    token = _request_id.set(request_id or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        inbound = request.headers.get("X-Request-Id", "")
        request_id = inbound if _VALID_INBOUND_ID.fullmatch(inbound) else new_request_id()
        with request_id_context(request_id):
            request.request_id = request_id  # type: ignore[attr-defined]
            response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", _request_id.get()),
        }
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line for a person: time, level, logger, [request id], message, then the `extra` fields
    as name=value (those of a JSON line, less objects such as the server's socket: ids and figures
    are what a person reads here)."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", _request_id.get())
        line = f"{self.formatTime(record)} {record.levelname} {record.name} [{request_id}] "
        line += record.getMessage()
        extras = " ".join(
            f"{key}={value}"
            for key, value in _extra_fields(record).items()
            if isinstance(value, str | int | float | bool) or value is None
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """What the log call passed in `extra=` (ids, timings), beside the standard attributes."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }
