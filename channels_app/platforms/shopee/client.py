"""Shopee Open Platform v2: signed calls, and the shop's access token kept fresh.

A shop call's sign is hex HMAC-SHA256(partner key, partner_id + path + timestamp + access_token +
shop_id); a public call's (the token refresh) is over partner_id + path + timestamp. Both are sent
as query parameters. Shopee answers most failures with `error` set in the body (HTTP 200 or 4xx):
`error_server`/`error_network`/`error_busy`/`error_inner` are worth retrying, the rest are not.

Access tokens last 4 hours and refresh tokens are single-use: a refresh hands back a new pair. The
refresh runs under a Redis lock per channel, and re-reads the channel first, so two workers that
find the token expired refresh it once (the second would otherwise burn the new refresh token).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction

from channels_app import http, ratelimit
from channels_app.clients import (
    VARIANT_CHOICES,
    ChangesPage,
    ConsoleOnly,
    Listing,
    Polled,
    ProductPage,
    PushedListing,
    RemoteVariant,
    RemoteWebhook,
    Shipment,
    StockUpdate,
)
from channels_app.models import Channel
from config.queues import get_queue
from inventory.catalog import ProductData, VariantData

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://partner.shopeemobile.com"
DEFAULT_RATE = 10.0  # calls per second per shop
REFRESH_PATH = "/api/v2/auth/access_token/get"
REFRESH_MARGIN = 300  # seconds before expiry when a token is refreshed ahead of use
PAGE_SIZE = 50  # get_item_list's and get_item_base_info's most per call
WINDOW = 15 * 24 * 3600  # get_order_list's longest time range
_SHIPPED_STATUSES = {"PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"}
_TRANSIENT_ERRORS = {"error_server", "error_network", "error_busy", "error_inner"}
# Shopee's rate limit, said in the body: the call was not acted on, and may be sent again later.
_RATE_LIMIT_ERRORS = {"error_rate_limit", "error_limit"}
_TOKEN_ERRORS = {"error_auth", "invalid_access_token", "invalid_acceess_token", "error_invalid_access_token"}
_ORDER_FIELDS = (
    "buyer_user_id,buyer_username,recipient_address,item_list,pay_time,total_amount,package_list,"
    "cancel_by,cancel_reason,shipping_carrier"
)


def sign(partner_key: str, *parts: object) -> str:
    return hmac.new(partner_key.encode(), "".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()


class ShopeeClient:
    stock_locations = False  # The hub pushes one seller stock per model, with no location.

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.base = (channel.api_base_url or DEFAULT_BASE_URL).rstrip("/")
        rate = channel.api_rate_limit or DEFAULT_RATE
        self.call = http.Call(
            platform="shopee",
            channel_id=channel.pk,
            bucket=ratelimit.Bucket(f"channel:{channel.pk}", rate=rate, capacity=max(1.0, rate)),
        )

    # -- calls --------------------------------------------------------------------------------

    def shop_get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET a shop-level API path; the `response` object of Shopee's answer."""
        return self._shop_call(path, params, None)

    def shop_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to a shop-level API path (sent once: the caller checks state before retrying)."""
        return self._shop_call(path, {}, body)

    def _shop_call(
        self, path: str, params: dict[str, Any], body: dict[str, Any] | None, *, whole: bool = False
    ) -> dict[str, Any]:
        token = self._access_token()
        answer = self._shop_request(path, params, token, body=body)
        if _error(answer) in _TOKEN_ERRORS:
            logger.info("Shopee rejected the access token of channel %s: refreshing", self.channel.pk)
            answer = self._shop_request(path, params, self.refresh_token(rejected=token), body=body)
        if _error(answer) in _RATE_LIMIT_ERRORS:
            raise self._rate_limited(answer, path)
        _raise_for(answer, path)
        return answer if whole else answer.get("response") or {}

    def _rate_limited(self, answer: dict[str, Any], path: str) -> http.PlatformError:
        """Shopee refused the call for its rate limit, as a 429 would: every worker of this
        channel waits for its bucket to refill, and the call is tried again after that."""
        bucket = self.call.bucket
        wait = max(1.0, bucket.capacity / bucket.rate) if bucket is not None else 60.0
        if bucket is not None:
            ratelimit.set_available(get_queue("channel-sync").connection, bucket, 0)
        return http.PlatformError(
            f"Shopee {path}: {_error(answer)}: {answer.get('message', '')}",
            permanent=False,
            retry_after=wait,
            unsent=True,
        )

    def _shop_request(
        self, path: str, params: dict[str, Any], token: str, *, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        channel, timestamp = self.channel, int(time.time())
        query = {
            **params,
            "partner_id": channel.partner_id,
            "timestamp": timestamp,
            "access_token": token,
            "shop_id": channel.shop_identifier,
            "sign": sign(
                channel.webhook_secret, channel.partner_id, path, timestamp, token, channel.shop_identifier
            ),
        }
        if body is not None:
            response = http.send(
                self.call, "POST", self.base + path, params=query, json=body, client_errors=True, attempts=1
            )
        else:
            response = http.send(self.call, "GET", self.base + path, params=query, client_errors=True)
        return _object(response, self.call)

    @classmethod
    def credentials_missing(cls, channel: Channel) -> list[str]:
        credentials = channel.credentials
        missing = [] if channel.partner_id else ["partner_id"]
        missing += [] if channel.webhook_secret else ["partner_key"]  # signs API calls and pushes
        # A refresh token alone will do: the first call gets an access token with it.
        if not credentials.get("access_token") and not credentials.get("refresh_token"):
            missing.append("access_token")
        return missing

    def _access_token(self) -> str:
        credentials = self.channel.credentials
        token = credentials.get("access_token", "")
        expires_at = float(credentials.get("access_token_expires_at") or 0)
        if token and (not expires_at or time.time() < expires_at - REFRESH_MARGIN):
            return token
        if not credentials.get("refresh_token"):
            if token:
                return token  # There is no way to refresh it, so it is tried as it is.
            raise http.PlatformError(f"Shopee channel {self.channel.pk} has no access token", permanent=True)
        return self.refresh_token(rejected=token)

    def refresh_token(self, *, rejected: str) -> str:
        """A fresh access token: one refresh per expiry, however many workers notice it."""
        connection = get_queue("channel-sync").connection
        # The lock outlives the one refresh call inside it (attempts=1, no rate-limit wait).
        with connection.lock(f"hub:lock:shopee-token:{self.channel.pk}", timeout=120, blocking_timeout=60):
            self.channel.refresh_from_db(fields=["credentials"])
            credentials = self.channel.credentials
            current = credentials.get("access_token", "")
            if current and current != rejected:
                return current  # Another worker refreshed it while this one waited for the lock.
            refresh = credentials.get("refresh_token", "")
            if not refresh:
                raise http.PlatformError(
                    f"Shopee channel {self.channel.pk}: the access token expired and there is no refresh "
                    "token; authorize the shop again",
                    permanent=True,
                )
            timestamp = int(time.time())
            channel = self.channel
            query = {
                "partner_id": channel.partner_id,
                "timestamp": timestamp,
                "sign": sign(channel.webhook_secret, channel.partner_id, REFRESH_PATH, timestamp),
            }
            payload = {
                "refresh_token": refresh,
                "partner_id": int(channel.partner_id or 0),
                "shop_id": int(channel.shop_identifier),
            }
            # Sent once, outside the rate limit: the refresh token is single-use, so a resent request
            # after a lost answer would spend it twice (the answer that was lost held the new pair).
            unthrottled = http.Call(platform="shopee", channel_id=channel.pk, bucket=None)
            response = http.send(
                unthrottled,
                "POST",
                self.base + REFRESH_PATH,
                params=query,
                json=payload,
                client_errors=True,
                attempts=1,
            )
            body = _object(response, self.call)
            if _error(body):
                if _error(body) in _TRANSIENT_ERRORS:
                    _raise_for(body, REFRESH_PATH)
                raise http.PlatformError(
                    f"Shopee refused to refresh the access token of channel {channel.pk} "
                    f"({_error(body)}: {body.get('message', '')}); authorize the shop again",
                    permanent=True,
                )
            with transaction.atomic():
                locked = Channel.objects.select_for_update().get(pk=channel.pk)
                locked.credentials = {
                    **locked.credentials,
                    "access_token": body["access_token"],
                    "refresh_token": body.get("refresh_token") or refresh,
                    "access_token_expires_at": int(time.time()) + int(body.get("expire_in") or 14400),
                }
                locked.save(update_fields=["credentials", "updated_at"])
            self.channel.credentials = locked.credentials
            logger.info(
                "Shopee access token of channel %s refreshed", channel.pk, extra={"channel_id": channel.pk}
            )
            return str(body["access_token"])

    # -- what the hub asks --------------------------------------------------------------------

    def verify(self) -> str:
        # get_shop_info answers at the top level, with no `response` object.
        info = self._shop_call("/api/v2/shop/get_shop_info", {}, None, whole=True)
        name, region = info.get("shop_name") or self.channel.shop_identifier, info.get("region") or "?"
        return f"Shopee shop {name} ({region}, {info.get('status') or 'status unknown'})"

    def fetch_changes(self, since: datetime, *, stock: bool, resume: str = "") -> Iterator[ChangesPage]:
        """Orders (and items) updated since then, as the pushes that say so: the handlers then read
        their current state, as for a push. Shopee lists at most 15 days per call."""
        start, now = int(since.timestamp()), int(time.time())
        shop_id, polled_at = int(self.channel.shop_identifier), now
        for time_from in range(start, now + 1, WINDOW):
            window = {"time_from": time_from, "time_to": min(time_from + WINDOW, now)}
            cursor = ""
            while True:
                listing = self.shop_get(
                    "/api/v2/order/get_order_list",
                    {**window, "time_range_field": "update_time", "page_size": 100, "cursor": cursor},
                )
                yield ChangesPage(
                    [
                        _as_push(
                            "order_status",
                            3,
                            {"ordersn": sn},
                            f"poll:order:{sn}:{polled_at}",
                            shop_id,
                            polled_at,
                        )
                        for sn in (order.get("order_sn") for order in listing.get("order_list") or [])
                        if sn
                    ]
                )
                if not listing.get("more"):
                    break
                following = str(listing.get("next_cursor") or "")
                if not following or following == cursor:
                    raise http.PlatformError(
                        "Shopee said there are more orders but gave no new cursor", permanent=False
                    )
                cursor = following
        if not stock:
            return
        changed = {"update_time_from": start, "update_time_to": now}
        for listing in self._item_pages(changed):
            yield ChangesPage(
                [
                    _as_push(
                        "reserved_stock_change",
                        8,
                        {"item_id": i},
                        f"poll:item:{i}:{polled_at}",
                        shop_id,
                        polled_at,
                    )
                    for i in (item.get("item_id") for item in listing.get("item") or [])
                    if i
                ]
            )

    def _item_pages(self, params: dict[str, Any], offset: int = 0) -> Iterator[dict[str, Any]]:
        """get_item_list's pages (offset batches of 50) of the shop's normal items."""
        while True:
            query = {**params, "offset": offset, "page_size": PAGE_SIZE, "item_status": "NORMAL"}
            listing = self.shop_get("/api/v2/product/get_item_list", query)
            yield listing
            if not listing.get("has_next_page"):
                return
            offset = int(listing.get("next_offset") or offset + PAGE_SIZE)

    def push_fulfillment(self, shipment: Shipment) -> str:
        """Arrange the shipment (ship_order) with what get_shipping_parameter says it needs;
        once: an order already past READY_TO_SHIP has been shipped (a lost answer)."""
        order_sn = shipment.order_external_id
        detail = self.fetch_order_detail(order_sn)
        if detail.get("order_status") in _SHIPPED_STATUSES:
            return order_sn
        parameters = self.shop_get("/api/v2/logistics/get_shipping_parameter", {"order_sn": order_sn})
        needed = parameters.get("info_needed") or {}
        body: dict[str, Any] = {"order_sn": order_sn}
        addresses = (parameters.get("pickup") or {}).get("address_list") or []
        if "non_integrated" in needed:
            body["non_integrated"] = {"tracking_number": shipment.tracking_number}
        elif "pickup" in needed and addresses:
            # A courier collecting it where Shopee offers a pickup address; else a drop-off.
            address = next((a for a in addresses if "pickup_address" in (a.get("address_flag") or [])), None)
            address = address or addresses[0]
            slots = address.get("time_slot_list") or []
            body["pickup"] = {
                "address_id": address.get("address_id"),
                **({"pickup_time_id": slots[0].get("pickup_time_id")} if slots else {}),
                **(
                    {"tracking_number": shipment.tracking_number} if _wants_tracking(needed["pickup"]) else {}
                ),
            }
        elif "dropoff" in needed:
            missing = [f for f in needed["dropoff"] or [] if f in ("branch_id", "sender_real_name")]
            if missing:
                raise http.PlatformError(
                    f"Shopee needs {', '.join(missing)} to drop off order {order_sn}: arrange it in Shopee",
                    permanent=True,
                )
            body["dropoff"] = (
                {"tracking_number": shipment.tracking_number} if _wants_tracking(needed["dropoff"]) else {}
            )
        else:
            raise http.PlatformError(
                f"Shopee offers no way to ship order {order_sn} the hub can arrange: {sorted(needed)}",
                permanent=True,
            )
        self.shop_post("/api/v2/logistics/ship_order", body)
        return order_sn

    def push_stock(self, update: StockUpdate) -> datetime | None:
        """update_stock: the model's seller stock (model 0 for an item without variants) at the
        update's location: a shop with warehouses needs each figure's `location_id` (its pushes
        are one per location), a shop without them takes none."""
        item_id = update.product_id or update.variant_id
        model_id = 0 if update.variant_id == item_id else int(update.variant_id)
        stock: dict[str, Any] = {"stock": update.available}
        if update.location:
            stock["location_id"] = update.location
        body = {"item_id": int(item_id), "stock_list": [{"model_id": model_id, "seller_stock": [stock]}]}
        # Setting an absolute figure is safe to resend.
        answer = self.shop_post("/api/v2/product/update_stock", body)
        failures = answer.get("failure_list") or []
        if failures:
            reasons = "; ".join(str(f.get("failed_reason")) for f in failures)
            raise http.PlatformError(f"Shopee refused the stock of item {item_id}: {reasons}", permanent=True)
        return None  # update_stock's answer says no time, so there is none to compare reports with.

    def push_listing(self, listing: Listing) -> PushedListing:
        # add_item needs a Shopee category id, its mandatory attributes, a logistics channel, a
        # weight and images uploaded to Shopee's media space first: nothing a supplier feed says.
        raise ConsoleOnly(
            "Shopee listings are created in Seller Centre (they need a Shopee category, its "
            "attributes, logistics and a weight); the hub maps them at the channel's next product import"
        )

    def fetch_webhooks(self) -> list[RemoteWebhook]:
        raise self._console_only()

    def push_webhook(self, topic: str, callback_url: str, existing: RemoteWebhook | None) -> RemoteWebhook:
        raise self._console_only()

    def _console_only(self) -> ConsoleOnly:
        return ConsoleOnly(
            "Shopee push is configured in the Shopee Open Platform console (App > Push Mechanism): "
            f"set the live callback URL to {self.channel.webhook_url} and turn on the order status "
            "and reserved stock change pushes"
        )

    def fetch_order_detail(self, order_sn: str) -> dict[str, Any]:
        response = self.shop_get(
            "/api/v2/order/get_order_detail",
            {"order_sn_list": order_sn, "response_optional_fields": _ORDER_FIELDS},
        )
        for detail in response.get("order_list") or []:
            if detail.get("order_sn") == order_sn:
                return dict(detail)
        raise http.PlatformError(
            f"Shopee has no order {order_sn} for shop {self.channel.shop_identifier}", permanent=True
        )

    def fetch_models(self, item_id: str) -> list[dict[str, Any]]:
        """An item's models (variants) with their stock; an item without variants is its own model."""
        models = self.shop_get("/api/v2/product/get_model_list", {"item_id": item_id}).get("model") or []
        if models:
            return list(models)
        items = self.shop_get("/api/v2/product/get_item_base_info", {"item_id_list": item_id}).get(
            "item_list"
        )
        return [item | {"model_id": 0} for item in items or []]

    def fetch_products(self, resume: str = "") -> Iterator[ProductPage]:
        """Items in offset batches of 50, each batch's base info in one call, models per item."""
        for listing in self._item_pages({}, offset=int(resume) if resume.isdigit() else 0):
            ids = [str(item["item_id"]) for item in listing.get("item") or [] if item.get("item_id")]
            products = []
            if ids:
                infos = self.shop_get("/api/v2/product/get_item_base_info", {"item_id_list": ",".join(ids)})
                products = [self._product(info) for info in infos.get("item_list") or []]
            total = listing.get("total_count")
            following = str(listing.get("next_offset") or "") if listing.get("has_next_page") else ""
            yield ProductPage(
                products=products, total=int(total) if total is not None else None, resume=following
            )

    def fetch_variants(self, search: str = "", *, inventory_item: str = "") -> list[RemoteVariant]:
        """The models of the shop's first items whose name or SKU contains `search`: the hub reads
        one batch of the item list and filters it here (Shopee has no inventory items)."""
        if inventory_item:
            return []
        wanted = search.casefold()
        first = next(iter(self.fetch_products()), None)
        variants = [
            RemoteVariant(
                variant_id=variant.external_id,
                product_id=product.external_id,
                title=f"{product.title} / {variant.title}" if variant.title else product.title,
                sku=variant.sku,
            )
            for product in (first.products if first else [])
            for variant in product.variants
            if wanted in f"{product.title} {variant.title} {variant.sku}".casefold()
        ]
        return variants[:VARIANT_CHOICES]

    def _product(self, info: dict[str, Any]) -> ProductData:
        item_id = str(info.get("item_id", ""))
        if info.get("has_model"):
            response = self.shop_get("/api/v2/product/get_model_list", {"item_id": item_id})
            tiers = response.get("tier_variation") or []
            variants = [
                VariantData(
                    external_id=str(model.get("model_id", "")),
                    sku=model.get("model_sku") or "",
                    title=model_title(model, tiers),
                )
                for model in response.get("model") or []
            ]
        else:
            # Order lines of an item without variants carry model_id 0 and are mapped by the item id.
            variants = [VariantData(external_id=item_id, sku=info.get("item_sku") or "")]
        return ProductData(external_id=item_id, title=info.get("item_name") or "", variants=tuple(variants))


