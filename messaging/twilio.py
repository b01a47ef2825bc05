"""Twilio's request signature (X-Twilio-Signature), as its own validator computes it.

base64(HMAC-SHA1(auth token, the full URL Twilio requested + each POST parameter's name and value,
sorted by name then value)). Twilio may sign the URL with or without its default port, so both
are accepted, as twilio-python's RequestValidator does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import StringConstraints

from channels_app.platforms.shapes import Shape, Text50, Text100

# What Twilio posts (form fields, so every value is text), as its webhook reference lists them.
TwilioCode = Annotated[str, StringConstraints(pattern=r"^\d{1,10}$")]


class StatusCallback(Shape):
    MessageSid: Text100 | None = None
    SmsSid: Text100 | None = None
    MessageStatus: Text50 | None = None
    SmsStatus: Text50 | None = None
    ErrorCode: TwilioCode | None = None


class InboundMessage(Shape):
    From: Text50
    Body: Annotated[str, StringConstraints(max_length=1600)] | None = None


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
