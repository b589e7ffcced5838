"""Deadlines count business time: P2D is two working days, hours count only open hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.business_time import BusinessHours
from bot.durations import parse_duration

PARIS = ZoneInfo("Europe/Paris")
HOURS = BusinessHours.parse("Mon-Fri 09:00-18:00", PARIS)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (paris(2026, 11, 26, 10, 0), "PT4H", paris(2026, 11, 26, 14, 0)),  # Thursday, same day
        (paris(2026, 11, 26, 16, 0), "PT4H", paris(2026, 11, 27, 11, 0)),  # spills to Friday
        (paris(2026, 11, 27, 16, 0), "PT4H", paris(2026, 11, 30, 11, 0)),  # over the weekend
        (paris(2026, 11, 26, 10, 0), "P2D", paris(2026, 11, 30, 10, 0)),  # Thu + 2 working days
        (
            paris(2026, 11, 28, 12, 0),
            "PT1H",
            paris(2026, 11, 30, 10, 0),
        ),  # Saturday: waits for Monday
        (
            paris(2026, 11, 26, 20, 0),
            "P1D",
            paris(2026, 11, 30, 9, 0),
        ),  # after hours: from Friday 9:00
    ],
)
def test_add_business_time(start: datetime, duration: str, expected: datetime) -> None:
    assert HOURS.add(start, parse_duration(duration)) == expected.astimezone(UTC)


def test_always_is_plain_addition() -> None:
    always = BusinessHours.parse("always", PARIS)
    start = paris(2026, 11, 28, 23, 0)
    assert always.add(start, parse_duration("PT2H")) == paris(2026, 11, 29, 1, 0).astimezone(UTC)


def test_daylight_saving_change_keeps_local_hours() -> None:
    # Paris leaves summer time on Sunday 2026-10-25.
    start = paris(2026, 10, 23, 17, 0)
    assert HOURS.add(start, parse_duration("PT2H")) == paris(2026, 10, 26, 10, 0).astimezone(UTC)


@pytest.mark.parametrize("text", ["P", "PT", "2 days", "P-1D", "-5", "0", "PT0S"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_forms() -> None:
    assert parse_duration("P1W").days == 7
    assert parse_duration("P1DT2H30M").total.total_seconds() == 86400 + 9000
    assert parse_duration("45").total.total_seconds() == 45
    assert parse_duration(2.5).total.total_seconds() == 2.5
