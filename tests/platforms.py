"""Recorded platform payloads, and requests signed with each platform's real algorithm.

The signing here is written from the platforms' documentation with the standard library, so a test
never checks the hub against its own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpResponse
    from django.test import Client

    from channels_app.models import Channel

FIXTURES = Path(__file__).parent / "fixtures"
# Where the platforms' stand-ins listen (pytest-httpserver, the catalog's feed server): networks the
# hub refuses to call unless ops allow them (HUB_OUTBOUND_ALLOW_NETWORKS), as the tests do.
LOOPBACK = ["127.0.0.0/8", "::1/128"]


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes().rstrip(b"\n")


def fixture_json(relative: str) -> Any:
    return json.loads(fixture_bytes(relative))


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# Webhook API versions whose payloads the hub is tested with: before and after Shopify removed the
# checkout id from checkout and order webhooks (2026-04). Payloads follow the app's version.
SHOPIFY_WEBHOOK_VERSIONS = ("2025-07", "2026-07")
CHECKOUT_ID_REMOVED = "2026-04"


def shopify_fixture_at(version: str, name: str) -> Any:
    """A recorded webhook payload as Shopify sends it at `version`: the file of that version's
    folder where the shape differed (shopify/webhooks/2025-07/), else the current one."""
    older = FIXTURES / "shopify" / "webhooks" / "2025-07" / name
    if version < CHECKOUT_ID_REMOVED and older.exists():
        return json.loads(older.read_bytes())
    return fixture_json(f"shopify/webhooks/{name}")


def shopify_order_at(version: str, order: dict[str, Any]) -> dict[str, Any]:
    """An orders/* payload at `version`: `checkout_id` beside `checkout_token` before 2026-04 (null
    where the order came from no checkout, as in Shopify's REST samples), gone after."""
    if version >= CHECKOUT_ID_REMOVED:
        return {key: value for key, value in order.items() if key != "checkout_id"}
    return {"checkout_id": None} | order


def shopify_headers(
    *,
    secret: str,
    body: bytes,
    shop: str,
    topic: str,
    event_id: str,
    webhook_id: str = "",
    api_version: str = "",
) -> dict[str, str]:
    return {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_HMAC_SHA256": b64_hmac(secret, body),
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": shop,
        "HTTP_X_SHOPIFY_API_VERSION": api_version or settings.SHOPIFY_API_VERSION,
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or f"wh-{event_id}",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": "2025-07-10T16:15:47.000000Z",
        "HTTP_X_SHOPIFY_EVENT_ID": event_id,
    }


def woocommerce_headers(*, secret: str, body: bytes, topic: str, webhook_id: int = 7) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/",
        "HTTP_X_WC_WEBHOOK_TOPIC": topic,
        "HTTP_X_WC_WEBHOOK_RESOURCE": resource,
        "HTTP_X_WC_WEBHOOK_EVENT": event,
        "HTTP_X_WC_WEBHOOK_SIGNATURE": b64_hmac(secret, body),
        "HTTP_X_WC_WEBHOOK_ID": str(webhook_id),
        "HTTP_X_WC_WEBHOOK_DELIVERY_ID": hashlib.md5(body).hexdigest(),
        "HTTP_USER_AGENT": "WooCommerce/9.0.0 Hookshot (WordPress/6.5)",
    }


def shopee_authorization(*, partner_key: str, callback_url: str, body: bytes) -> str:
    return hmac.new(partner_key.encode(), callback_url.encode() + b"|" + body, hashlib.sha256).hexdigest()


def easypost_signature(secret: str, body: bytes) -> str:
    """EasyPost's X-Hmac-Signature: hex HMAC-SHA256 with the NFKD-normalised secret."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL and each parameter's name and value, sorted."""
    signed = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def _raw(body: bytes | Any) -> bytes:
    """A recorded body as it came (bytes), else a payload serialised as the platforms send JSON."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def post_shopify(
    client: Client,
    channel: Channel | None,
    topic: str,
    body: bytes | Any,
    *,
    event_id: str = "ev-1",
    api_version: str = "",
    secret: str | None = None,
    shop: str | None = None,
    path: str = "/webhooks/shopify/",
    **headers: str,
) -> HttpResponse:
    """Post `body` as Shopify delivers `topic` to `channel`'s shop, signed with its webhook secret.

    `secret` and `shop` stand in for the channel's (a wrong secret, a shop the hub does not know);
    `headers`, in Django's HTTP_* names, replace or add to the signed ones after signing."""
    raw = _raw(body)
    signed = shopify_headers(
        secret=channel.webhook_secret if secret is None else secret,
        body=raw,
        shop=channel.shop_identifier if shop is None else shop,
        topic=topic,
        event_id=event_id,
        api_version=api_version,
    )
    return client.post(path, raw, content_type="application/json", **(signed | headers))


def post_woocommerce(
    client: Client,
    channel: Channel,
    topic: str,
    body: bytes | Any,
    *,
    secret: str | None = None,
    **headers: str,
) -> HttpResponse:
    """Post `body` as WooCommerce delivers `topic` to `channel`'s URL. WordPress stores the secret
    with HTML entities encoded and signs with the decoded form, so that is the default key."""
    raw = _raw(body)
    key = html.unescape(channel.webhook_secret) if secret is None else secret
    signed = woocommerce_headers(secret=key, body=raw, topic=topic)
    return client.post(
        f"/webhooks/woocommerce/{channel.pk}/", raw, content_type="application/json", **(signed | headers)
    )


def post_shopee(
    client: Client,
    channel: Channel | None,
    body: bytes | Any,
    *,
    partner_key: str | None = None,
    **headers: str,
) -> HttpResponse:
    """Post `body` as Shopee pushes it: Authorization is signed over the callback URL registered
    in Shopee's console (the hub's WEBHOOK_BASE_URL, not the request's host) with the partner key."""
    raw = _raw(body)
    key = channel.webhook_secret if partner_key is None else partner_key
    callback = settings.WEBHOOK_BASE_URL + "/webhooks/shopee/"
    signed = {"HTTP_AUTHORIZATION": shopee_authorization(partner_key=key, callback_url=callback, body=raw)}
    return client.post("/webhooks/shopee/", raw, content_type="application/json", **(signed | headers))


def post_twilio(
    client: Client,
    channel: Channel | None,
    kind: str,
    form: dict[str, str],
    *,
    auth_token: str | None = None,
    **headers: str,
) -> HttpResponse:
    """Post `form` as Twilio posts a `kind` ("status" or "inbound") callback of `channel`'s
    account, signed over the public URL Twilio was given (WEBHOOK_BASE_URL) with its auth token."""
    path = f"/webhooks/sms/twilio/{kind}/"
    token = channel.webhook_secret if auth_token is None else auth_token
    signature = twilio_signature(token, settings.WEBHOOK_BASE_URL + path, list(form.items()))
    signed = {"HTTP_X_TWILIO_SIGNATURE": signature}
    return client.post(
        path, urlencode(form), content_type="application/x-www-form-urlencoded", **(signed | headers)
    )


def post_carrier(
    client: Client, channel: Channel, body: bytes | Any, *, secret: str | None = None, **headers: str
) -> HttpResponse:
    """Post `body` as `channel`'s carrier (EasyPost or AfterShip) posts a tracking webhook, signed
    as that carrier documents it."""
    raw = _raw(body)
    key = channel.webhook_secret if secret is None else secret
    if channel.platform == "easypost":
        signed = {"HTTP_X_HMAC_SIGNATURE": easypost_signature(key, raw)}
    else:
        signed = {"HTTP_AFTERSHIP_HMAC_SHA256": b64_hmac(key, raw)}
    return client.post(
        f"/webhooks/carriers/{channel.platform}/", raw, content_type="application/json", **(signed | headers)
    )


def as_http_headers(django_headers: dict[str, str]) -> dict[str, str]:
    """HTTP_X_SHOPIFY_TOPIC -> X-Shopify-Topic, for requests over a real socket."""
    return {
        key.removeprefix("HTTP_").replace("_", "-").title(): value for key, value in django_headers.items()
    }


def shopify_graphql_path() -> str:
    """Where the hub posts GraphQL for a channel whose api_base_url is a test server."""
    return f"/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"


def shopify_cost(
    available: float = 990.0, requested: int = 10, maximum: float = 1000.0, rate: float = 50.0
) -> dict:
    """The `extensions` Shopify answers every GraphQL query with: its cost and the shop's bucket."""
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": None if available < requested else min(requested, 40),
            "throttleStatus": {
                "maximumAvailable": maximum,
                "currentlyAvailable": available,
                "restoreRate": rate,
            },
        }
    }
