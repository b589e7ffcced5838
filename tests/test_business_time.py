"""Deadlines count business time: P2D is two working days, hours count only open hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cases.business_time import BusinessHours, HolidayCalendar
from bot.runtime.durations import parse_duration

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


# --- holidays, daylight saving, time counted backwards ---------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
FR_HOLIDAYS = HolidayCalendar("FR")
HOURS_FR = BusinessHours.parse("Mon-Fri 09:00-18:00", PARIS, FR_HOLIDAYS)
HOURS_NY = BusinessHours.parse("Mon-Fri 09:00-18:00", NEW_YORK, HolidayCalendar("US", "NY"))


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("hours", "start", "duration", "expected"),
    [
        # Christmas (Friday 25 December 2026) and the weekend are skipped.
        (HOURS_FR, paris(2026, 12, 24, 16, 0), "PT4H", paris(2026, 12, 28, 11, 0)),
        # Armistice Day (Wednesday 11 November): P2D from Tuesday lands on Friday.
        (HOURS_FR, paris(2026, 11, 10, 10, 0), "P2D", paris(2026, 11, 13, 10, 0)),
        # Opened on a holiday: the clock starts at the next opening.
        (HOURS_FR, paris(2026, 11, 11, 10, 0), "PT1H", paris(2026, 11, 12, 10, 0)),
        # Thanksgiving (Thursday 26 November) in New York.
        (HOURS_NY, new_york(2026, 11, 25, 17, 0), "PT2H", new_york(2026, 11, 27, 10, 0)),
    ],
)
def test_holidays_are_closed_days(
    hours: BusinessHours, start: datetime, duration: str, expected: datetime
) -> None:
    assert hours.add(start, parse_duration(duration)) == expected.astimezone(UTC)


def test_extra_dates_close_too() -> None:
    calendar = HolidayCalendar("FR", extra=[date(2026, 12, 24)])
    hours = BusinessHours.parse("Mon-Fri 09:00-18:00", PARIS, calendar)
    assert not hours.is_open(paris(2026, 12, 24, 10, 0))
    assert calendar.name(date(2026, 12, 25)) == "Christmas Day"
    start = paris(2026, 12, 23, 16, 0)
    assert hours.add(start, parse_duration("PT4H")) == paris(2026, 12, 28, 11, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (paris(2026, 11, 28, 12, 0), "PT30M", paris(2026, 11, 30, 9, 30)),  # Saturday
        (paris(2026, 11, 27, 20, 0), "PT30M", paris(2026, 11, 30, 9, 30)),  # Friday evening
        (paris(2026, 11, 30, 7, 0), "PT1H", paris(2026, 11, 30, 10, 0)),  # before opening
        (paris(2026, 11, 30, 7, 0), "P1D", paris(2026, 12, 1, 9, 0)),  # days count from 9:00
    ],
)
def test_a_deadline_starting_outside_hours_starts_at_the_opening(
    start: datetime, duration: str, expected: datetime
) -> None:
    assert HOURS.add(start, parse_duration(duration)) == expected.astimezone(UTC)


# A window that spans the 2 a.m. change shows whether hours are real hours or wall-clock ones.
MORNINGS_PARIS = BusinessHours.parse("Mon-Sun 00:00-12:00", PARIS)
MORNINGS_NY = BusinessHours.parse("Mon-Sun 00:00-12:00", NEW_YORK)


@pytest.mark.parametrize(
    ("hours", "day", "real_hours"),
    [
        (MORNINGS_PARIS, paris(2026, 3, 29, 0, 0), 11),  # spring forward: 02:00 -> 03:00
        (MORNINGS_PARIS, paris(2026, 10, 25, 0, 0), 13),  # fall back: 03:00 -> 02:00
        (MORNINGS_NY, new_york(2026, 3, 8, 0, 0), 11),
        (MORNINGS_NY, new_york(2026, 11, 1, 0, 0), 13),
    ],
)
def test_daylight_saving_days_have_their_real_length(
    hours: BusinessHours, day: datetime, real_hours: int
) -> None:
    noon = day.replace(hour=12)
    assert hours.elapsed(day, noon) == timedelta(hours=real_hours)
    # Exactly the day's real length fits in its window; one second more spills to the next day.
    assert hours.add(day, parse_duration(f"PT{real_hours}H")) == noon.astimezone(UTC)
    next_day = (day + timedelta(days=1)).replace(hour=0, second=1)
    assert hours.add(day, parse_duration(real_hours * 3600 + 1)) == next_day.astimezone(UTC)
    assert hours.subtract(noon, parse_duration(f"PT{real_hours}H")) == day.astimezone(UTC)


def test_business_days_keep_the_local_time_across_a_dst_change() -> None:
    # New York leaves daylight time on Sunday 1 November 2026: Friday 10:00 EDT + P1D is
    # Monday 10:00 EST, an hour more of real time than three days.
    start = new_york(2026, 10, 30, 10, 0)
    end = HOURS_NY.add(start, parse_duration("P1D"))
    assert end == new_york(2026, 11, 2, 10, 0).astimezone(UTC)
    assert end - start.astimezone(UTC) == timedelta(days=3, hours=1)
    # Paris enters summer time on Sunday 29 March 2026.
    start = paris(2026, 3, 27, 17, 0)
    assert HOURS_FR.add(start, parse_duration("PT2H")) == paris(2026, 3, 30, 10, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("end", "duration", "expected"),
    [
        (paris(2026, 11, 30, 9, 30), "PT1H", paris(2026, 11, 27, 17, 30)),  # back over a weekend
        (paris(2026, 11, 12, 9, 30), "PT1H", paris(2026, 11, 10, 17, 30)),  # and a holiday
        (paris(2026, 11, 13, 10, 0), "P2D", paris(2026, 11, 10, 10, 0)),
        (paris(2026, 11, 28, 12, 0), "PT1H", paris(2026, 11, 27, 17, 0)),  # from a Saturday
    ],
)
def test_subtract_counts_business_time_backwards(
    end: datetime, duration: str, expected: datetime
) -> None:
    assert HOURS_FR.subtract(end, parse_duration(duration)) == expected.astimezone(UTC)


def test_add_then_subtract_comes_back_to_the_opening() -> None:
    start = paris(2026, 12, 23, 7, 15)  # before opening, two days before Christmas
    for seconds in (60, 3600, 5 * 3600, 9 * 3600, 30 * 3600):
        end = HOURS_FR.add_seconds(start, seconds)
        assert HOURS_FR.subtract(end, parse_duration(seconds)) == HOURS_FR.next_open(start)
        assert HOURS_FR.elapsed(start, end) == timedelta(seconds=seconds)


def test_open_and_next_open() -> None:
    assert HOURS_FR.is_open(paris(2026, 11, 30, 9, 0))
    assert not HOURS_FR.is_open(paris(2026, 11, 30, 18, 0))
    assert not HOURS_FR.is_open(paris(2026, 11, 11, 10, 0))  # Armistice Day
    assert HOURS_FR.next_open(paris(2026, 11, 10, 18, 0)) == paris(2026, 11, 12, 9, 0).astimezone(
        UTC
    )
    always = BusinessHours.parse("always", PARIS, FR_HOLIDAYS)
    assert always.is_open(paris(2026, 12, 25, 3, 0))  # `always` never closes, holidays or not


def test_the_team_config_counts_its_holidays(tmp_path: Path) -> None:
    import yaml

    from bot.runtime.settings import load_team_config
    from tests.conftest import team_config

    path = tmp_path / "triage.yaml"
    config = team_config(holidays={"country": "FR", "extra": ["2026-12-24"]})
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    team = load_team_config(path)
    start = paris(2026, 12, 23, 16, 0)
    assert team.hours.add(start, team.policy.deadline) == paris(2026, 12, 29, 16, 0).astimezone(UTC)
