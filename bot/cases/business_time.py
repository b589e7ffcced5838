"""Business hours: when the team works, and how deadlines count only that time.

Arithmetic runs on UTC instants and only the daily windows are built in local time, so a
daylight-saving change neither stretches nor shrinks an hour of work. Closed days are the days
outside the weekly pattern, a country's public holidays and the team's own extra dates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_package

from bot.runtime.durations import Duration

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})-(?P<h2>\d{1,2}):(?P<m2>\d{2})$"
)
# How far to look for an open day: a year covers any run of holidays a team could configure.
_SEARCH_DAYS = 400
_DAY = timedelta(days=1)


class HolidayCalendar:
    """Closed days: a country's public holidays (the `holidays` package) plus extra dates."""

    def __init__(
        self,
        country: str | None = None,
        subdivision: str | None = None,
        extra: Iterable[date] = (),
    ) -> None:
        self.country = country.upper() if country else None
        self.subdivision = subdivision
        self.extra = frozenset(extra)
        self._lock = threading.Lock()
        self._years: dict[int, dict[date, str]] = {}
        if self.country:
            # Fails here, at start, for an unknown country or subdivision (NotImplementedError).
            holidays_package.country_holidays(self.country, subdiv=subdivision, years=[])

    def _public(self, year: int) -> dict[date, str]:
        with self._lock:  # the package fills its dict lazily; one year at a time, once
            found = self._years.get(year)
            if found is None:
                if self.country:
                    table = holidays_package.country_holidays(
                        self.country, subdiv=self.subdivision, years=year
                    )
                    found = {day: str(name) for day, name in table.items()}
                else:
                    found = {}
                self._years[year] = found
            return found

    def name(self, day: date) -> str | None:
        """Why `day` is closed (the holiday's name, or "extra"), or None on a working day."""
        if day in self.extra:
            return "extra"
        return self._public(day.year).get(day)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.name(day) is not None

    def _key(self) -> tuple[str | None, str | None, frozenset[date]]:
        return (self.country, self.subdivision, self.extra)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HolidayCalendar) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"HolidayCalendar({self.country!r}, {self.subdivision!r}, {len(self.extra)} extra)"


