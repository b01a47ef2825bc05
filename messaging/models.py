"""SMS messaging: contacts and their consent, automations, campaigns and every message.

Every decision not to send is a Message with a status and a reason, never a silence. Consent is a
ledger (`ConsentEvent`): each opt-in and opt-out with its source and the exact inbound text; the
contact's `consent` is the latest entry.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import models

from channels_app.secrets import EncryptedTextField


def time_zone_valid(name: str) -> None:
    if name and name not in _zones():
        raise ValidationError(f"{name!r} is not an IANA time zone (such as America/New_York)")


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


_ZONES: set[str] | None = None


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

    class Meta:
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return f"messaging of {self.organization_id}"


class ConsentState(models.TextChoices):
    UNKNOWN = "unknown"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class Contact(models.Model):
    organization = models.ForeignKey(
        "channels_app.Organization", on_delete=models.CASCADE, related_name="contacts"
    )
    phone = models.CharField(max_length=20, help_text="E.164, e.g. +14155550123.")
    name = models.CharField(max_length=200, blank=True)
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