def model_title(model: dict[str, Any], tiers: list[Any]) -> str:
    """A model's name from its options: get_model_list gives no model name, only each tier's
    option index (`tier_index`, into `tier_variation[].option_list[]`): "Red / XL"."""
    options = []
    for tier, index in zip(tiers, model.get("tier_index") or [], strict=False):
        option_list = tier.get("option_list") if isinstance(tier, dict) else None
        if isinstance(option_list, list) and isinstance(index, int) and 0 <= index < len(option_list):
            option = option_list[index].get("option") if isinstance(option_list[index], dict) else None
            if isinstance(option, str) and option:
                options.append(option)
    return " / ".join(options)[:255]


def _object(response: Any, call: http.Call) -> dict[str, Any]:
    body = http.json_body(response, call)
    return body if isinstance(body, dict) else {}


def _as_push(topic: str, code: int, data: dict[str, Any], key: str, shop_id: int, at: int) -> Polled:
    """A polled change as the push Shopee would have sent for it."""
    return Polled(
        topic=topic, key=key, payload={"shop_id": shop_id, "code": code, "timestamp": at, "data": data}
    )


def _wants_tracking(fields: Any) -> bool:
    # Shopee names it tracking_no in info_needed, tracking_number in ship_order's body.
    return isinstance(fields, list) and ("tracking_no" in fields or "tracking_number" in fields)


def _error(body: dict[str, Any]) -> str:
    error = body.get("error") or ""
    return "" if error == "-" else str(error)


def _raise_for(body: dict[str, Any], path: str) -> None:
    error = _error(body)
    if not error:
        return
    message = f"Shopee {path}: {error}: {body.get('message', '')}"
    raise http.PlatformError(message, permanent=error not in _TRANSIENT_ERRORS)


# The handlers' entry points (a push names a channel, not a client).
def fetch_order_detail(channel: Channel, order_sn: str) -> dict[str, Any]:
    return ShopeeClient(channel).fetch_order_detail(order_sn)


def fetch_models(channel: Channel, item_id: str) -> list[dict[str, Any]]:
    return ShopeeClient(channel).fetch_models(item_id)
