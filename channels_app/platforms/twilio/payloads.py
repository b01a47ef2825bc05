"""What Twilio posts (form fields, so every value is text), as its webhook reference lists them."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from channels_app.platforms.shapes import Shape, Text50, Text100

TwilioCode = Annotated[str, StringConstraints(pattern=r"^\d{1,10}$")]


class StatusCallback(Shape):
    MessageSid: Text100 | None = None
    SmsSid: Text100 | None = None
    MessageStatus: Text50 | None = None
    SmsStatus: Text50 | None = None
    ErrorCode: TwilioCode | None = None


class InboundMessage(Shape):
    From: Text50
    Body: Annotated[str, StringConstraints(max_length=1600)] | None = None
