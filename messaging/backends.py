"""Where messages go: the local backend (development: recorded, nothing leaves the machine) or
Twilio's REST API, through the shared HTTP layer with a rate limit per organization.

`SMS_BACKEND` picks one (`local` by default, `twilio`); an organization's own Twilio account (in
its Messaging settings) wins over the environment's TWILIO_*.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings

from channels_app import http, ratelimit
from messaging.models import MessagingSettings, OutboxRecord

logger = logging.getLogger(__name__)

# Twilio's error for a recipient who replied STOP to this sender: the carrier blocks the send.
TWILIO_UNSUBSCRIBED = 21610


@dataclass(frozen=True)
class Outbound:
    message_id: int
    to: str
    body: str
    sent_after: datetime  # when this attempt started: a lost answer is looked for from here


@dataclass(frozen=True)
class Sent:
    provider_id: str
    status: str  # the provider's: queued, sent, ...


class Unsubscribed(Exception):
    """The provider refuses: the recipient opted out with it (a STOP the hub did not see)."""

    permanent = True


class Backend(Protocol):
    rolls_back: bool  # whether a send is undone with the transaction it is made in

    def send(self, message: Outbound) -> Sent: ...

    def find(self, message: Outbound) -> Sent | None:
        """What an earlier attempt whose answer was lost may have sent, if anything."""
        ...


class LocalBackend:
    """Sends nothing: each send is an OutboxRecord (the admin and the tests read them)."""

    rolls_back = True

    def __init__(self, rules: MessagingSettings) -> None:
        self.rules = rules

    def send(self, message: Outbound) -> Sent:
        record = OutboxRecord.objects.create(message_id=message.message_id, to=message.to, body=message.body)
        return Sent(provider_id=f"local-{record.pk}", status="sent")

    def find(self, message: Outbound) -> Sent | None:
        record = OutboxRecord.objects.filter(message_id=message.message_id).order_by("pk").first()
        return Sent(provider_id=f"local-{record.pk}", status="sent") if record else None


class TwilioBackend:
    """POST /2010-04-01/Accounts/{sid}/Messages.json."""

    rolls_back = False

    def __init__(self, rules: MessagingSettings) -> None:
        # The organization's own account only when whole: a sender number of its own on the
        # platform's account (and token) would let it send as anyone's number.
        own = rules.twilio_account_sid and rules.twilio_auth_token and rules.twilio_from_number
        self.sid = rules.twilio_account_sid if own else settings.TWILIO_ACCOUNT_SID
        self.token = rules.twilio_auth_token if own else settings.TWILIO_AUTH_TOKEN
        self.sender = rules.twilio_from_number if own else settings.TWILIO_FROM_NUMBER
        if not (self.sid and self.token and self.sender):
            raise http.PlatformError(
                "Twilio needs an account SID, auth token and from number (environment or Messaging settings)",
                permanent=True,
            )
        rate = max(0.01, rules.rate_limit)
        self.call = http.Call(
            platform="twilio",
            channel_id=None,
            # Per sending number, as Twilio counts (organizations on the platform's number share it).
            bucket=ratelimit.Bucket(f"sms:{self.sid}:{self.sender}", rate=rate, capacity=max(1.0, rate)),
            max_wait=10,  # longer, and the delivery job hands its batch over for later
        )
        self.url = f"{settings.TWILIO_API_BASE_URL}/2010-04-01/Accounts/{self.sid}/Messages.json"
        # Status callbacks only where the account is a channel of the organization (its token
        # verifies them); otherwise Twilio would be told a URL that refuses its posts.
        from channels_app.models import Channel, Platform

        account = Channel.objects.filter(
            organization_id=rules.organization_id,
            platform=Platform.TWILIO,
            shop_identifier=self.sid,
            is_active=True,
        ).first()
        self.callback = {"StatusCallback": f"{account.webhook_url}status/"} if account else {}

    def send(self, message: Outbound) -> Sent:
        response = http.send(
            self.call,
            "POST",
            self.url,
            data={"To": message.to, "From": self.sender, "Body": message.body, **self.callback},
            auth=(self.sid, self.token),
            attempts=1,  # never sent twice blindly: the job's retry looks for it first (find)
            client_errors=True,
        )
        body = http.json_body(response, self.call)
        if response.status_code >= 400:
            code = body.get("code") if isinstance(body, dict) else None
            text = http.plain_text(str(body.get("message") if isinstance(body, dict) else body))
            if code == TWILIO_UNSUBSCRIBED:
                raise Unsubscribed(f"Twilio {code}: {text}")
            raise http.PlatformError(f"Twilio refused the message ({code}): {text}", permanent=True)
        return Sent(provider_id=str(body.get("sid") or ""), status=str(body.get("status") or "queued"))

    def find(self, message: Outbound) -> Sent | None:
        """Twilio's newest messages to that number from this sender, created since the attempt
        began (a queued one has no date_sent yet), with the same body and a SID no other message
        of the hub holds."""
        from messaging.models import Message

        response = http.send(
            self.call,
            "GET",
            self.url,
            params={"To": message.to, "From": self.sender, "PageSize": 50},
            auth=(self.sid, self.token),
        )
        body = http.json_body(response, self.call)
        since = message.sent_after - timedelta(minutes=5)  # clock skew between Twilio and us
        for item in (body.get("messages") or []) if isinstance(body, dict) else []:
            created = _twilio_date(item.get("date_created"))
            if (
                item.get("body") == message.body
                and str(item.get("direction", "outbound-api")).startswith("outbound")
                and created is not None
                and created >= since
                and not Message.objects.filter(provider_id=str(item.get("sid"))).exists()
            ):
                return Sent(provider_id=str(item.get("sid")), status=str(item.get("status") or "sent"))
        return None


def _twilio_date(value: object) -> datetime | None:
    """Twilio's RFC 2822 dates ("Thu, 26 Nov 2026 12:00:00 +0000")."""
    import email.utils

    try:
        return email.utils.parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None


def backend_for(rules: MessagingSettings) -> Backend:
    if settings.SMS_BACKEND == "twilio":
        return TwilioBackend(rules)
    if settings.SMS_BACKEND != "local":
        raise http.PlatformError(f"SMS_BACKEND={settings.SMS_BACKEND!r}: use local or twilio", permanent=True)
    return LocalBackend(rules)
