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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError

from channels_app.models import Channel, EventStatus, ProcessedWebhookEvent
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


def hmac_sha256_base64_matches(secret: str, body: bytes, signature: str) -> bool:
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature.strip())


def read_body(request: HttpRequest) -> bytes:
    """The raw body, read up to WEBHOOK_MAX_BYTES: also bounds chunked bodies with no length."""
    limit = settings.WEBHOOK_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
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
            return JsonResponse({"error": rejected.reason}, status=rejected.status)
        except DatabaseError as exc:
            # Nothing was stored, so nothing may be acknowledged: the platform retries a 503.
            logger.error("webhook not stored, database unavailable: %s", exc, extra={"path": request.path})
            response = JsonResponse({"error": "temporarily unable to store the webhook"}, status=503)
            response["Retry-After"] = "30"
            return response

    return wrapper


def accept(channel: Channel, delivery: Delivery, body: bytes, payload: Any, json_error: str) -> HttpResponse:
    """Record a verified delivery and answer: 200 enqueued, 200 duplicate, or 400 kept as FAILED."""
    event, created = event_record(channel, delivery, body, payload, json_error)
    extra = {"event_id": event.pk, "channel_id": channel.pk, "topic": delivery.topic}
    if json_error:
        logger.warning("webhook body is not JSON, kept as FAILED event", extra=extra)
        return JsonResponse({"error": json_error, "event": event.pk}, status=400)
    if not created:
        logger.info("duplicate webhook delivery", extra=extra)
        return JsonResponse({"status": "duplicate", "event": event.pk, "event_status": event.status})
    logger.info("webhook accepted", extra=extra)
    return JsonResponse({"status": "enqueued", "event": event.pk})


def event_record(
    channel: Channel, delivery: Delivery, body: bytes, payload: Any, json_error: str
) -> tuple[ProcessedWebhookEvent, bool]:
    """Insert the event, or count a duplicate delivery of one already stored.

    The unique constraint decides which; enqueueing waits for the commit.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = ProcessedWebhookEvent.objects.create(
                    source=channel.platform,
                    channel=channel,
                    topic=delivery.topic,
                    event_key=delivery.event_key[:255],
                    delivery_id=delivery.delivery_id[:255],
                    triggered_at=delivery.triggered_at,
                    headers=delivery.headers,
                    payload=payload,
                    raw_body=body.decode("utf-8", "backslashreplace") if json_error else "",
                    status=EventStatus.FAILED if json_error else EventStatus.ENQUEUED,
                    error_message=json_error,
                    request_id=current_request_id(),
                )
        except IntegrityError:
            ProcessedWebhookEvent.objects.filter(
                channel=channel, source=channel.platform, event_key=delivery.event_key[:255]
            ).update(duplicate_count=F("duplicate_count") + 1, last_duplicate_at=timezone.now())
            existing = ProcessedWebhookEvent.objects.only("pk", "status").get(
                channel=channel, source=channel.platform, event_key=delivery.event_key[:255]
            )
            return existing, False
        if not json_error:
            transaction.on_commit(functools.partial(event_enqueue, event.pk, event.request_id))
    return event, True


def event_enqueue(event_id: int, request_id: str) -> bool:
    """Put the event's job on the webhooks queue; False when Redis is unreachable (the sweeper retries).

    The job carries the request id of the webhook that stored the event, whoever enqueues it.
    """
    try:
        enqueue(
            "webhooks",
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
