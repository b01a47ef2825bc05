"""What platforms send the hub: every accepted webhook delivery, and the subscriptions that bring them."""

from __future__ import annotations

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

from channels_app.models.claims import claim_mates, claim_read
from channels_app.models.tenancy import Channel, Platform


class ClaimLost(Exception):
    """The event was taken back from this attempt; whatever it did must not commit."""


class EventStatus(models.TextChoices):
    ENQUEUED = "ENQUEUED", "Enqueued"
    PROCESSING = "PROCESSING", "Processing"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    IGNORED = "IGNORED", "Ignored"
    # Waiting for a merchant to map what it names (an inventory item, a location): the mapping
    # screen replays it once mapped. Not FAILED, since retrying before the mapping changes nothing.
    NEEDS_MAPPING = "NEEDS_MAPPING", "Needs mapping"


# A FAILED event is claimed too: its job runs again only when ops retry it from the dead-letter
# queue (failed jobs are never retried otherwise).
CLAIMABLE = (EventStatus.ENQUEUED, EventStatus.FAILED)


class MappingKind(models.TextChoices):
    """What a NEEDS_MAPPING event names that the hub cannot resolve yet."""

    INVENTORY_ITEM = "inventory_item", "Inventory item"
    LOCATION = "location", "Location"


def order_reference_path(source: str, topic: str) -> tuple[str, ...] | None:
    """Where an event's payload names the platform's order it is about; None for an event about
    no order (a product, a stock level, a checkout)."""
    if source == Platform.SHOPEE:
        return ("data", "ordersn")
    if topic.startswith(("orders/", "order.")):
        return ("id",)
    if topic.startswith("fulfillments/"):
        return ("order_id",)
    return None


