from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from inventory.models import Warehouse

from channels_app.secrets import EncryptedJSONField, EncryptedTextField


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
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "shop_identifier"], name="channel_unique_shop"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def webhook_secrets(self) -> list[str]:
        return [s for s in (self.webhook_secret, self.previous_webhook_secret) if s]

    @property
    def webhook_url(self) -> str:
        if not self.platform or (self.platform == Platform.WOOCOMMERCE and self.pk is None):
            return ""  # known once the channel is saved
        if self.platform == Platform.WOOCOMMERCE:
            path = reverse("webhooks:woocommerce", args=[self.pk])
        else:
            path = reverse(f"webhooks:{self.platform}")
        return settings.WEBHOOK_BASE_URL + path

    def warehouse_for(self, location_id: str = "") -> Warehouse | None:
        """Where this channel's stock is, for orders and stock reports alike: the warehouse of the
        location named (when it is mapped), else of the channel's first mapped location (a
        WooCommerce store has one stock), else the organization's default warehouse."""
        from inventory.models import Warehouse

        mapped = self.locations.filter(warehouse__isnull=False).select_related("warehouse").order_by("pk")
        location = (mapped.filter(external_id=location_id).first() if location_id else None) or (
            None if location_id else mapped.first()
        )
        if location is not None:
            return location.warehouse
        return Warehouse.objects.filter(organization_id=self.organization_id, is_default=True).first()

    def deactivate(self) -> None:
        Channel.objects.filter(pk=self.pk).update(is_active=False, updated_at=timezone.now())
        self.is_active = False


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


class ClaimLost(Exception):
    """The event was taken back from this attempt; whatever it did must not commit."""


class EventStatus(models.TextChoices):
    ENQUEUED = "ENQUEUED", "Enqueued"
    PROCESSING = "PROCESSING", "Processing"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    IGNORED = "IGNORED", "Ignored"


class ProcessedWebhookEvent(models.Model):
    """Every accepted webhook delivery, stored before it is acknowledged.

    `event_key` is the platform's event identity within the channel (see each platform's
    webhooks module); the unique constraint is what makes a re-delivery a duplicate.
    """

    source = models.CharField(max_length=20, choices=Platform.choices)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="webhook_events")
    topic = models.CharField(max_length=100)
    event_key = models.CharField(max_length=255)
    delivery_id = models.CharField(max_length=255, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=EventStatus.choices, default=EventStatus.ENQUEUED)
    payload = models.JSONField(null=True, blank=True)
    raw_body = models.TextField(blank=True, help_text="Kept when the body was not valid JSON.")
    headers = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    ignored_reason = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "source", "event_key"], name="webhook_event_identity"),
        ]
        indexes = [
            # The sweeper's and the retention cleanup's scans.
            models.Index(fields=["status", "updated_at"], name="webhook_event_status_idx"),
            models.Index(fields=["channel", "topic", "received_at"], name="webhook_event_topic_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.topic} #{self.pk}"

    @property
    def job_id(self) -> str:
        return f"webhook-{self.pk}"

    @classmethod
    def claim(cls, pk: int) -> bool:
        """ENQUEUED -> PROCESSING, for exactly one caller however many run at once.

        A FAILED event is claimed too: its job runs again only when ops retry it from the
        dead-letter queue (failed jobs are never retried otherwise).
        """
        claimable = [EventStatus.ENQUEUED, EventStatus.FAILED]
        claimed = cls.objects.filter(pk=pk, status__in=claimable).update(
            status=EventStatus.PROCESSING,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return claimed == 1

    def finish(self, status: str, *, error: str = "", ignored_reason: str = "") -> None:
        """Record the outcome of the attempt that claimed this event (`self.attempts`, as read
        right after the claim). Raises ClaimLost if the event is no longer that attempt's: the
        sweeper took it back from a worker it thought dead, and the effects must roll back."""
        now = timezone.now()
        updated = ProcessedWebhookEvent.objects.filter(
            pk=self.pk, status=EventStatus.PROCESSING, attempts=self.attempts
        ).update(
            status=status,
            error_message=error,
            ignored_reason=ignored_reason,
            processed_at=now if status != EventStatus.ENQUEUED else None,
            updated_at=now,
        )
        if updated != 1:
            raise ClaimLost(f"event {self.pk} is no longer held by attempt {self.attempts}")

    @classmethod
    def stuck(cls, *, enqueued_before: object, processing_before: object) -> models.QuerySet:
        return cls.objects.filter(
            Q(status=EventStatus.ENQUEUED, updated_at__lt=enqueued_before)
            | Q(status=EventStatus.PROCESSING, started_at__lt=processing_before)
        )
