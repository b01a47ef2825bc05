"""Valid messaging rows: an organization's settings, contacts and campaigns."""

from __future__ import annotations

from datetime import time
from typing import Any

from channels_app.models import Organization
from messaging.models import Campaign, Contact, MessagingSettings


def settings_without_quiet_hours(organization: Organization, **fields: Any) -> MessagingSettings:
    """An organization's messaging settings with no quiet hours, since the suite runs at any hour."""
    return MessagingSettings.objects.create(
        organization=organization, quiet_start=time(0), quiet_end=time(0), **fields
    )


def contact(organization: Organization, phone: str = "+14155550123", **fields: Any) -> Contact:
    return Contact.objects.create(organization=organization, phone=phone, **fields)


def campaign(
    organization: Organization, name: str = "Sale", template: str = "Sale!", **fields: Any
) -> Campaign:
    """A draft campaign to everyone (the default audience) unless `fields` say otherwise."""
    return Campaign.objects.create(organization=organization, name=name, template=template, **fields)
