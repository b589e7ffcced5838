"""Business hours: when the team works, and how deadlines count only that time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.durations import Duration

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})-(?P<h2>\d{1,2}):(?P<m2>\d{2})$"
)


@dataclass(frozen=True)
class BusinessHours:
    """Open days (0 = Monday) and one daily window, in a time zone; `always` means 24/7."""

    always: bool
    days: frozenset[int]
    opens: time
    closes: time
    tz: ZoneInfo
    text: str

    @classmethod
    def parse(cls, spec: str, tz: ZoneInfo) -> BusinessHours:
        """Parse `always` or `Mon-Fri 09:00-18:00` (a single day such as `Sat 10:00-12:00` works)."""
        text = " ".join(spec.strip().split())
        if text.lower() == "always":
            return cls(True, frozenset(range(7)), time(0), time(0), tz, "always")
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
        return cls(False, days, opens, closes, tz, text)

    def _window(self, day: datetime) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days:
            return None
        start = datetime.combine(day.date(), self.opens, self.tz)
        end = datetime.combine(day.date(), self.closes, self.tz)
        return start, end

    def next_open(self, moment: datetime) -> datetime:
        """The first instant at or after `moment` inside business hours (UTC)."""
        if self.always:
            return moment.astimezone(UTC)
        local = moment.astimezone(self.tz)
        for offset in range(8):
            day = local + timedelta(days=offset)
            window = self._window(day)
            if window is None:
                continue
            start, end = window
            if offset == 0 and local >= end:
                continue
            return max(start, local).astimezone(UTC) if offset == 0 else start.astimezone(UTC)
        raise ValueError("business hours have no open day")

    def add(self, start: datetime, duration: Duration) -> datetime:
        """`start` plus `duration` counted in business time: days are business days, the rest hours."""
        if self.always:
            return (start + duration.total).astimezone(UTC)
        current = self.next_open(start).astimezone(self.tz)
        for _ in range(duration.days):
            # Same local time on the next open day, so P2D means two working days.
            day = current + timedelta(days=1)
            while day.weekday() not in self.days:
                day += timedelta(days=1)
            current = datetime.combine(day.date(), current.time(), self.tz)
        remaining = timedelta(seconds=duration.seconds)
        while remaining > timedelta(0):
            current = self.next_open(current).astimezone(self.tz)
            window = self._window(current)
            assert window is not None  # next_open always lands inside a window
            room = window[1] - current
            if remaining <= room:
                return (current + remaining).astimezone(UTC)
            remaining -= room
            current = window[1]
        return current.astimezone(UTC)
