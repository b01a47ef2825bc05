"""Twilio's Messaging REST API (2010-04-01): the SMS backend that sends through it.

Through the shared HTTP layer, with a rate limit per sending number; `SMS_BACKEND=twilio` picks it
(messaging.backends). An organization's own Twilio account (in its Messaging settings) wins over
the environment's TWILIO_*.
"""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta

from django.conf import settings

from channels_app import http, ratelimit
from channels_app.models import Channel, Platform
from messaging.backends import Outbound, Sent, Unsubscribed
from messaging.models import Message, MessagingSettings

# Twilio's error for a recipient who replied STOP to this sender: the carrier blocks the send.
UNSUBSCRIBED = 21610


class TwilioBackend:
    """Sends through Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json)."""

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
            # Past this wait the delivery job hands its batch over for later rather than sleep.
            max_wait=10,
        )
        self.url = f"{settings.TWILIO_API_BASE_URL}/2010-04-01/Accounts/{self.sid}/Messages.json"
        # Status callbacks only where the account is a channel of the organization (its token
        # verifies them); otherwise Twilio would be told a URL that refuses its posts.
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
            attempts=1,  # Never sent twice blindly: the job's retry looks for it first (`find`).
            client_errors=True,
        )
        body = http.json_body(response, self.call)
        if response.status_code >= 400:
            code = body.get("code") if isinstance(body, dict) else None
            text = http.plain_text(str(body.get("message") if isinstance(body, dict) else body))
            if code == UNSUBSCRIBED:
                raise Unsubscribed(f"Twilio {code}: {text}")
            raise http.PlatformError(f"Twilio refused the message ({code}): {text}", permanent=True)
        return Sent(provider_id=str(body.get("sid") or ""), status=str(body.get("status") or "queued"))

    def find(self, message: Outbound) -> Sent | None:
        """Twilio's newest messages to that number from this sender, created since the attempt
        began (a queued one has no date_sent yet), with the same body and a SID no other message
        of the hub holds."""
        response = http.send(
            self.call,
            "GET",
            self.url,
            params={"To": message.to, "From": self.sender, "PageSize": 50},
            auth=(self.sid, self.token),
        )
        body = http.json_body(response, self.call)
        since = message.sent_after - timedelta(minutes=5)  # Allows for clock skew between Twilio and us.
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
    """A date as Twilio writes it, in RFC 2822 ("Thu, 26 Nov 2026 12:00:00 +0000"); None if it is not one."""
    try:
        return email.utils.parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None
