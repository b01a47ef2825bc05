"""Shopify's API versions: the one the hub speaks (SHOPIFY_API_VERSION), the ones a channel's
deliveries arrive in (X-Shopify-API-Version, kept on each event), and when a version leaves
Shopify's support.

Shopify releases a version on the first day of each quarter and supports it for at least 12 months
(shopify.dev, "About Shopify API versioning"): 2026-04 until 2027-04-01. Webhook payloads are in the
webhook API version configured in the app (Shopify's schema, webhookSubscriptionCreate: "You can't
specify it per subscription"), which the hub cannot set; when that version leaves support, Shopify
sends the next supported one instead ("falls forward"), shapes and all, without being asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms.shopify.webhooks import HANDLERS

SUPPORTED_FOR_MONTHS = 12
WARN_BEFORE = timedelta(days=90)
SEEN_WITHIN = timedelta(days=7)
WHERE_TO_SET = (
    "the webhooks API version in the app's configuration (Shopify's Dev Dashboard, or "
    "`[webhooks] api_version` in shopify.app.toml)"
)
_STABLE = re.compile(r"(\d{4})-(01|04|07|10)")


def support_ends(version: str) -> date | None:
    """The day Shopify stops supporting a stable version (None: not a stable version's name)."""
    match = _STABLE.fullmatch(version)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return date(year + SUPPORTED_FOR_MONTHS // 12, month, 1)


@dataclass(frozen=True)
class Seen:
    """A channel's versions: of its deliveries of the last SEEN_WITHIN (with their number), and of
    its subscriptions as Shopify last listed them."""

    arriving: dict[str, int]
    subscribed: frozenset[str]


def versions_seen(channel: Channel) -> Seen:
    recent = (
        # By topic too: the (channel, topic, received_at) index reads only the week's events.
        channel.webhook_events.filter(topic__in=list(HANDLERS), received_at__gte=timezone.now() - SEEN_WITHIN)
        .exclude(api_version="")
        .values_list("api_version")
        .annotate(deliveries=Count("id"))
        .order_by("api_version")
    )
    subscribed = channel.subscriptions.exclude(api_version="").values_list("api_version", flat=True)
    return Seen(arriving=dict(recent), subscribed=frozenset(subscribed))


def version_warnings(channel: Channel, today: date | None = None) -> list[str]:
    """What ops should know about a Shopify channel's API versions; nothing when all is well."""
    hub = settings.SHOPIFY_API_VERSION
    today = today or timezone.localdate()
    seen = versions_seen(channel)
    arriving, subscribed = seen.arriving, seen.subscribed
    warnings = []
    for version, deliveries in arriving.items():
        if version != hub:
            warnings.append(
                f"{deliveries} webhook deliveries in the last {SEEN_WITHIN.days} days arrived in API "
                f"version {version}, not the hub's {hub}: their payloads may be shaped differently. "
                f"Set {WHERE_TO_SET} to {hub}."
            )
    for version in sorted(subscribed - {hub} - set(arriving)):
        warnings.append(
            f"Shopify lists the webhook subscriptions at API version {version}, not the hub's {hub}: "
            f"set {WHERE_TO_SET} to {hub}."
        )
    for version in sorted({hub} | set(arriving) | subscribed):
        ends = support_ends(version)
        if ends is None or today < ends - WARN_BEFORE:
            continue
        if today >= ends:
            warnings.append(
                f"API version {version} left Shopify's support on {ends:%Y-%m-%d}: Shopify now "
                "answers and sends webhooks in the oldest version it still supports."
            )
        else:
            advice = "update SHOPIFY_API_VERSION" if version == hub else f"set {WHERE_TO_SET} to {hub}"
            warnings.append(
                f"API version {version} leaves Shopify's support on {ends:%Y-%m-%d}, in "
                f"{(ends - today).days} days: {advice} before Shopify moves to a newer one by itself."
            )
    return warnings
