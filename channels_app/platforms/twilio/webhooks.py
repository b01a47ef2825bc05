"""Twilio's status callbacks and inbound messages: form posts signed with X-Twilio-Signature.

The signature is base64(HMAC-SHA1(auth token, the full URL Twilio requested + each POST parameter's
name and value, sorted by name then value)). Twilio may sign the URL with or without its default
port, so both are accepted, as twilio-python's RequestValidator does. The URL is the one built from
WEBHOOK_BASE_URL, never the Host header; the channel is the Twilio account (AccountSid) whose auth
token verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest

from channels_app.intake import Delivery, Rejected, body_digest
from channels_app.models import Channel, Platform
from channels_app.outcomes import Handler

HANDLERS = {
    "sms/status": Handler(apply="channels_app.platforms.twilio.handlers.status_apply"),
    "sms/inbound": Handler(apply="channels_app.platforms.twilio.handlers.inbound_apply"),
}
# Twilio reads an inbound message's answer as TwiML: an empty <Response/> sends nothing back (the
# hub replies to keywords itself, as messages with their own status).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def verified(request: HttpRequest, body: bytes, kind: str) -> tuple[Channel, Delivery, dict[str, str]]:
    """The account's channel, the delivery and the form of a signed post; Rejected otherwise."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        # No AccountSid to tell whose token would verify it: unsigned, as far as the hub can tell.
        raise Rejected(401, "not a form post") from None
    form = dict(pairs)
    url = settings.WEBHOOK_BASE_URL + request.get_full_path()
    given = request.headers.get("X-Twilio-Signature", "")
    candidates = Channel.objects.filter(
        platform=Platform.TWILIO, shop_identifier=form.get("AccountSid", ""), is_active=True
    ).order_by("pk")
    signers = [
        c for c in candidates if any(signature_valid(s, url, pairs, given) for s in c.webhook_secrets())
    ]
    if len(signers) != 1:
        raise Rejected(401, "invalid signature or unknown Twilio account")
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    delivery = Delivery(
        topic=f"sms/{kind}",
        event_key=(f"{sid}:{status}" if kind == "status" else sid) if sid else body_digest(body),
        delivery_id=sid,
        triggered_at=None,
        headers={"X-Twilio-Signature": "(verified)"},
    )
    return signers[0], delivery, form


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    """Whether `given` signs this request, for the URL with or without its port."""
    if not auth_token or not given:
        return False
    pairs = list(params)
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a header is attacker-chosen.
    given_bytes = given.encode("utf-8", "surrogateescape")
    return any(
        hmac.compare_digest(signature(auth_token, candidate, pairs).encode(), given_bytes)
        for candidate in _port_variants(url)
    )


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}"))
    return list(dict.fromkeys([url, without, with_port]))
