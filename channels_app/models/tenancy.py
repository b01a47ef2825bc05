"""Who the hub works for and what they connect: organizations, their channels, and locations."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from channels_app import channel_cache, egress
from channels_app.secrets import EncryptedJSONField, EncryptedTextField
from config.statements import select
from inventory.models import Warehouse


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="organizations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    SHOPEE = "shopee", "Shopee"
    # Shipping carriers' tracking services: a channel whose webhooks update shipments.
    EASYPOST = "easypost", "EasyPost (carrier tracking)"
    AFTERSHIP = "aftership", "AfterShip (carrier tracking)"
    # An SMS provider's account: its status callbacks and inbound messages are webhooks too. The
    # shop is the account SID, the webhook secret its auth token.
    TWILIO = "twilio", "Twilio (SMS)"


CARRIERS = (Platform.EASYPOST, Platform.AFTERSHIP)
# A shop's permanent domain; the API is called there, so nothing else is accepted.
SHOPIFY_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com")
SMS_PROVIDERS = (Platform.TWILIO,)


class Channel(models.Model):
    """One connected store. `shop_identifier` is how its webhooks name it: the myshopify.com domain,
    the WooCommerce site URL, or the Shopee shop id."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    shop_identifier = models.CharField(max_length=255)
    partner_id = models.CharField(max_length=50, blank=True, help_text="Shopee partner (app) id.")
    api_base_url = models.URLField(blank=True, help_text="Platform API base URL; blank for the default.")
    webhook_secret = EncryptedTextField(
        blank=True, help_text="Shopify app secret, WooCommerce webhook secret or Shopee partner key."
    )
    previous_webhook_secret = EncryptedTextField(
        blank=True, help_text="Still accepted while the platform rotates to the new secret."
    )
    credentials = EncryptedJSONField(blank=True, default=dict)
    allow_backorders = models.BooleanField(
        default=False, help_text="Paid orders may reserve more than is available (available goes negative)."
    )
    api_rate_limit = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
        help_text="API calls per second, shared by every worker; blank for the platform's default "
        "(Shopify's cost bucket is read from Shopify's own answers).",
    )
    push_catalog = models.BooleanField(
        default=False,
        help_text="Create and update in this store the products that supplier catalog syncs change "
        "(otherwise the catalog stays in the hub).",
    )
    secrets_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    connection_checked_at = models.DateTimeField(null=True, blank=True)
    connection_ok = models.BooleanField(null=True, blank=True)
    connection_message = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "shop_identifier"], name="channel_unique_shop"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        channel_cache.forget_all()  # Its secrets may have changed: this process's webhooks see it at once.

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        channel_cache.forget_all()
        return deleted

    def clean(self) -> None:
        """Where the hub will connect for this channel, checked when a merchant saves it: a Shopify
        shop is its myshopify.com domain, and a WooCommerce site (or any API base URL) an http(s)
        URL on a public address (channels_app.egress; every connection is checked again)."""
        errors: dict[str, str] = {}
        if self.platform == Platform.SHOPIFY:
            self.shop_identifier = self.shop_identifier.strip().lower()
        if self.platform == Platform.SHOPIFY and not SHOPIFY_SHOP.fullmatch(self.shop_identifier):
            errors["shop_identifier"] = (
                "A Shopify shop is its myshopify.com domain, e.g. acme.myshopify.com (no scheme, no path)."
            )
        urls = {"api_base_url": self.api_base_url}
        if self.platform == Platform.WOOCOMMERCE:
            urls["shop_identifier"] = self.shop_identifier
        for field, url in urls.items():
            refusal = url and egress.url_refusal(url, resolve=True)
            if refusal:
                errors[field] = f"{url[:100]}: {refusal}"
        if errors:
            raise ValidationError(errors)

    def secrets_set(self) -> list[tuple[str, bool]]:
        """Which secrets are stored (never what they are), for the admin."""
        return [
            ("Webhook secret", bool(self.webhook_secret)),
            ("Previous webhook secret", bool(self.previous_webhook_secret)),
            *((name.replace("_", " ").capitalize(), True) for name in sorted(self.credentials or {})),
        ]

    def webhook_secrets(self) -> list[str]:
        return [s for s in (self.webhook_secret, self.previous_webhook_secret) if s]

    @property
    def webhook_url(self) -> str:
        if not self.platform or (self.platform == Platform.WOOCOMMERCE and self.pk is None):
            return ""  # The URL names the channel's id, known once the channel is saved.
        if self.platform == Platform.WOOCOMMERCE:
            path = reverse("webhooks:woocommerce", args=[self.pk])
        elif self.platform in CARRIERS:
            if self.pk is None:
                return ""  # The URL names the channel's id, known once the channel is saved.
            path = reverse("webhooks:carrier-channel", args=[self.platform, self.pk])
        elif self.platform in SMS_PROVIDERS:
            # Twilio's two URLs (the number's "A message comes in", and each message's status
            # callback) share this prefix: .../inbound/ and .../status/.
            path = reverse("webhooks:sms-inbound", args=[self.platform]).removesuffix("inbound/")
        else:
            path = reverse(f"webhooks:{self.platform}")
        return settings.WEBHOOK_BASE_URL + path

    def warehouse_for(self, location_id: str = "") -> Warehouse | None:
        """Where this channel's stock is, for orders and stock reports alike: the warehouse of the
        location named (when it is mapped), else of the channel's first mapped location (a
        WooCommerce store has one stock), else the organization's default warehouse.

        One statement, by hand (config.statements): every new order asks, where the ORM took two."""
        location = "AND external_id = %s" if location_id else ""
        where = f"""
            WHERE id = COALESCE(
                (SELECT warehouse_id FROM {ChannelLocation._meta.db_table}
                 WHERE channel_id = %s AND warehouse_id IS NOT NULL {location} ORDER BY id LIMIT 1),
                (SELECT id FROM {Warehouse._meta.db_table} WHERE organization_id = %s AND is_default))
        """
        params = [self.pk, *([location_id] if location_id else []), self.organization_id]
        found = select(Warehouse, where, params)
        return found[0] if found else None

    def deactivate(self) -> None:
        Channel.objects.filter(pk=self.pk).update(is_active=False, updated_at=timezone.now())
        self.is_active = False
        channel_cache.forget_all()


class ChannelLocation(models.Model):
    """A platform location (Shopify location, Shopee warehouse) of a channel."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="locations")
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="channel_locations",
        help_text="Stock reported for this location is this warehouse's; orders from it reserve here.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="location_unique_per_channel"),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id
