"""Every webhook endpoint, with a connected channel and a way to post to it signed or not: for
the tests that throw the same hostile input at all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.test import Client

from channels_app.models import Channel, Platform
from tests.channels_app import factories
from tests.platforms import (
    b64_hmac,
    easypost_signature,
    shopee_authorization,
    shopify_headers,
    twilio_signature,
    woocommerce_headers,
)

EASYPOST_SECRET = factories.EASYPOST_SECRET
AFTERSHIP_SECRET = factories.AFTERSHIP_SECRET
TWILIO_SID = factories.TWILIO_SID
TWILIO_TOKEN = factories.TWILIO_TOKEN


@dataclass(frozen=True)
class Endpoint:
    name: str
    create: Callable[[], Channel]
    path: Callable[[Channel], str]
    # The signature headers for a body (Django's HTTP_* names); the body for Twilio is a form.
    sign: Callable[[Channel, bytes], dict[str, str]]
    content_type: str = "application/json"

    def post(
        self, client: Client, channel: Channel, body: bytes, *, signed: bool, headers: dict[str, str]
    ) -> Any:
        signature = self.sign(channel, body) if signed else {}
        # Random headers first: a signed request keeps its signature and its shop.
        return client.post(
            self.path(channel), body, content_type=self.content_type, **{**headers, **signature}
        )


def _shopify(channel: Channel, body: bytes) -> dict[str, str]:
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET, body=body, shop=channel.shop_identifier, topic="", event_id=""
    )
    return {k: headers[k] for k in ("HTTP_X_SHOPIFY_HMAC_SHA256", "HTTP_X_SHOPIFY_SHOP_DOMAIN")}


def _woocommerce(channel: Channel, body: bytes) -> dict[str, str]:
    headers = woocommerce_headers(secret="woo-secret&1", body=body, topic="order.updated")
    return {"HTTP_X_WC_WEBHOOK_SIGNATURE": headers["HTTP_X_WC_WEBHOOK_SIGNATURE"]}


def _shopee(channel: Channel, body: bytes) -> dict[str, str]:
    callback = settings.WEBHOOK_BASE_URL + "/webhooks/shopee/"
    key = factories.SHOPEE_PARTNER_KEY
    return {"HTTP_AUTHORIZATION": shopee_authorization(partner_key=key, callback_url=callback, body=body)}


def _twilio(kind: str) -> Callable[[Channel, bytes], dict[str, str]]:
    def sign(channel: Channel, body: bytes) -> dict[str, str]:
        try:
            params = parse_qsl(body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            params = []
        url = f"{settings.WEBHOOK_BASE_URL}/webhooks/sms/twilio/{kind}/"
        return {"HTTP_X_TWILIO_SIGNATURE": twilio_signature(TWILIO_TOKEN, url, params)}

    return sign


ENDPOINTS = (
    Endpoint("shopify", factories.shopify_channel, lambda c: "/webhooks/shopify/", _shopify),
    Endpoint(
        "woocommerce", factories.woocommerce_channel, lambda c: f"/webhooks/woocommerce/{c.pk}/", _woocommerce
    ),
    Endpoint("shopee", factories.shopee_channel, lambda c: "/webhooks/shopee/", _shopee),
    Endpoint(
        "easypost",
        factories.easypost_channel,
        lambda c: "/webhooks/carriers/easypost/",
        lambda c, body: {"HTTP_X_HMAC_SIGNATURE": easypost_signature(EASYPOST_SECRET, body)},
    ),
    Endpoint(
        "aftership",
        factories.aftership_channel,
        lambda c: "/webhooks/carriers/aftership/",
        lambda c, body: {"HTTP_AFTERSHIP_HMAC_SHA256": b64_hmac(AFTERSHIP_SECRET, body)},
    ),
    *(
        Endpoint(
            f"twilio-{kind}",
            lambda: Channel.objects.filter(platform=Platform.TWILIO).first() or factories.twilio_channel(),
            lambda c, kind=kind: f"/webhooks/sms/twilio/{kind}/",
            _twilio(kind),
            content_type="application/x-www-form-urlencoded",
        )
        for kind in ("status", "inbound")
    ),
)
BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
