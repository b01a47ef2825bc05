"""Accepting a webhook: read the raw body, record the event, enqueue it after commit, answer.

Accepted means stored: a 2xx goes out only once the event row is committed. Redis being down
does not fail the request (the sweeper enqueues the row later); the database being down does
(503, so the platform retries).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError

from channels_app.models import CARRIERS, SMS_PROVIDERS, Channel, EventStatus, ProcessedWebhookEvent
from config.logs import current_request_id
from config.queues import enqueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a platform's webhook says about itself, parsed from headers (and body where needed)."""

    topic: str
    event_key: str
    delivery_id: str
    triggered_at: datetime | None
    headers: dict[str, str] = field(default_factory=dict)


class Rejected(Exception):
    """The request is answered with `status` and nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@sensitive_variables("secret", "expected")
def hmac_sha256_base64_matches(secret: str, body: bytes, signature: str) -> bool:
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a header is attacker-chosen.
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogateescape"))


def read_body(request: HttpRequest) -> bytes:
    """The raw body, read up to WEBHOOK_MAX_BYTES (one more byte tells it was larger)."""
    limit = settings.WEBHOOK_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if not declared and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # WSGI gives a body without a length as empty: it would fail its signature misleadingly.
        raise Rejected(411, "Content-Length required")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body is larger than {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise Rejected(413, f"body is larger than {limit} bytes")
    return body


def parse_json(body: bytes) -> tuple[Any, str]:
    """(payload, "") or (None, why it is not JSON)."""
    try:
        return json.loads(body), ""
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"body is not valid JSON: {exc}"


def webhook_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turns Rejected into its answer and a database outage into 503, logging both."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Rejected as rejected:
            logger.warning(
                "webhook rejected: %s",
                rejected.reason,
                extra={"status": rejected.status, "path": request.path},
            )
            # The reason is logged; a 401 says no more, so it does not tell who is connected.
            public = "unauthorized" if rejected.status == 401 else rejected.reason
            return JsonResponse({"error": public}, status=rejected.status)
        except (OperationalError, InterfaceError) as exc:
            # Nothing was stored, so nothing may be acknowledged: the platform retries a 503.
            logger.error("webhook not stored, database unavailable: %s", exc, extra={"path": request.path})
            response = JsonResponse({"error": "temporarily unable to store the webhook"}, status=503)
            response["Retry-After"] = "30"
            return response

    return wrapper


def accept(channel: Channel, delivery: Delivery, body: bytes, payload: Any, json_error: str) -> HttpResponse:
    """Record a verified delivery and answer: 200 enqueued, 200 duplicate, or 400 kept as FAILED."""
    event, created, json_error = event_record(channel, delivery, body, payload, json_error)
    extra = {"event_id": event.pk, "channel_id": channel.pk, "topic": delivery.topic}
    if json_error:
        logger.warning("webhook body kept as FAILED event: %s", json_error, extra=extra)
        return JsonResponse({"error": json_error, "event": event.pk}, status=400)
    if not created:
        logger.info("duplicate webhook delivery", extra=extra)
        return JsonResponse({"status": "duplicate", "event": event.pk, "event_status": event.status})
    logger.info("webhook accepted", extra=extra)
    return JsonResponse({"status": "enqueued", "event": event.pk})


def _raw_text(body: bytes) -> str:
    # Every byte survives, readably: invalid UTF-8 as \xNN, and NUL (which a PostgreSQL text
    # column refuses) as \x00.
    return body.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def event_record(
    channel: Channel, delivery: Delivery, body: bytes, payload: Any, json_error: str
) -> tuple[ProcessedWebhookEvent, bool, str]:
    """Insert the event, or count a duplicate delivery of one already stored.

    Returns the event, whether it is new, and why it was kept as FAILED ("" if it was not). The
    unique constraint decides what is a duplicate; enqueueing waits for the commit.
    """
    identity = {"channel": channel, "source": channel.platform, "event_key": delivery.event_key[:255]}
    fields = {
        **identity,
        "topic": delivery.topic,
        "delivery_id": delivery.delivery_id[:255],
        "triggered_at": delivery.triggered_at,
        "headers": delivery.headers,
        "request_id": current_request_id(),
    }

    def failed(why: str) -> dict[str, Any]:
        return {
            "payload": None,
            "raw_body": _raw_text(body),
            "status": EventStatus.FAILED,
            "error_message": why,
        }

    with transaction.atomic():
        try:
            try:
                with transaction.atomic():
                    if json_error:
                        event = ProcessedWebhookEvent.objects.create(**fields, **failed(json_error))
                    else:
                        event = ProcessedWebhookEvent.objects.create(**fields, payload=payload)
            except DataError as exc:
                # Valid JSON the database cannot hold (PostgreSQL jsonb refuses \u0000 and lone
                # surrogates). It is kept as raw text for ops; no retry of the platform would help.
                json_error = f"payload cannot be stored as JSON ({exc.__class__.__name__}); kept as raw body"
                with transaction.atomic():
                    event = ProcessedWebhookEvent.objects.create(**fields, **failed(json_error))
        except IntegrityError:
            ProcessedWebhookEvent.objects.filter(**identity).update(
                duplicate_count=F("duplicate_count") + 1, last_duplicate_at=timezone.now()
            )
            existing = ProcessedWebhookEvent.objects.only("pk", "status", "error_message").get(**identity)
            return existing, False, existing.error_message if existing.status == EventStatus.FAILED else ""
        if not json_error:
            transaction.on_commit(
                functools.partial(_enqueue_accepted, event.pk, event.request_id, queue_for(event.source))
            )
    return event, True, json_error


# After Redis fails to answer, the web process stops trying for a while: each attempt could cost a
# request its connect or read timeout, and stored events are enqueued by the sweeper anyway.
REDIS_BACKOFF_SECONDS = 10.0
_redis_unavailable_until = 0.0


def queue_for(source: str) -> str:
    """The queue an event's job runs on: carriers' tracking updates and SMS have their own."""
    if source in SMS_PROVIDERS:
        return "messaging-events"
    return "shipment-tracking" if source in CARRIERS else "webhooks"


def _enqueue_accepted(event_id: int, request_id: str, queue: str = "webhooks") -> None:
    global _redis_unavailable_until
    if time.monotonic() < _redis_unavailable_until:
        logger.info("event %s stored; Redis was down moments ago, the sweeper will enqueue it", event_id)
    elif not event_enqueue(event_id, request_id, queue):
        _redis_unavailable_until = time.monotonic() + REDIS_BACKOFF_SECONDS


def event_enqueue(event_id: int, request_id: str, queue: str = "webhooks") -> bool:
    """Put the event's job on its queue; False when Redis is unreachable (the sweeper retries).

    The job carries the request id of the webhook that stored the event, whoever enqueues it.
    """
    try:
        enqueue(
            queue,
            "channels_app.jobs.process_webhook_event",
            event_id,
            job_id=f"webhook-{event_id}",
            meta={"request_id": request_id},
        )
    except DuplicateJobError:
        return True  # its job is already there
    except RedisError as exc:
        logger.warning(
            "event stored but not enqueued, Redis unavailable: %s; the sweeper will enqueue it",
            exc,
            extra={"event_id": event_id},
        )
        return False
    return True
