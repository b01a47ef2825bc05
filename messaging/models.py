"""SMS messaging: contacts and their consent, automations, campaigns and every message.

Every decision not to send is a Message with a status and a reason, never a silence. Consent is a
ledger (`ConsentEvent`): each opt-in and opt-out with its source and the exact inbound text; the
contact's `consent` is the latest entry.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from channels_app.secrets import EncryptedTextField
from messaging.validators import (
    AUDIENCE_FILTERS,
    audience_problems,
    default_region,
    phone_valid,
    region_valid,
    time_zone_valid,
)


class MessagingSettings(models.Model):
    """An organization's rules for SMS: quiet hours, frequency cap, HELP text, its own sender."""

    organization = models.OneToOneField(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="messaging"
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[time_zone_valid],
        help_text="For contacts with no time zone.",
    )
    quiet_start = models.TimeField(default=time(21, 0), help_text="No marketing or automation from ...")
    quiet_end = models.TimeField(default=time(8, 0), help_text="... until, in the recipient's time zone.")
    cap_messages = models.PositiveSmallIntegerField(default=3, help_text="Marketing messages per contact ...")
    cap_hours = models.PositiveSmallIntegerField(default=24, help_text="... per this many hours.")
    help_text = models.CharField(
        max_length=320,
        default="Reply STOP to unsubscribe. Msg & data rates may apply.",
        help_text="The answer to an inbound HELP.",
    )
    # Twilio, overriding the environment's (TWILIO_*) for this organization.
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    twilio_auth_token = EncryptedTextField(blank=True)
    twilio_from_number = models.CharField(max_length=20, blank=True)
    rate_limit = models.FloatField(default=1.0, help_text="Messages per second sent for this organization.")
    phone_region = models.CharField(
        max_length=2,
        default=default_region,
        validators=[region_valid],
        help_text="Country (ISO 3166, e.g. US) of numbers written without their +country code: "
        "in the contact form, imports, searches and inbound messages.",
    )
    segment_price = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        help_text="What one SMS segment costs, for the estimate before a campaign goes out; "
        "blank for the hub's default (MESSAGING_SEGMENT_PRICE).",
    )
    segment_currency = models.CharField(
        max_length=3, blank=True, help_text="ISO 4217, of that price; blank for the hub's default."
    )
    secrets_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return f"messaging of {self.organization_id}"

    def secrets_set(self) -> list[tuple[str, bool]]:
        """Which secrets are stored (never what they are), for the admin."""
        return [("Twilio auth token", bool(self.twilio_auth_token))]


class ConsentState(models.TextChoices):
    UNKNOWN = "unknown"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class Contact(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="contacts"
    )
    phone = models.CharField(
        max_length=20,
        validators=[phone_valid],
        help_text="Written any way (415 555 0199, +44 20 7946 0958), kept in E.164 (+14155550199); "
        "without its +country code it is read in the organization's phone region (Messaging settings).",
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[time_zone_valid])
    consent = models.CharField(max_length=10, choices=ConsentState.choices, default=ConsentState.UNKNOWN)
    consent_source = models.CharField(max_length=50, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone"], name="contact_unique_phone"),
        ]
        indexes = [models.Index(fields=["organization", "consent"], name="contact_consent_idx")]

    def __str__(self) -> str:
        return f"{self.name} {self.phone}".strip()