@dataclass(frozen=True)
class BusinessHours:
    """Open days (0 = Monday) and one daily window, in a time zone; `always` means 24/7.

    `holidays`, when given, closes those days too (`always` ignores it: such a team never closes).
    """

    always: bool
    days: frozenset[int]
    opens: time
    closes: time
    tz: ZoneInfo
    text: str
    holidays: HolidayCalendar | None = None

    @classmethod
    def parse(
        cls, spec: str, tz: ZoneInfo, holidays: HolidayCalendar | None = None
    ) -> BusinessHours:
        """Parse `always` or `Mon-Fri 09:00-18:00` (a single day such as `Sat 10:00-12:00` works)."""
        text = " ".join(spec.strip().split())
        if text.lower() == "always":
            return cls(True, frozenset(range(7)), time(0), time(0), tz, "always", holidays)
        match = _SPEC.match(text.lower())
        if not match:
            raise ValueError(
                f"invalid business hours {spec!r}: use 'always' or 'Mon-Fri 09:00-18:00'"
            )
        d1, d2 = match["d1"], match["d2"] or match["d1"]
        if d1 not in _DAYS or d2 not in _DAYS:
            raise ValueError(f"invalid day in business hours {spec!r}: use Mon, Tue, ... Sun")
        i, j = _DAYS.index(d1), _DAYS.index(d2)
        days = frozenset(range(i, j + 1)) if i <= j else frozenset([*range(i, 7), *range(0, j + 1)])
        try:
            opens = time(int(match["h1"]), int(match["m1"]))
            closes = time(int(match["h2"]), int(match["m2"]))
        except ValueError as exc:
            raise ValueError(f"invalid time in business hours {spec!r}: {exc}") from None
        if closes <= opens:
            raise ValueError(f"business hours {spec!r} close before they open")
        return cls(False, days, opens, closes, tz, text, holidays)

    # --- days and windows ---------------------------------------------------------------------

    def is_open_day(self, day: date) -> bool:
        """Whether the team works on this local date (weekly pattern, holidays, extra dates)."""
        if self.always:
            return True
        if day.weekday() not in self.days:
            return False
        return self.holidays is None or day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's open window as UTC instants, or None on a closed day."""
        if not self.is_open_day(day):
            return None
        start = datetime.combine(day, self.opens, self.tz).astimezone(UTC)
        end = datetime.combine(day, self.closes, self.tz).astimezone(UTC)
        return start, end

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` falls inside business hours."""
        if self.always:
            return True
        window = self._window(self._local_date(moment))
        return window is not None and window[0] <= moment < window[1]

    def next_open(self, moment: datetime) -> datetime:
        """The first instant at or after `moment` inside business hours (UTC)."""
        moment = moment.astimezone(UTC)
        if self.always:
            return moment
        first = self._local_date(moment)
        for offset in range(_SEARCH_DAYS):
            window = self._window(first + offset * _DAY)
            if window is None or moment >= window[1]:
                continue
            return max(window[0], moment)
        raise ValueError("business hours have no open day within a year")

    def _last_open(self, moment: datetime) -> datetime:
        """The last instant at or before `moment` that is inside a window or at its closing."""
        moment = moment.astimezone(UTC)
        first = self._local_date(moment)
        for offset in range(_SEARCH_DAYS):
            window = self._window(first - offset * _DAY)
            if window is None or moment <= window[0]:
                continue
            return min(window[1], moment)
        raise ValueError("business hours have no open day within a year")

    # --- arithmetic ---------------------------------------------------------------------------

    def add(self, start: datetime, duration: Duration) -> datetime:
        """`start` plus `duration` counted in business time: days are business days, the rest hours."""
        if self.always:
            return (start + duration.total).astimezone(UTC)
        current = self.next_open(start)
        for _ in range(duration.days):
            # Same local time on the next open day, so P2D means two working days.
            local = current.astimezone(self.tz)
            day = local.date() + _DAY
            for _ in range(_SEARCH_DAYS):
                if self.is_open_day(day):
                    break
                day += _DAY
            current = datetime.combine(day, local.time(), self.tz).astimezone(UTC)
        return self.add_seconds(current, duration.seconds)

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """`start` plus this many seconds of business time (UTC)."""
        if self.always:
            return (start + timedelta(seconds=seconds)).astimezone(UTC)
        remaining = timedelta(seconds=seconds)
        current = self.next_open(start)
        while True:
            window = self._window(self._local_date(current))
            assert window is not None  # next_open always lands inside a window
            room = window[1] - current
            if remaining <= room:
                return current + remaining
            remaining -= room
            current = self.next_open(window[1])

    def subtract(self, end: datetime, duration: Duration) -> datetime:
        """`end` minus `duration` counted in business time (the mirror of `add`)."""
        if self.always:
            return (end - duration.total).astimezone(UTC)
        remaining = timedelta(seconds=duration.seconds)
        current = self._last_open(end)
        while remaining > timedelta(0):
            window = self._window(self._local_date(current))
            assert window is not None and window[0] < current <= window[1]
            room = current - window[0]
            if remaining <= room:
                current -= remaining
                break
            remaining -= room
            current = self._last_open(window[0])
        for _ in range(duration.days):
            local = current.astimezone(self.tz)
            day = local.date() - _DAY
            for _ in range(_SEARCH_DAYS):
                if self.is_open_day(day):
                    break
                day -= _DAY
            current = datetime.combine(day, local.time(), self.tz).astimezone(UTC)
        return current

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """How much business time lies between `start` and `end` (zero when end <= start)."""
        if end <= start:
            return timedelta(0)
        if self.always:
            return end - start
        total = timedelta(0)
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            window = self._window(day)
            if window is not None:
                opened, closed = max(window[0], start), min(window[1], end)
                if closed > opened:
                    total += closed - opened
            day += _DAY
        return total
