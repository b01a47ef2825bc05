"""Channels created, updated and deactivated, and what other apps are told of a channel's change."""

from __future__ import annotations

import logging
from enum import StrEnum

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from channels_app.models import Channel, Organization, Platform, ProcessedWebhookEvent
from channels_app.outcomes import Outcome, ignored

logger = logging.getLogger(__name__)

# Sent with `channel` inside the transaction that turned its `push_catalog` flag on. catalog_sync,
# which listens (CatalogSyncConfig.ready), pushes the catalog's products so far to the store once
# that commits; channels_app never imports catalog_sync, which builds on channels_app's clients.
catalog_push_turned_on = Signal()


class OrganizationChange(StrEnum):
    CREATED = "created"
    RENAMED = "renamed"
    UNCHANGED = "unchanged"


def organization_create(*, slug: str, name: str = "") -> tuple[Organization, OrganizationChange]:
    """Create the organization, or rename the one of that slug when a different name is given.

    Running it twice is safe: the slug's unique constraint decides, and a second run without a
    name changes nothing. Raises ValidationError for a slug that is not one.
    """
    Organization._meta.get_field("slug").clean(slug, None)  # a slug, at most its column's length
    default_name = slug.replace("-", " ").replace("_", " ").title()
    with transaction.atomic():
        organization, created = Organization.objects.get_or_create(
            slug=slug, defaults={"name": name or default_name}
        )
        if created:
            return organization, OrganizationChange.CREATED
        if not name or name == organization.name:
            return organization, OrganizationChange.UNCHANGED
        Organization.objects.filter(pk=organization.pk).update(name=name)
        organization.name = name
    return organization, OrganizationChange.RENAMED


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
    """Create a channel (and its organization if new), or update the channel of the same shop.
    Raises ValidationError for a shop or URL the hub would not connect to (Channel.clean).

    On update only what is given changes: credentials are merged, and a new webhook secret keeps
    the old one as the previous secret, which still verifies while the platform rotates.
    """
    if platform not in Platform.values:
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform.values)}")
    if platform == Platform.SHOPIFY:
        shop_identifier = shop_identifier.strip().lower()
    given_credentials = {k: v for k, v in (credentials or {}).items() if v}
    with transaction.atomic():
        organization, _ = Organization.objects.get_or_create(
            slug=organization_slug, defaults={"name": organization_slug.replace("-", " ").title()}
        )
        channel = (
            Channel.objects.select_for_update()
            .filter(platform=platform, shop_identifier=shop_identifier)
            .first()
        )
        if channel is None:
            channel = Channel(
                platform=platform, shop_identifier=shop_identifier, name=name or shop_identifier
            )
        channel.organization = organization
        channel.is_active = True
        if name:
            channel.name = name
        if partner_id:
            channel.partner_id = partner_id
        if api_base_url:
            channel.api_base_url = api_base_url
        if webhook_secret and webhook_secret != channel.webhook_secret:
            channel.previous_webhook_secret = channel.webhook_secret
            channel.webhook_secret = webhook_secret
            channel.secrets_changed_at = timezone.now()
        if any(channel.credentials.get(name) != value for name, value in given_credentials.items()):
            channel.secrets_changed_at = timezone.now()
        channel.credentials = {**channel.credentials, **given_credentials}
        channel.clean()  # Checks where the hub will connect; a ValidationError names the rule broken.
        channel.save()
    return channel


def channel_uninstalled(event: ProcessedWebhookEvent, fetched: None) -> Outcome | None:
    """Shopify app/uninstalled: stop acting for the shop."""
    channel = event.channel
    if not channel.is_active:
        return ignored("channel already inactive")
    channel.deactivate()
    logger.info("channel deactivated by the platform", extra={"channel_id": channel.pk, "topic": event.topic})
    return None
