"""AfterShip tracking webhooks: `aftership-hmac-sha256`, base64 HMAC-SHA256 over the raw body with
the account's webhook secret. Identity is the body's `event_id` (UUID); the topic its `event`
(`tracking_update`, `edd_revise`, ...)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest, hmac_sha256_base64_matches
from channels_app.outcomes import Handler
from channels_app.platforms.parsing import text, timestamp

_TRACKING = Handler(apply="channels_app.platforms.aftership.handlers.tracking_apply_event")
HANDLERS = {"tracking_update": _TRACKING, "edd_revise": _TRACKING}


@sensitive_variables("secrets")
def signature_valid(request: HttpRequest, body: bytes, secrets: list[str]) -> bool:
    signature = request.headers.get("aftership-hmac-sha256", "")
    return any(hmac_sha256_base64_matches(secret, body, signature) for secret in secrets)


def delivery(body: bytes, payload: Any) -> Delivery:
    payload = payload if isinstance(payload, dict) else {}
    topic = text(payload.get("event")) or "unknown"
    identity = text(payload.get("event_id")) or body_digest(body)
    return Delivery(
        topic=topic,
        event_key=f"{topic}:{identity}",
        delivery_id=text(payload.get("event_id")),
        triggered_at=timestamp(payload.get("ts")),
    )
