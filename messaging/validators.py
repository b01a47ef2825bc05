"""Checks of what merchants type into messaging's fields: time zones, countries, audiences.

Each check names the value at fault and what would be accepted, since a merchant reads it in a
form or an import's report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from messaging.phones import PhoneError, e164

_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def time_zone_valid(name: str) -> None:
    if name and name not in _zones():
        raise ValidationError(f"{name!r} is not an IANA time zone (such as America/New_York)")


def phone_valid(number: str) -> None:
    """A stored number is a valid one in E.164 (+14155550123): forms and imports write it so."""
    try:
        stored = e164(number)
    except PhoneError as exc:
        raise ValidationError(str(exc)) from None
    if stored != number:
        raise ValidationError(f"{number!r} is not written in E.164 ({stored})")


def region_valid(code: str) -> None:
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{code!r} is not a country code libphonenumber knows (such as US, GB, FR)")


def default_region() -> str:
    """Where numbers without their +country code are read for an organization that said nothing:
    PHONENUMBER_DEFAULT_REGION, django-phonenumber-field's own setting."""
    return str(settings.PHONENUMBER_DEFAULT_REGION)


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "is not a text"


def _zone(value: Any) -> str | None:
    if isinstance(value, str) and value in _zones():
        return None
    return "is not an IANA time zone (such as Europe/Paris)"


def _moment(value: Any) -> str | None:
    if isinstance(value, str) and (parse_datetime(value) or parse_date(value)):
        return None
    return "is not a date (2026-11-01) or a date and time (2026-11-01T09:00:00+01:00)"


# The filters a campaign's audience may use on contacts, with the check of each one's value;
# consent is checked against the model's choices, given by the caller (models imports this module).
_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "created_at__gte": _moment,
    "created_at__lt": _moment,
    "name__icontains": _text,
    "time_zone": _zone,
}
AUDIENCE_FILTERS = ("consent", *_CHECKS)


def audience_problems(audience: Any, *, consent_states: Iterable[str]) -> list[str]:
    """What is wrong with an audience, each naming its key or value and what is allowed: it is a
    JSON object of AUDIENCE_FILTERS ({} is every contact)."""
    allowed = f"the filters allowed are {', '.join(AUDIENCE_FILTERS)}"
    if not isinstance(audience, dict):
        kind = "list" if isinstance(audience, list) else "text" if isinstance(audience, str) else "value"
        every = "{} for every contact"
        return [f"The audience is a JSON object of filters ({every}), not a {kind}; {allowed}."]
    unknown = sorted(set(audience) - set(AUDIENCE_FILTERS))
    if unknown:
        filters = "filter" if len(unknown) == 1 else "filters"
        return [f"unknown audience {filters} {', '.join(unknown)}: {allowed}."]
    states = list(consent_states)
    problems = []
    for key, value in audience.items():
        if key == "consent":
            problem = None if value in states else f"is not one of {', '.join(states)}"
        else:
            problem = _CHECKS[key](value)
        if problem:
            problems.append(f"{key} {value!r} {problem}")
    return problems
