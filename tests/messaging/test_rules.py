"""Quiet hours in the recipient's own time zone, across daylight saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from messaging.models import Contact, MessagingSettings
from messaging.rules import in_quiet_hours, next_allowed, recipient_zone

NEW_YORK = ZoneInfo("America/New_York")
QUIET = (time(21, 0), time(8, 0))


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def test_a_message_due_at_22_30_in_new_york_goes_at_08_00_new_york_time_the_next_day():
    due = local(NEW_YORK, 2026, 6, 10, 22, 30)
    assert next_allowed(due, NEW_YORK, *QUIET) == local(NEW_YORK, 2026, 6, 11, 8, 0)
    assert next_allowed(due, NEW_YORK, *QUIET).tzinfo == UTC


@pytest.mark.parametrize(
    ("due", "allowed_utc"),
    [
        # The night clocks spring forward (8 March 2026): 22:30 EST, then 08:00 EDT = 12:00 UTC.
        (datetime(2026, 3, 7, 22, 30), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        # The night they fall back (1 November 2026): 22:30 EDT, then 08:00 EST = 13:00 UTC.
        (datetime(2026, 10, 31, 22, 30), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
        # After midnight, still quiet: the same morning.
        (datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
    ],
)
def test_deferral_lands_on_08_00_local_whatever_daylight_saving_does(due, allowed_utc):
    assert next_allowed(due.replace(tzinfo=NEW_YORK), NEW_YORK, *QUIET) == allowed_utc


def test_outside_quiet_hours_a_message_goes_at_once_and_the_window_edges_are_exact():
    for hour, minute in ((8, 0), (12, 0), (20, 59)):
        due = local(NEW_YORK, 2026, 6, 10, hour, minute)
        assert next_allowed(due, NEW_YORK, *QUIET) == due
    assert in_quiet_hours(time(21, 0), *QUIET) and in_quiet_hours(time(7, 59), *QUIET)
    assert not in_quiet_hours(time(8, 0), *QUIET)
    assert in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))  # a window within one day
    assert not in_quiet_hours(time(3, 0), time(0, 0), time(0, 0))  # start == end: no quiet hours


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another():
    instant = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)  # 22:00 in New York, 04:00 in Paris
    paris = ZoneInfo("Europe/Paris")
    assert next_allowed(instant, NEW_YORK, *QUIET) == local(NEW_YORK, 2026, 6, 11, 8, 0)
    assert next_allowed(instant, paris, *QUIET) == local(paris, 2026, 6, 11, 8, 0)
    assert next_allowed(instant, ZoneInfo("Asia/Tokyo"), *QUIET) == instant  # 11:00 there


def test_the_recipients_zone_is_theirs_else_their_addresses_else_their_numbers_else_the_organizations():
    rules = MessagingSettings(time_zone="Europe/Berlin")
    assert (
        recipient_zone(Contact(phone="+14155550123", time_zone="America/Chicago"), rules).key
        == "America/Chicago"
    )
    assert recipient_zone(Contact(phone="+14155550123"), rules, "America/Denver").key == "America/Denver"
    assert recipient_zone(Contact(phone="+33612345678"), rules).key == "Europe/Paris"  # one zone
    assert recipient_zone(Contact(phone="+14155550123"), rules).key == "America/Los_Angeles"  # area 415
    # A UK mobile may be in London, Jersey, Guernsey or the Isle of Man: the organization's zone.
    assert recipient_zone(Contact(phone="+447911123456"), rules).key == "Europe/Berlin"
