"""Webhook endpoints: read the raw body, verify, record, enqueue on commit, answer.

Unknown shop and bad signature are both 401 with nothing stored; every other verified delivery
is stored before it is answered (channels_app.intake).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.intake import (
    Rejected,
    accept,
    parse_json,
    read_body,
    webhook_endpoint,
)
from channels_app.models import Channel, Platform
from channels_app.platforms.aftership import webhooks as aftership
from channels_app.platforms.easypost import webhooks as easypost
from channels_app.platforms.shopee import webhooks as shopee
from channels_app.platforms.shopify import webhooks as shopify
from channels_app.platforms.twilio import webhooks as twilio
from channels_app.platforms.woocommerce import webhooks as woocommerce
from channels_app.webhook_channels import verified, webhook_channel


@csrf_exempt
@require_POST
@webhook_endpoint
def shopify_webhook(request: HttpRequest, topic: str = "") -> HttpResponse:
    body = read_body(request)
    known = webhook_channel(Platform.SHOPIFY, shop_identifier=shopify.shop_domain(request))
    if known is None:
        raise Rejected(401, "unknown shop")
    channel = verified(known, lambda secrets: shopify.signature_valid(request, body, secrets))
    if channel is None:
        raise Rejected(401, "invalid signature")
    payload, json_error = parse_json(body)
    delivery = shopify.delivery(request, body, topic.strip("/"))
    return accept(channel, delivery, body, payload, json_error, payload_is_body=True)


@csrf_exempt
@require_POST
@webhook_endpoint
def woocommerce_webhook(request: HttpRequest, channel_id: int) -> HttpResponse:
    body = read_body(request)
    known = webhook_channel(Platform.WOOCOMMERCE, pk=channel_id)
    if known is None:
        raise Rejected(401, "unknown channel")
    if woocommerce.is_ping(request, body):
        # WooCommerce sends this ping unsigned when the webhook is created, and wants a 200 for it.
        return HttpResponse("ok")
    channel = verified(known, lambda secrets: woocommerce.signature_valid(request, body, secrets))
    if channel is None:
        raise Rejected(401, "invalid signature")
    payload, json_error = parse_json(body)
    delivery = woocommerce.delivery(request, body, payload)
    return accept(channel, delivery, body, payload, json_error, payload_is_body=True)


@csrf_exempt
@require_POST
@webhook_endpoint
def shopee_webhook(request: HttpRequest) -> HttpResponse:
    body = read_body(request)
    signer = shopee.signing_channel(request, body)  # Verified before the body is parsed.
    if signer is None:
        raise Rejected(401, "invalid signature or unknown shop")
    payload, json_error = parse_json(body)
    channel = shopee.channel_for(signer, request, body, payload)
    if channel is None:
        raise Rejected(401, "unknown shop")
    response = accept(
        channel, shopee.delivery(body, payload), body, payload, json_error, payload_is_body=True
    )
    # Shopee wants an empty 2xx body; the status code alone tells it what happened.
    return HttpResponse(status=response.status_code) if response.status_code == 200 else response


CARRIER_MODULES = {Platform.EASYPOST: easypost, Platform.AFTERSHIP: aftership}


@csrf_exempt
@require_POST
@webhook_endpoint
def carrier_webhook(request: HttpRequest, carrier: str, channel_id: int | None = None) -> HttpResponse:
    module = CARRIER_MODULES.get(carrier)  # type: ignore[call-overload]
    if module is None:
        raise Http404(f"no carrier {carrier}")
    body = read_body(request)
    candidates = Channel.objects.filter(platform=carrier, is_active=True).order_by("pk")
    if channel_id is not None:
        candidates = candidates.filter(pk=channel_id)
    # Without an id in the URL, the carrier channel whose secret verifies the body is the one; two
    # that do (one account shared by two organizations) cannot be told apart, so neither gets it.
    verified = [c for c in candidates if module.signature_valid(request, body, c.webhook_secrets())]
    if not verified:
        raise Rejected(401, "invalid signature or unknown carrier account")
    if len(verified) > 1:
        raise Rejected(401, f"carrier channels {[c.pk for c in verified]} share a secret: use their own URLs")
    payload, json_error = parse_json(body)
    delivery = module.delivery(body, payload)
    return accept(verified[0], delivery, body, payload, json_error, payload_is_body=True)


@csrf_exempt
@require_POST
@webhook_endpoint
def sms_webhook(request: HttpRequest, provider: str, kind: str) -> HttpResponse:
    """Twilio's status callbacks and inbound messages (channels_app.platforms.twilio)."""
    if provider != Platform.TWILIO:
        raise Http404(f"no SMS provider {provider}")
    body = read_body(request)
    channel, delivery, form = twilio.verified(request, body, kind)
    response = accept(channel, delivery, body, form, "" if delivery.delivery_id else "no MessageSid")
    if kind == "inbound" and response.status_code == 200:
        return HttpResponse(twilio.EMPTY_TWIML, content_type="text/xml")
    return response
