"""EasyPost webhooks: `X-Hmac-Signature: hmac-sha256-hex=<hex>`, HMAC-SHA256 over the raw body with
the webhook secret, NFKD-normalised before it is UTF-8 encoded (as EasyPost's own libraries do).

Event identity is the Event's id (`evt_...`); the topic is its `description` (`tracker.updated`).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from channels_app.intake import Delivery, body_digest
from channels_app.outcomes import Handler
from channels_app.platforms.parsing import text, timestamp

_TRACKER = Handler(apply="channels_app.platforms.easypost.handlers.tracker_apply")
HANDLERS = {"tracker.created": _TRACKER, "tracker.updated": _TRACKER}
PREFIX = "hmac-sha256-hex="


@sensitive_variables("secrets")
def signature_valid(request: HttpRequest, body: bytes, secrets: list[str]) -> bool:
    signature = request.headers.get("X-Hmac-Signature", "")
    if not signature.startswith(PREFIX):
        return False
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a header is attacker-chosen.
    given = signature.removeprefix(PREFIX).strip().lower().encode("utf-8", "surrogateescape")
    return any(hmac.compare_digest(sign(secret, body).encode(), given) for secret in secrets)


@sensitive_variables("secret")
def sign(secret: str, body: bytes) -> str:
    """The hex digest of X-Hmac-Signature (after its prefix)."""
    return hmac.new(unicodedata.normalize("NFKD", secret).encode(), body, hashlib.sha256).hexdigest()


def delivery(body: bytes, payload: Any) -> Delivery:
    payload = payload if isinstance(payload, dict) else {}
    topic = text(payload.get("description")) or "unknown"
    identity = text(payload.get("id")) or body_digest(body)
    return Delivery(
        topic=topic,
        event_key=f"{topic}:{identity}",
        delivery_id=text(payload.get("id")),
        triggered_at=timestamp(payload.get("created_at")),
    )
