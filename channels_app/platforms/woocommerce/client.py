"""WooCommerce REST API v3 with the store's consumer key and secret (HTTP Basic over HTTPS).

Lists are paged (`page`, `per_page` up to 100) and say their size in `X-WP-Total` and
`X-WP-TotalPages`. A variable product's variations are their own list under the product.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.utils.translation import ngettext

from channels_app import http, ratelimit
from channels_app.clients import (
    VARIANT_CHOICES,
    ChangesPage,
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
from channels_app.platforms.parsing import timestamp
from inventory.catalog import ProductData, VariantData

# Calls per second. A store's own server sets the real limit, which Channel.api_rate_limit says.
DEFAULT_RATE = 5.0
PAGE_SIZE = 100
_NOT_SHIPPABLE = {"cancelled", "refunded", "failed", "trash", "checkout-draft"}


# Product meta saying that the hub made the product, and which one: the hub changes only those.
HUB_MARKER = "_hub_handle"
BATCH_LIMIT = 100


class WooCommerceClient:
    stock_locations = False  # WooCommerce keeps one stock quantity per product or variation.

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.base = (channel.api_base_url or channel.shop_identifier).rstrip("/") + "/wp-json/wc/v3"
        rate = channel.api_rate_limit or DEFAULT_RATE
        self.call = http.Call(
            platform="woocommerce",
            channel_id=channel.pk,
            bucket=ratelimit.Bucket(f"channel:{channel.pk}", rate=rate, capacity=max(1.0, rate)),
        )

    @classmethod
    def credentials_missing(cls, channel: Channel) -> list[str]:
        return [name for name in ("consumer_key", "consumer_secret") if not channel.credentials.get(name)]

    def _auth(self) -> tuple[str, str]:
        key = self.channel.credentials.get("consumer_key", "")
        secret = self.channel.credentials.get("consumer_secret", "")
        if not key or not secret:
            raise http.PlatformError(
                f"WooCommerce channel {self.channel.pk} has no consumer key and secret", permanent=True
            )
        return key, secret

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = http.send(self.call, method, self.base + path, auth=self._auth(), **kwargs)
        return http.json_body(response, self.call), response.headers

    def pages(
        self, path: str, params: dict[str, Any] | None = None, *, start: int = 1
    ) -> Iterator[tuple[list[Any], int | None]]:
        """Each page of a list with the list's total, until a page comes back short."""
        page, previous = start, None
        while True:
            body, headers = self.request(
                "GET", path, params={**(params or {}), "page": page, "per_page": PAGE_SIZE}
            )
            items = body if isinstance(body, list) else []
            ids = [item.get("id") for item in items if isinstance(item, dict)]
            if ids and ids == previous:
                # An endpoint (or a plugin) that ignores `page` answers the same page forever.
                raise http.PlatformError(
                    f"WooCommerce {path} answered page {page} as page {page - 1}", permanent=True
                )
            previous = ids
            total = headers.get("X-WP-Total")
            yield items, int(total) if total and total.isdigit() else None
            total_pages = headers.get("X-WP-TotalPages")
            if len(items) < PAGE_SIZE or (total_pages and total_pages.isdigit() and page >= int(total_pages)):
                return
            page += 1

    def verify(self) -> str:
        _, headers = self.request("GET", "/products", params={"per_page": 1})
        total = headers.get("X-WP-Total", "")
        return f"WooCommerce store {self.channel.shop_identifier}: " + (
            ngettext("%(n)d product", "%(n)d products", int(total)) % {"n": int(total)}
            if total.isdigit()
            else "? products"
        )

    def fetch_changes(self, since: datetime, *, stock: bool, resume: str = "") -> Iterator[ChangesPage]:
        """Orders (and products with their variations) modified since then: the REST answer is the
        webhook's payload (a variation's `product.updated` webhook sends the variation)."""
        params = {
            "modified_after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "dates_are_gmt": "true",
            # By id, not by date modified: an order changed while the poll pages through the list
            # would move to its end and shift the pages, and one would be skipped.
            "orderby": "id",
            "order": "asc",
        }
        yield from self._polled("/orders", "order", params)
        if not stock:
            return
        yield from self._polled("/products", "product", params)
        # `/products` lists parent products only (`type` takes no "variation"), and a variation's
        # stock change saves the variation alone: its parent's date modified stays as it was. So
        # every variable product's variations are asked for what changed, one list per parent.
        for parent_id in self._variable_product_ids():
            yield from self._polled(f"/products/{parent_id}/variations", "product", params)

    def _polled(self, path: str, resource: str, params: dict[str, Any]) -> Iterator[ChangesPage]:
        for items, _ in self.pages(path, params):
            yield ChangesPage(
                [
                    Polled(
                        topic=f"{resource}.updated",
                        key=f"poll:{resource}:{item.get('id')}:{item.get('date_modified_gmt')}",
                        payload=item,
                    )
                    for item in items
                    if isinstance(item, dict)
                ]
            )

    def _variable_product_ids(self) -> list[str]:
        """Every variable product's id, asking for the ids alone (WordPress' `_fields`)."""
        params = {"type": "variable", "_fields": "id", "orderby": "id", "order": "asc"}
        return [
            str(item["id"])
            for items, _ in self.pages("/products", params)
            for item in items
            # Digits only: the id goes into the next request's path.
            if isinstance(item, dict) and str(item.get("id", "")).isdigit()
        ]

    def push_fulfillment(self, shipment: Shipment) -> str:
        """A customer note with the tracking (WooCommerce emails it), then status completed; the
        note is written once: one already carrying this tracking number (a lost answer) is it."""
        path = f"/orders/{shipment.order_external_id}"
        order, _ = self.request("GET", path)
        status = order.get("status") if isinstance(order, dict) else None
        if status in _NOT_SHIPPABLE:
            raise http.PlatformError(
                f"WooCommerce order {shipment.order_external_id} is {status}: not marked completed",
                permanent=True,
            )
        marker = f"Tracking number: {shipment.tracking_number}"
        # The notes endpoint is not paged: one call answers them all.
        notes, _ = self.request("GET", f"{path}/notes")
        notes = notes if isinstance(notes, list) else []
        note = next((n for n in notes if marker in str(n.get("note", ""))), None)
        if note is None:
            text = f"Shipped with {shipment.carrier}. {marker}"
            if shipment.tracking_url:
                text += f" ({shipment.tracking_url})"
            # Not retried blindly on a lost answer: the job's retry looks for the note first.
            response = http.send(
                self.call,
                "POST",
                f"{self.base}{path}/notes",
                json={"note": text, "customer_note": True},
                auth=self._auth(),
                attempts=1,
            )
            note = http.json_body(response, self.call)
        self.request("PUT", path, json={"status": "completed"})  # Setting a status again is harmless.
        return str(note.get("id", "")) if isinstance(note, dict) else ""

    def push_stock(self, update: StockUpdate) -> datetime | None:
        """The product's (or variation's) stock quantity, with WooCommerce managing its stock; when
        WooCommerce saved it (GMT)."""
        if update.variant_id == update.product_id or not update.product_id:
            path = f"/products/{update.variant_id}"  # A simple product is its own variant.
        else:
            path = f"/products/{update.product_id}/variations/{update.variant_id}"
        body, _ = self.request("PUT", path, json={"manage_stock": True, "stock_quantity": update.available})
        # Its answer is the product as saved: the time its webhooks and polls will report.
        return timestamp(body.get("date_modified_gmt")) if isinstance(body, dict) else None

    def push_listing(self, listing: Listing) -> PushedListing:
        """A simple product (one variant, no options) or a variable product with its variations,
        found first by id or by SKU (the handle for a variable product), so a create whose answer
        was lost, sent again, updates what it made."""
        simple = len(listing.variants) == 1 and not listing.option_names
        key = listing.variants[0].sku if simple else listing.handle
        product_id = listing.external_id or self._hub_product_by_sku(key, listing.handle)
        payload: dict[str, Any] = {
            "name": listing.title,
            "type": "simple" if simple else "variable",
            "sku": key,
            "description": listing.description,
            "meta_data": [{"key": HUB_MARKER, "value": listing.handle}],
        }
        if simple and listing.variants[0].price is not None:
            payload["regular_price"] = listing.variants[0].price
        if not simple:
            payload["attributes"] = [
                {
                    "name": name,
                    "visible": True,
                    "variation": True,
                    "options": list(dict.fromkeys(dict(v.options)[name] for v in listing.variants)),
                }
                for name in listing.option_names
            ]
        if listing.images is not None:
            payload["images"] = [{"src": url} for url in listing.images]
        if product_id:
            body, _ = self.request("PUT", f"/products/{product_id}", json=payload)
        else:
            # Sent once: a lost answer is found by its SKU and marker when the job tries again.
            body, _ = self.request("POST", "/products", json=payload, attempts=1)
        product_id = str(body.get("id") or "") if isinstance(body, dict) else ""
        if not product_id:
            raise http.PlatformError("WooCommerce answered a product without an id", permanent=False)
        if simple:
            return PushedListing(external_id=product_id, variants={key: (product_id, "")})
        return PushedListing(external_id=product_id, variants=self._push_variations(product_id, listing))

    def _hub_product_by_sku(self, sku: str, handle: str) -> str:
        """The product the hub made earlier with this SKU (its answer may have been lost); a store
        product of that SKU the hub did not make is the merchant's: refused, never taken over."""
        body, _ = self.request("GET", "/products", params={"sku": sku})
        found = [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []
        for item in found:
            marks = {m.get("key"): m.get("value") for m in item.get("meta_data") or [] if isinstance(m, dict)}
            if marks.get(HUB_MARKER) == handle:
                return str(item.get("id") or "")
        if found:
            raise http.PlatformError(
                f"the store already has a product with SKU {sku} that the hub did not make: "
                "it is left as it is",
                permanent=True,
            )
        return ""

    def _push_variations(self, product_id: str, listing: Listing) -> dict[str, tuple[str, str]]:
        path = f"/products/{product_id}/variations"
        existing = {
            str(item.get("sku") or ""): str(item.get("id"))
            for items, _ in self.pages(path)
            for item in items
            if isinstance(item, dict)
        }
        create, update = [], []
        for variant in listing.variants:
            item: dict[str, Any] = {
                "sku": variant.sku,
                "attributes": [{"name": name, "option": value} for name, value in variant.options],
            }
            if variant.price is not None:
                item["regular_price"] = variant.price
            variation_id = variant.external_id or existing.get(variant.sku)
            if variation_id:
                update.append({"id": int(variation_id), **item})
            else:
                create.append(item)
        variants = {sku: (vid, "") for sku, vid in existing.items() if sku}
        # WooCommerce's batch endpoints take 100 items per request, creates and updates together.
        items = [("update", item) for item in update] + [("create", item) for item in create]
        for start in range(0, len(items), BATCH_LIMIT):
            batch: dict[str, list[dict[str, Any]]] = {"create": [], "update": []}
            for kind, item in items[start : start + BATCH_LIMIT]:
                batch[kind].append(item)
            # Sent once: a retry of the job finds what a lost answer created (by SKU, above).
            body, _ = self.request("POST", f"{path}/batch", json=batch, attempts=1)
            for answered in (body.get("create") or []) + (body.get("update") or []):
                error = answered.get("error")
                if error:
                    raise http.PlatformError(
                        f"WooCommerce refused a variation: {error.get('message', error)}", permanent=True
                    )
                variants[str(answered.get("sku") or "")] = (str(answered.get("id")), "")
        return variants

    def fetch_webhooks(self) -> list[RemoteWebhook]:
        return [
            RemoteWebhook(
                topic=hook.get("topic", ""),
                callback_url=hook.get("delivery_url", ""),
                external_id=str(hook.get("id", "")),
                # WooCommerce disables a webhook after repeated delivery failures, and never retries.
                active=hook.get("status") == "active",
            )
            for page, _ in self.pages("/webhooks")
            for hook in page
        ]

    def push_webhook(self, topic: str, callback_url: str, existing: RemoteWebhook | None) -> RemoteWebhook:
        if existing is not None:
            body, _ = self.request("PUT", f"/webhooks/{existing.external_id}", json={"status": "active"})
        else:
            payload = {
                "name": f"hub: {topic}",
                "topic": topic,
                "delivery_url": callback_url,
                # The secret as stored: WooCommerce signs with it (after its own entity decoding).
                "secret": self.channel.webhook_secret,
                "status": "active",
            }
            # Sent once: a lost answer's webhook is found by the next registration's listing.
            body, _ = self.request("POST", "/webhooks", json=payload, attempts=1)
        return RemoteWebhook(
            topic=topic,
            callback_url=body.get("delivery_url", callback_url),
            external_id=str(body.get("id", "")),
            active=body.get("status") == "active",
        )

    def fetch_products(self, resume: str = "") -> Iterator[ProductPage]:
        start = int(resume) if resume.isdigit() else 1
        for number, (items, total) in enumerate(self.pages("/products", start=start), start=start):
            following = str(number + 1) if len(items) == PAGE_SIZE else ""
            yield ProductPage(products=[self._product(item) for item in items], total=total, resume=following)

    def fetch_variants(self, search: str = "", *, inventory_item: str = "") -> list[RemoteVariant]:
        """Products whose words match (WooCommerce's `search` filter), each with its variations;
        WooCommerce has no inventory items."""
        if inventory_item:
            return []
        params = {"per_page": 20, "_fields": "id,name,type,sku,variations"}
        found, _ = self.request("GET", "/products", params={**params, "search": search} if search else params)
        variants = [
            RemoteVariant(
                variant_id=variant.external_id,
                product_id=product.external_id,
                title=f"{product.title} / {variant.title}" if variant.title else product.title,
                sku=variant.sku,
            )
            for product in (self._product(item) for item in found if isinstance(item, dict))
            for variant in product.variants
        ]
        return variants[:VARIANT_CHOICES]

    def _product(self, item: dict[str, Any]) -> ProductData:
        product_id = str(item.get("id", ""))
        if item.get("type") == "variable" and item.get("variations"):
            variants = [
                VariantData(
                    external_id=str(variation.get("id", "")),
                    sku=variation.get("sku") or "",
                    title=" / ".join(str(a.get("option", "")) for a in variation.get("attributes") or []),
                )
                for page, _ in self.pages(f"/products/{product_id}/variations")
                for variation in page
            ]
        else:
            # A simple product is its own only variant; WooCommerce order lines name it with variation_id 0.
            variants = [VariantData(external_id=product_id, sku=item.get("sku") or "", title="")]
        return ProductData(external_id=product_id, title=item.get("name") or "", variants=tuple(variants))