class ConsentEvent(models.Model):
    """One opt-in or opt-out, as it happened: append-only."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events")
    state = models.CharField(max_length=10, choices=ConsentState.choices)
    source = models.CharField(max_length=50, help_text="import, inbound SMS, checkout, admin, ...")
    text = models.TextField(blank=True, help_text="The exact inbound text, for an SMS keyword.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_state_display()} via {self.source}"


class Trigger(models.TextChoices):
    ORDER_PAID = "order_paid", "Order paid"
    FULFILLMENT_CREATED = "fulfillment_created", "Fulfillment created"
    FULFILLMENT_SHIPPED = "fulfillment_shipped", "Order shipped (tracking)"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"
    CHECKOUT_ABANDONED = "checkout_abandoned", "Checkout abandoned"


class Automation(models.Model):
    """A message sent when a commerce event happens, to the contact it is about."""

    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="automations"
    )
    name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    template = models.TextField(help_text="Django template syntax; the event's fields are the context.")
    conditions = models.JSONField(default=dict, blank=True, help_text='e.g. {"min_total": "50.00"}')
    delay_minutes = models.PositiveIntegerField(default=0)
    transactional = models.BooleanField(
        default=False,
        help_text="Service messages (order shipped): exempt from the frequency cap, not from opt-out.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


def audience_valid(audience: Any) -> None:
    problems = audience_problems(audience, consent_states=ConsentState.values)
    if problems:
        raise ValidationError(problems)


class Campaign(models.Model):
    """A marketing message to an audience of contacts, now or at a time."""

    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="campaigns"
    )
    name = models.CharField(max_length=200)
    audience = models.JSONField(
        default=dict,
        blank=True,
        validators=[audience_valid],
        help_text='Filter on contacts, e.g. {"time_zone": "America/New_York"}; {} for every contact. '
        f"Filters: {', '.join(AUDIENCE_FILTERS)}.",
    )
    template = models.TextField()
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    audience_total = models.PositiveIntegerField(default=0)
    materialized = models.PositiveIntegerField(default=0, help_text="Messages created so far.")
    resume_after = models.PositiveBigIntegerField(default=0, help_text="The last contact id handed out.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def job_id(self) -> str:
        return f"campaign-{self.pk}"


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SUPPRESSED = "suppressed"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


class Suppression(models.TextChoices):
    NO_CONSENT = "no_consent", "No consent"
    OPTED_OUT = "opted_out", "Opted out"
    FREQUENCY_CAP = "frequency_cap", "Frequency cap"
    CAMPAIGN_CANCELLED = "campaign_cancelled", "Campaign cancelled"
    CHECKOUT_COMPLETED = "checkout_completed", "Checkout completed (no longer abandoned)"


class Message(models.Model):
    """One message to one contact, and every decision about it."""

    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="messages"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    automation = models.ForeignKey(
        Automation, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    event_key = models.CharField(max_length=200, blank=True, help_text="The event an automation answered.")
    transactional = models.BooleanField(default=False)
    keyword_reply = models.BooleanField(
        default=False,
        help_text="The answer to an inbound STOP, START or HELP: sent whatever consent and hours.",
    )
    body = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="What its template is rendered with.")
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    suppression_reason = models.CharField(max_length=20, choices=Suppression.choices, blank=True)
    send_after = models.DateTimeField(null=True, blank=True, help_text="Deferred past quiet hours to this.")
    provider_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    job_id = models.CharField(
        max_length=100, blank=True, help_text="The delivery job that carries it (or is sending it)."
    )
    retryable = models.BooleanField(
        default=False, help_text="Failed for a reason that may pass (the provider down)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When it was claimed for sending.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A contact never gets the same automation message twice for one event ...
            models.UniqueConstraint(
                fields=["contact", "automation", "event_key"],
                condition=models.Q(automation__isnull=False),
                name="message_once_per_event",
            ),
            # ... nor a campaign twice.
            models.UniqueConstraint(
                fields=["contact", "campaign"],
                condition=models.Q(campaign__isnull=False),
                name="message_once_per_campaign",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "sent_at"], name="message_contact_sent_idx"),
            models.Index(fields=["organization", "status", "suppression_reason"], name="message_status_idx"),
            models.Index(fields=["provider_id"], name="message_provider_idx"),
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=["queued", "sending"]),
                name="message_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} to {self.contact_id}"


class Checkout(models.Model):
    """A checkout a platform told the hub about (Shopify's checkouts/create and checkouts/update).

    Nothing says a checkout was abandoned: one that neither completes nor changes for
    MESSAGING_CHECKOUT_ABANDONED_AFTER minutes is, once (`due_at`, then `abandoned_at`).
    """

    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="checkouts"
    )
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="checkouts")
    token = models.CharField(
        max_length=100, help_text="What names it in every API version; the order placed from it carries it."
    )
    external_id = models.CharField(
        max_length=100, blank=True, help_text="Its id, in payloads before Shopify's API 2026-04 (none after)."
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkouts"
    )
    customer_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="Of the shipping address.")
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    items = models.PositiveIntegerField(default=0, help_text="Units in the cart.")
    recovery_url = models.URLField(
        max_length=1000, blank=True, help_text="Where the customer takes it up again."
    )
    platform_updated_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="Abandoned then, if nothing happens before."
    )
    abandoned_at = models.DateTimeField(null=True, blank=True, help_text="Handed to the automations (once).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "token"], name="checkout_token_unique_per_channel")
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(due_at__isnull=False), name="checkout_due_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"checkout {self.token}"


class OutboxRecord(models.Model):
    """What the local backend "sent" (SMS_BACKEND=local): one row per send, for development and
    tests to read, and for a retry to find a send whose answer was lost."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="outbox")
    to = models.CharField(max_length=20)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"to {self.to}"


class DailyReport(models.Model):
    """An organization's messages of one day (UTC), rolled up by the housekeeping job."""

    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="messaging_reports"
    )
    day = models.DateField()
    sent = models.PositiveIntegerField(default=0, help_text="Went to the provider (delivered or not).")
    delivered = models.PositiveIntegerField(default=0)
    undelivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    suppressed = models.JSONField(default=dict, help_text="Suppressed, by reason.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="report_unique_day")]

    def __str__(self) -> str:
        return f"{self.day}"
