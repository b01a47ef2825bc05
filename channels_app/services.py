from __future__ import annotations

import logging

from django.db import transaction

from channels_app.handlers import Outcome, ignored
from channels_app.models import Channel, Organization, Platform, ProcessedWebhookEvent

logger = logging.getLogger(__name__)


def channel_create(
    *,
    organization_slug: str,
    platform: str,
    shop_identifier: str,
    webhook_secret: str = "",
    name: str = "",
    partner_id: str = "",
    api_base_url: str = "",
    credentials: dict[str, str] | None = None,
) -> Channel:
    """Create a channel (and its organization if new), or update the channel for the same shop."""
    if platform not in Platform.values:
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform.values)}")
    if platform == Platform.SHOPIFY:
        shop_identifier = shop_identifier.strip().lower()
    with transaction.atomic():
        organization, _ = Organization.objects.get_or_create(
            slug=organization_slug, defaults={"name": organization_slug.replace("-", " ").title()}
        )
        channel, _ = Channel.objects.select_for_update().update_or_create(
            platform=platform,
            shop_identifier=shop_identifier,
            defaults={
                "organization": organization,
                "name": name or shop_identifier,
                "partner_id": partner_id,
                "api_base_url": api_base_url,
                "webhook_secret": webhook_secret,
                "credentials": {k: v for k, v in (credentials or {}).items() if v},
                "is_active": True,
            },
        )
    return channel


def channel_uninstalled(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """Shopify app/uninstalled: stop acting for the shop."""
    channel = event.channel
    if not channel.is_active:
        return ignored("channel already inactive")
    channel.deactivate()
    logger.info("channel deactivated by the platform", extra={"channel_id": channel.pk, "topic": event.topic})
    return None
