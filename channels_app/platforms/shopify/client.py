"""Shopify's GraphQL Admin API, at SHOPIFY_API_VERSION, throttled by query cost.

Shopify gives each (app, shop) a bucket of cost points that refills at the shop's plan's rate, and
says after every query what is left (`extensions.cost.throttleStatus`). The hub keeps that bucket
in Redis for every worker: a query first takes its estimated cost from it, then the bucket is set to
what Shopify reports. A THROTTLED answer (HTTP 200 with that error code) waits for the points it
lacks and asks again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from channels_app import http, ratelimit
from channels_app.models import Channel
from channels_app.platforms.clients import ProductPage, RemoteWebhook
from config.queues import get_queue
from inventory.catalog import ProductData, VariantData

logger = logging.getLogger(__name__)

# A standard plan's bucket until Shopify tells us the shop's own (then its figures are kept).
DEFAULT_CAPACITY, DEFAULT_RESTORE_RATE = 1000.0, 50.0
THROTTLED_ATTEMPTS = 5
PAGE_SIZE = 100

VARIANTS_QUERY = """
query Variants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      title
      inventoryItem { id }
      product { id title }
    }
  }
}
"""
SHOP_QUERY = "query { shop { name myshopifyDomain } }"
WEBHOOKS_QUERY = """
query Webhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      topic
      endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }
    }
  }
}
"""
WEBHOOK_CREATE = """
mutation webhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription {
      id
      topic
      endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }
    }
    userErrors { field message }
  }
}
"""


def topic_enum(topic: str) -> str:
    """orders/create -> ORDERS_CREATE (the GraphQL WebhookSubscriptionTopic)."""
    return topic.upper().replace("/", "_")


def gid_id(gid: str | None) -> str:
    """gid://shopify/ProductVariant/30322695 -> 30322695 (the id webhooks and REST use)."""
    return (gid or "").rsplit("/", 1)[-1].split("?", 1)[0]


class ShopifyClient:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        base = (
            channel.api_base_url.rstrip("/") if channel.api_base_url else f"https://{channel.shop_identifier}"
        )
        self.url = f"{base}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"
        self.bucket = ratelimit.Bucket(
            f"shopify:{channel.shop_identifier}", rate=DEFAULT_RESTORE_RATE, capacity=DEFAULT_CAPACITY
        )

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, cost: float = 10
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
            )
            body = http.json_body(response, call)
            body = body if isinstance(body, dict) else {}
            throttled = self._read_cost(body)
            errors = body.get("errors") or []
            if throttled:
                continue  # the bucket now says how long to wait; acquire() waits that long
            if errors:
                messages = "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
                )
                raise http.PlatformError(f"Shopify GraphQL: {messages}", permanent=True)
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
        from channels_app.handlers import topics_for

        ours = {topic_enum(topic): topic for topic in topics_for("shopify")}
        found, after = [], None
        while True:
            data = self.graphql(WEBHOOKS_QUERY, {"after": after}, cost=2 + 2 * 100)
            connection = data.get("webhookSubscriptions") or {}
            for node in connection.get("nodes") or []:
                topic = ours.get(node.get("topic", ""))
                if topic is not None:
                    url = (node.get("endpoint") or {}).get("callbackUrl", "")
                    found.append(RemoteWebhook(topic=topic, callback_url=url, external_id=node.get("id", "")))
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return found
            after = page_info.get("endCursor")

    def push_webhook(self, topic: str, callback_url: str, existing: RemoteWebhook | None) -> RemoteWebhook:
        variables = {
            "topic": topic_enum(topic),
            "webhookSubscription": {"callbackUrl": callback_url, "format": "JSON"},
        }
        result = self.graphql(WEBHOOK_CREATE, variables, cost=10).get("webhookSubscriptionCreate") or {}
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(f"{'.'.join(e.get('field') or [])}: {e.get('message')}" for e in errors)
            raise http.PlatformError(f"Shopify refused the {topic} webhook: {text}", permanent=True)
        created = result.get("webhookSubscription") or {}
        return RemoteWebhook(topic=topic, callback_url=callback_url, external_id=created.get("id", ""))

    def fetch_products(self) -> Iterator[ProductPage]:
        """Every variant, 100 a page (cursor pagination), grouped by product.

        Variants are paged rather than products with nested variants: a nested connection costs
        first x first points, past Shopify's 1000-point ceiling for one query.
        """
        after: str | None = None
        while True:
            data = self.graphql(VARIANTS_QUERY, {"first": PAGE_SIZE, "after": after}, cost=2 + 3 * PAGE_SIZE)
            connection = data.get("productVariants") or {}
            yield ProductPage(products=_group_by_product(connection.get("nodes") or []))
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return
            after = page_info.get("endCursor")


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
