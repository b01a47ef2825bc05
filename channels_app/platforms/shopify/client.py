"""Shopify's GraphQL Admin API, at SHOPIFY_API_VERSION, throttled by query cost.

Shopify gives each (app, shop) a bucket of cost points that refills at the shop's plan's rate, and
says after every query what is left (`extensions.cost.throttleStatus`). The hub keeps that bucket
in Redis for every worker: a query first takes its estimated cost from it, then the bucket is set to
what Shopify reports. A THROTTLED answer (HTTP 200 with that error code) waits for the points it
lacks and asks again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.html import escape, linebreaks

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
from channels_app.platforms.shopify.queries import (
    FULFILLMENT_CREATE,
    FULFILLMENT_STATE_QUERY,
    INVENTORY_ITEM_VARIANT_QUERY,
    INVENTORY_LEVEL_QUERY,
    INVENTORY_SET,
    LEVELS_COST,
    LEVELS_PAGE,
    LEVELS_QUERY,
    LINES_PAGE,
    ORDERS_COST,
    ORDERS_PAGE,
    ORDERS_QUERY,
    PAGE_SIZE,
    PRODUCT_SET,
    SHOP_QUERY,
    VARIANT_SEARCH_QUERY,
    VARIANTS_QUERY,
    WEBHOOK_CREATE,
    WEBHOOKS_QUERY,
)
from channels_app.platforms.shopify.rest import gid_id, level_polled, rest_level, rest_order
from channels_app.platforms.shopify.webhooks import HANDLERS
from config.queues import get_queue
from inventory.catalog import ProductData, VariantData

logger = logging.getLogger(__name__)

# A standard plan's bucket until Shopify tells us the shop's own (then its figures are kept).
DEFAULT_CAPACITY, DEFAULT_RESTORE_RATE = 1000.0, 50.0
THROTTLED_ATTEMPTS = 5
_TRANSIENT_GRAPHQL_CODES = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}
# SCHEDULED ones (a later delivery of a subscription) cannot be fulfilled until they open.
_OPEN_FULFILLMENT_ORDERS = {"OPEN", "IN_PROGRESS"}


def _next_cursor(page_info: dict[str, Any], after: str | None) -> str:
    """The next page's cursor; a page that says there is more but gives no new cursor is an error,
    not a reason to read the first page again forever."""
    cursor = page_info.get("endCursor")
    if not cursor or cursor == after:
        raise http.PlatformError("Shopify said there is a next page but gave no new cursor", permanent=False)
    return str(cursor)


def topic_enum(topic: str) -> str:
    """orders/create -> ORDERS_CREATE (the GraphQL WebhookSubscriptionTopic)."""
    return topic.upper().replace("/", "_")


class ShopifyClient:
    stock_locations = True  # Shopify keeps inventory levels per location.

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        base = (
            channel.api_base_url.rstrip("/") if channel.api_base_url else f"https://{channel.shop_identifier}"
        )
        self.url = f"{base}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"
        self.bucket = ratelimit.Bucket(
            f"shopify:{channel.shop_identifier}", rate=DEFAULT_RESTORE_RATE, capacity=DEFAULT_CAPACITY
        )

    @classmethod
    def credentials_missing(cls, channel: Channel) -> list[str]:
        return [] if channel.credentials.get("access_token") else ["access_token"]

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, cost: float = 10, mutation: bool = False
    ) -> dict[str, Any]:
        """The `data` of a query; waits for the shop's cost bucket and retries THROTTLED answers."""
        token = self.channel.credentials.get("access_token", "")
        if not token:
            raise http.PlatformError(f"Shopify channel {self.channel.pk} has no access token", permanent=True)
        call = http.Call(platform="shopify", channel_id=self.channel.pk, bucket=self.bucket, cost=cost)
        for _ in range(THROTTLED_ATTEMPTS):
            response = http.send(
                call,
                "POST",
                self.url,
                json={"query": query, "variables": variables or {}},
                headers={"X-Shopify-Access-Token": token},
                # A mutation whose answer was lost may have happened: never resend it blindly; the
                # job's retry checks what Shopify holds first.
                attempts=1 if mutation else http.ATTEMPTS,
            )
            body = http.json_body(response, call)
            body = body if isinstance(body, dict) else {}
            throttled = self._read_cost(body)
            errors = body.get("errors") or []
            if throttled:
                # Ask again for what Shopify says the query costs: the bucket (now Shopify's figure)
                # makes the retry wait for exactly the points that are missing.
                requested = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
                call = dataclasses.replace(call, cost=float(requested or call.cost))
                continue
            if errors:
                messages = "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
                )
                codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
                raise http.PlatformError(
                    f"Shopify GraphQL: {messages}", permanent=not (codes & _TRANSIENT_GRAPHQL_CODES)
                )
            return body.get("data") or {}
        raise http.PlatformError("Shopify kept throttling the query", permanent=False)

    def _read_cost(self, body: dict[str, Any]) -> bool:
        """Share what Shopify says of the bucket; True when the query was THROTTLED."""
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        throttled = any(
            isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
            for e in body.get("errors") or []
        )
        if "currentlyAvailable" in status:
            if throttled:
                logger.info(
                    "Shopify throttled shop %s: %s points left, %s asked, restoring %s/s",
                    self.channel.shop_identifier,
                    status["currentlyAvailable"],
                    cost.get("requestedQueryCost"),
                    status.get("restoreRate"),
                    extra={"channel_id": self.channel.pk},
                )
            # Shopify's figure replaces ours (a throttled query took nothing): the next acquire
            # waits for exactly the points that are missing, at the shop's own restore rate.
            ratelimit.set_available(
                get_queue("channel-sync").connection,
                self.bucket,
                float(status["currentlyAvailable"]),
                capacity=float(status.get("maximumAvailable") or 0),
                rate=float(status.get("restoreRate") or 0),
            )
        elif throttled:
            time.sleep(1)
        return throttled

    def verify(self) -> str:
        shop = self.graphql(SHOP_QUERY, cost=1).get("shop") or {}
        return f"Shopify shop {shop.get('name', '?')} ({shop.get('myshopifyDomain', '?')})"

    def fetch_webhooks(self) -> list[RemoteWebhook]:
        ours = {topic_enum(topic): topic for topic in HANDLERS}
        found, after = [], None
        while True:
            data = self.graphql(WEBHOOKS_QUERY, {"after": after}, cost=2 + 2 * 100)
            connection = data.get("webhookSubscriptions") or {}
            for node in connection.get("nodes") or []:
                topic = ours.get(node.get("topic", ""))
                if topic is not None:
                    version = (node.get("apiVersion") or {}).get("handle") or ""
                    found.append(
                        RemoteWebhook(
                            topic=topic,
                            callback_url=node.get("uri") or "",
                            external_id=node.get("id", ""),
                            api_version=version,
                        )
                    )
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return found
            after = _next_cursor(page_info, after)

    def push_webhook(self, topic: str, callback_url: str, existing: RemoteWebhook | None) -> RemoteWebhook:
        """Subscribe, through SHOPIFY_API_VERSION's URL. The payloads' version is not the
        subscription's to choose: it is the webhook API version configured in the app (the
        schema's own words: "You can't specify it per subscription"); Shopify reports it on each
        subscription, and the channel page warns when it is not the hub's."""
        variables = {
            "topic": topic_enum(topic),
            "webhookSubscription": {"uri": callback_url, "format": "JSON"},
        }
        result = self.graphql(WEBHOOK_CREATE, variables, cost=10).get("webhookSubscriptionCreate") or {}
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(f"{'.'.join(e.get('field') or [])}: {e.get('message')}" for e in errors)
            raise http.PlatformError(f"Shopify refused the {topic} webhook: {text}", permanent=True)
        created = result.get("webhookSubscription") or {}
        return RemoteWebhook(
            topic=topic,
            callback_url=callback_url,
            external_id=created.get("id", ""),
            api_version=(created.get("apiVersion") or {}).get("handle") or settings.SHOPIFY_API_VERSION,
        )

    def fetch_changes(self, since: datetime, *, stock: bool, resume: str = "") -> Iterator[ChangesPage]:
        """Orders updated since then; with `stock`, every level at every mapped location, whatever
        its date (the handler's stale guard and the hub's figures decide what changes).

        Reading a big shop's stock whole can outlast a job's time limit: each page of levels says
        where a retried run goes on (`levels:<location>:<cursor>`), past the orders it has read.
        """
        if not resume:
            yield from self._changed_orders(since)
        if not stock:
            return
        locations = self._mapped_locations()
        _, start, cursor = resume.split(":", 2) if resume.startswith("levels:") else ("", "", "")
        if start == "done":
            return
        if start in locations:
            locations = locations[locations.index(start) :]
        else:  # The location was unmapped since the run stopped: read them all again.
            cursor = ""
        for location in locations:
            after, cursor = cursor or None, ""
            for nodes, following in self._location_levels(location, after):
                # A level names its item; one that does not (never seen) cannot be applied anyway.
                levels = [node for node in nodes if (node.get("item") or {}).get("legacyResourceId")]
                yield ChangesPage(
                    [level_polled(rest_level(node, location)) for node in levels],
                    resume=f"levels:{location}:{following}"
                    if following
                    else self._after(locations, location),
                )

    @staticmethod
    def _after(locations: list[str], location: str) -> str:
        """Where a run goes on once a location's levels are all read: the next one's first page."""
        index = locations.index(location) + 1
        return f"levels:{locations[index]}:" if index < len(locations) else "levels:done:"

    def _changed_orders(self, since: datetime) -> Iterator[ChangesPage]:
        search = f"updated_at:>='{since.astimezone(UTC).isoformat(timespec='seconds')}'"
        for nodes in self._pages(ORDERS_QUERY, "orders", search, ORDERS_PAGE, cost=ORDERS_COST):
            complete = []
            for order in nodes:
                if ((order.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage"):
                    logger.warning(
                        "Shopify order %s has over %s lines: not polled",
                        order.get("legacyResourceId"),
                        LINES_PAGE,
                        extra={"channel_id": self.channel.pk},
                    )
                    continue
                complete.append(order)
            yield ChangesPage(
                [
                    Polled(
                        topic="orders/updated",
                        key=f"poll:order:{o['legacyResourceId']}:{o['updatedAt']}",
                        payload=rest_order(o),
                    )
                    for o in complete
                ]
            )

    def _pages(
        self, query: str, field: str, search: str, first: int, *, cost: float
    ) -> Iterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            connection = (
                self.graphql(query, {"first": first, "after": after, "query": search}, cost=cost).get(field)
                or {}
            )
            yield list(connection.get("nodes") or [])
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return
            after = _next_cursor(page_info, after)

    def _mapped_locations(self) -> list[str]:
        """The Shopify locations whose stock the hub keeps: a level elsewhere has no warehouse to go
        to (its webhook fails saying so), so reading it would cost points and change nothing."""
        locations = []
        mapped = self.channel.locations.filter(warehouse__isnull=False).order_by("external_id")
        for external_id in mapped.values_list("external_id", flat=True):
            if external_id.isdigit():
                locations.append(external_id)
            else:
                logger.warning(
                    "Shopify location %r is not a location id: its stock is not reconciled",
                    external_id,
                    extra={"channel_id": self.channel.pk},
                )
        return locations

    def _location_levels(
        self, location: str, after: str | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """Every inventory level at one location (from `after`), a page at a time, each with the
        cursor of the page after it ("" for the last)."""
        while True:
            variables = {
                "location": f"gid://shopify/Location/{location}",
                "first": LEVELS_PAGE,
                "after": after,
            }
            found = self.graphql(LEVELS_QUERY, variables, cost=LEVELS_COST).get("location")
            if found is None:
                logger.warning(
                    "Shopify has no location %s (mapped in the hub): its stock is not reconciled",
                    location,
                    extra={"channel_id": self.channel.pk},
                )
                return
            connection = found.get("inventoryLevels") or {}
            page_info = connection.get("pageInfo") or {}
            following = _next_cursor(page_info, after) if page_info.get("hasNextPage") else ""
            yield list(connection.get("nodes") or []), following
            if not following:
                return
            after = following

    def push_fulfillment(self, shipment: Shipment) -> str:
        """Fulfil what is open on the order's fulfillment orders, with tracking: one
        fulfillmentCreate per assigned location (Shopify takes one location per call). Once: a
        fulfillment already carrying this tracking number (a lost answer) counts as done, and a
        retry fulfils only what is still open."""
        gid = f"gid://shopify/Order/{shipment.order_external_id}"
        order = self.graphql(FULFILLMENT_STATE_QUERY, {"id": gid}, cost=80).get("order")
        if order is None:
            raise http.PlatformError(f"Shopify has no order {shipment.order_external_id}", permanent=True)
        done = [
            gid_id(fulfillment.get("id"))
            for fulfillment in order.get("fulfillments") or []
            if shipment.tracking_number
            and shipment.tracking_number
            in {info.get("number") for info in fulfillment.get("trackingInfo") or []}
        ]
        by_location: dict[str, list[str]] = defaultdict(list)
        for node in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
            if node.get("status") in _OPEN_FULFILLMENT_ORDERS:
                location = ((node.get("assignedLocation") or {}).get("location") or {}).get("id", "")
                by_location[location].append(node["id"])
        if not by_location:
            if done:
                return ",".join(done)
            raise http.PlatformError(
                f"Shopify order {shipment.order_external_id} has nothing left to fulfil", permanent=True
            )
        tracking = {"number": shipment.tracking_number, "company": shipment.carrier}
        if shipment.tracking_url:
            tracking["url"] = shipment.tracking_url
        for orders in by_location.values():
            variables = {
                "fulfillment": {
                    "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo} for fo in orders],
                    "trackingInfo": tracking,
                    "notifyCustomer": True,
                }
            }
            result = (
                self.graphql(FULFILLMENT_CREATE, variables, cost=10, mutation=True).get("fulfillmentCreate")
                or {}
            )
            errors = result.get("userErrors") or []
            if errors:
                text = "; ".join(str(e.get("message")) for e in errors)
                raise http.PlatformError(f"Shopify refused the fulfillment: {text}", permanent=True)
            done.append(gid_id((result.get("fulfillment") or {}).get("id")))
        return ",".join(done)

    def push_listing(self, listing: Listing) -> PushedListing:
        """productSet, synchronously: the product, its options and variants (with their ids once
        known, so Shopify keeps their inventory items), and its images only when they changed
        (Shopify fetches them from the supplier's URLs; sending them again would duplicate them)."""
        if not listing.option_names:  # One variant: it takes Shopify's own default option.
            listing = dataclasses.replace(
                listing,
                option_names=("Title",),
                variants=tuple(
                    dataclasses.replace(v, options=(("Title", "Default Title"),)) for v in listing.variants
                ),
            )
        product: dict[str, Any] = {
            "handle": listing.handle,
            "title": listing.title,
            "descriptionHtml": linebreaks(escape(listing.description)),
            "productOptions": [
                {
                    "name": name,
                    "position": position,
                    "values": [
                        {"name": v} for v in dict.fromkeys(dict(x.options)[name] for x in listing.variants)
                    ],
                }
                for position, name in enumerate(listing.option_names, start=1)
            ],
            "variants": [
                {
                    **({"id": f"gid://shopify/ProductVariant/{v.external_id}"} if v.external_id else {}),
                    "sku": v.sku,
                    "optionValues": [{"optionName": name, "name": value} for name, value in v.options],
                    **({"price": v.price} if v.price is not None else {}),
                }
                for v in listing.variants
            ],
        }
        if listing.images is not None:
            product["files"] = [{"originalSource": url, "contentType": "IMAGE"} for url in listing.images]
        identifier = (
            {"id": f"gid://shopify/Product/{listing.external_id}"}
            if listing.external_id
            else {"handle": listing.handle}
        )
        cost = 10 + 2 * len(listing.variants) + (len(listing.images or ()))
        result = (
            self.graphql(PRODUCT_SET, {"identifier": identifier, "input": product}, cost=cost).get(
                "productSet"
            )
            or {}
        )
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(
                f"{'.'.join(map(str, e.get('field') or []))}: {e.get('message')}" for e in errors
            )
            raise http.PlatformError(f"Shopify refused the product: {text}", permanent=True)
        node = result.get("product") or {}
        variants = {
            v.get("sku") or "": (gid_id(v.get("id")), gid_id((v.get("inventoryItem") or {}).get("id")))
            for v in (node.get("variants") or {}).get("nodes") or []
        }
        return PushedListing(external_id=gid_id(node.get("id")), variants=variants)

    def push_stock(self, update: StockUpdate) -> datetime | None:
        """inventorySetQuantities with `changeFromQuantity` (what Shopify is believed to show) and
        an idempotency key from our own job; when Shopify's figure moved meanwhile (a sale there),
        read it and set again from it, once. When Shopify made the change, by its clock."""
        item = f"gid://shopify/InventoryItem/{update.inventory_item_id}"
        location = f"gid://shopify/Location/{update.location}"
        if not update.inventory_item_id:
            raise http.PlatformError(
                f"Shopify variant {update.variant_id} has no inventory item", permanent=True
            )
        known = update.known if update.known is not None else self._available_at(item, location)
        for attempt in (1, 2):
            variables = {
                "idempotencyKey": update.idempotency_key
                if attempt == 1
                else f"{update.idempotency_key}:again",
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "referenceDocumentUri": f"hub://stock-push/{update.idempotency_key}",
                    "quantities": [
                        {
                            "inventoryItemId": item,
                            "locationId": location,
                            "quantity": update.available,
                            "changeFromQuantity": known,
                        }
                    ],
                },
            }
            result = (
                self.graphql(INVENTORY_SET, variables, cost=10, mutation=True).get("inventorySetQuantities")
                or {}
            )
            errors = result.get("userErrors") or []
            if not errors:
                return timestamp((result.get("inventoryAdjustmentGroup") or {}).get("createdAt"))
            codes = {e.get("code") for e in errors}
            if attempt == 1 and "CHANGE_FROM_QUANTITY_STALE" in codes:
                known = self._available_at(item, location)
                continue
            text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
            # IDEMPOTENCY_*: the same key still in flight, or used for another request: a later
            # flush (another job, another key) sets it.
            transient = any(str(code).startswith("IDEMPOTENCY_") for code in codes)
            raise http.PlatformError(f"Shopify refused the stock update: {text}", permanent=not transient)
        return None

    def _available_at(self, item: str, location: str) -> int | None:
        data = self.graphql(INVENTORY_LEVEL_QUERY, {"item": item, "location": location}, cost=5)
        level = (data.get("inventoryItem") or {}).get("inventoryLevel") or {}
        for quantity in level.get("quantities") or []:
            if quantity.get("name") == "available":
                return int(quantity.get("quantity") or 0)
        return None

    def fetch_products(self, resume: str = "") -> Iterator[ProductPage]:
        """Every variant, 100 a page (cursor pagination), grouped by product.

        Variants are paged rather than products with nested variants: a nested connection costs
        first x first points, past Shopify's 1000-point ceiling for one query.
        """
        after: str | None = resume or None
        while True:
            data = self.graphql(VARIANTS_QUERY, {"first": PAGE_SIZE, "after": after}, cost=2 + 3 * PAGE_SIZE)
            connection = data.get("productVariants") or {}
            page_info = connection.get("pageInfo") or {}
            following = _next_cursor(page_info, after) if page_info.get("hasNextPage") else ""
            yield ProductPage(products=_group_by_product(connection.get("nodes") or []), resume=following)
            if not following:
                return
            after = following

    def fetch_variants(self, search: str = "", *, inventory_item: str = "") -> list[RemoteVariant]:
        if inventory_item:
            gid = f"gid://shopify/InventoryItem/{inventory_item}"
            item = self.graphql(INVENTORY_ITEM_VARIANT_QUERY, {"id": gid}, cost=4).get("inventoryItem") or {}
            # An inventory item belongs to one variant (the connection is for bundles to come).
            nodes = (item.get("variants") or {}).get("nodes") or []
            return [_remote_variant(node | {"inventoryItem": {"id": gid}}) for node in nodes[:1]]
        # Quotes and backslashes would end the search term early: the words alone are searched.
        words = " ".join(search.replace('"', " ").replace("\\", " ").split())
        variables = {"first": VARIANT_CHOICES, "query": words or None}
        connection = self.graphql(VARIANT_SEARCH_QUERY, variables, cost=2 + 3 * VARIANT_CHOICES)
        nodes = (connection.get("productVariants") or {}).get("nodes") or []
        return [_remote_variant(node) for node in nodes]


def _remote_variant(node: dict[str, Any]) -> RemoteVariant:
    product = node.get("product") or {}
    own = node.get("title") or ""
    title = product.get("title") or ""
    return RemoteVariant(
        variant_id=gid_id(node.get("id")),
        product_id=gid_id(product.get("id")),
        # "Default Title" is Shopify's name for the one variant of a product without options.
        title=f"{title} / {own}" if own and own != "Default Title" else title,
        sku=node.get("sku") or "",
        inventory_item_id=gid_id((node.get("inventoryItem") or {}).get("id")),
    )


def _group_by_product(nodes: list[dict[str, Any]]) -> list[ProductData]:
    titles: dict[str, str] = {}
    variants: dict[str, list[VariantData]] = defaultdict(list)
    for node in nodes:
        product = node.get("product") or {}
        product_id = gid_id(product.get("id"))
        titles[product_id] = product.get("title") or ""
        variants[product_id].append(
            VariantData(
                external_id=gid_id(node.get("id")),
                sku=node.get("sku") or "",
                title=node.get("title") or "",
                inventory_item_id=gid_id((node.get("inventoryItem") or {}).get("id")),
            )
        )
    return [
        ProductData(external_id=pid, title=titles[pid], variants=tuple(vs)) for pid, vs in variants.items()
    ]
