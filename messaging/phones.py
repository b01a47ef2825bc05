"""Phone numbers in E.164, checked with libphonenumber (the `phonenumbers` package)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone


class PhoneError(ValueError):
    pass


def e164(raw: str, region: str | None = None) -> str:
    """The number in E.164 (+14155550123). A number without its + and country code is read in
    `region` (ISO 3166 alpha-2), if given. Raises PhoneError saying what is wrong."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError("no phone number")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"{text!r} is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        local = region and not text.startswith("+")
        read_as = f" (read as a number of {region}: write it with its +country code)" if local else ""
        raise PhoneError(f"{text!r} is not a valid phone number{read_as}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def digits(text: str) -> str:
    """The digits of `text`: what every writing of one number shares (a search's fallback)."""
    return "".join(char for char in text if char.isdigit())


def zone_of(phone: str) -> str:
    """The number's time zone when its prefix has exactly one (a UK or French mobile), else ""."""
    try:
        zones = timezone.time_zones_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return ""
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else ""