class ProcessedWebhookEvent(models.Model):
    """Every accepted webhook delivery, stored before it is acknowledged.

    `event_key` is the platform's event identity within the channel (see each platform's
    webhooks module); the unique constraint is what makes a re-delivery a duplicate.
    """

    source = models.CharField(max_length=20, choices=Platform.choices)
    # No index of its own: the identity constraint's (channel, source, event_key) serves every
    # lookup by channel, and each webhook's INSERT would write one index more for nothing.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="webhook_events", db_index=False
    )
    topic = models.CharField(max_length=100)
    event_key = models.CharField(max_length=255)
    delivery_id = models.CharField(max_length=255, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    api_version = models.CharField(
        max_length=20, blank=True, help_text="The API version the payload is shaped in (Shopify's)."
    )
    status = models.CharField(max_length=20, choices=EventStatus.choices, default=EventStatus.ENQUEUED)
    payload = models.JSONField(null=True, blank=True)
    raw_body = models.TextField(blank=True, help_text="Kept when the body was not valid JSON.")
    headers = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    ignored_reason = models.CharField(max_length=255, blank=True)
    # db_default: rows inserted by code that predates these columns (a rolling deploy) still fit.
    mapping_kind = models.CharField(
        max_length=20, choices=MappingKind.choices, blank=True, default="", db_default=""
    )
    mapping_ref = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text="The platform's id of what needs mapping.",
    )
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
            # The mapping screen's replay: the waiting events of one channel and ref.
            models.Index(
                fields=["channel", "mapping_kind", "mapping_ref"],
                condition=Q(status="NEEDS_MAPPING"),
                name="webhook_event_mapping_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.topic} #{self.pk}"

    @property
    def job_id(self) -> str:
        return f"webhook-{self.pk}"

    def order_reference(self) -> str:
        """The platform's id of the order this event is about (as text), or ""."""
        path = order_reference_path(self.source, self.topic)
        value = self.payload
        for key in path or ():
            value = value.get(key) if isinstance(value, dict) else None
        return "" if path is None or value is None or isinstance(value, dict | list) else str(value)

    @classmethod
    def claim(cls, pk: int) -> bool:
        """ENQUEUED -> PROCESSING, for exactly one caller however many run at once.

        A FAILED event is claimed too: its job runs again only when ops retry it from the
        dead-letter queue (failed jobs are never retried otherwise).
        """
        claimed = cls.objects.filter(pk=pk, status__in=CLAIMABLE).update(
            status=EventStatus.PROCESSING,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return claimed == 1

    @classmethod
    def claim_read(cls, pk: int) -> ProcessedWebhookEvent | None:
        """`claim`, and the claimed event with its channel read by the same statement: a job's
        first round trip to the database is its only one before the handler runs."""
        return claim_read(cls, pk, timezone.now(), CLAIMABLE, EventStatus.PROCESSING)

    @classmethod
    def claim_mates(cls, *, exclude: int, sources: list[str], limit: int) -> list[ProcessedWebhookEvent]:
        """Fresh ENQUEUED events of `sources` for a job's batch, claimed (PROCESSING) at once;
        without their channels (the batch reads those once for all)."""
        return claim_mates(
            cls,
            timezone.now(),
            exclude=exclude,
            sources=sources,
            limit=limit,
            enqueued=EventStatus.ENQUEUED,
            processing=EventStatus.PROCESSING,
        )

    def finish(
        self,
        status: str,
        *,
        error: str = "",
        ignored_reason: str = "",
        mapping_kind: str = "",
        mapping_ref: str = "",
    ) -> None:
        """Record the outcome of the attempt that claimed this event (`self.attempts`, as read
        right after the claim). Raises ClaimLost if the event is no longer that attempt's: the
        sweeper took it back from a worker it thought dead, and the effects must roll back."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        values = {
            "status": status,
            "error_message": error,
            "ignored_reason": ignored_reason,
            "mapping_kind": mapping_kind,
            "mapping_ref": mapping_ref,
            "processed_at": now if status != EventStatus.ENQUEUED else None,
            "updated_at": now,
        }
        # Written by hand, as every event's last statement (config.statements says why).
        quote = connection.ops.quote_name
        statement = (
            f"UPDATE {quote(self._meta.db_table)} "
            f"SET {', '.join(f'{quote(name)} = %s' for name in values)} "
            f"WHERE {quote('id')} = %s AND {quote('status')} = %s AND {quote('attempts')} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                statement, [*values.values(), self.pk, EventStatus.PROCESSING.value, self.attempts]
            )
            updated = cursor.rowcount
        if updated != 1:
            raise ClaimLost(f"event {self.pk} is no longer held by attempt {self.attempts}")

    @classmethod
    def stuck(cls, *, enqueued_before: object, processing_before: object) -> models.QuerySet:
        return cls.objects.filter(
            Q(status=EventStatus.ENQUEUED, updated_at__lt=enqueued_before)
            | Q(status=EventStatus.PROCESSING, started_at__lt=processing_before)
        )


class SubscriptionState(models.TextChoices):
    ACTIVE = "active"
    MISSING = "missing", "Missing (deleted on the platform)"
    DISABLED = "disabled", "Disabled by the platform"
    CONSOLE = "console", "Configured in the platform's console"
    ERROR = "error"


class WebhookSubscription(models.Model):
    """A webhook the hub asked a platform to send, as last seen on the platform."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="subscriptions")
    topic = models.CharField(max_length=100)
    external_id = models.CharField(max_length=100, blank=True)
    callback_url = models.URLField(max_length=500)
    state = models.CharField(
        max_length=20, choices=SubscriptionState.choices, default=SubscriptionState.ACTIVE
    )
    error = models.CharField(max_length=500, blank=True)
    api_version = models.CharField(
        max_length=20, blank=True, help_text="The API version the platform shapes its payloads in (Shopify)."
    )
    registered_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Since when the platform may not have been sending: the reconciliation backfills from here.
    gap_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "topic"], name="subscription_unique_topic"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.topic}: {self.state}"
