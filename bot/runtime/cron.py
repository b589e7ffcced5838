"""Standard 5-field cron expressions on APScheduler 3's CronTrigger, with cron's weekday numbers.

APScheduler 3 counts weekdays from Monday = 0 (its `from_crontab` documents the mismatch), so
`0 8 * * 1` would fire on Tuesdays. Numeric weekdays are translated to names here, so the
expression means what it means in crontab(5): 0 and 7 are Sunday, 1 is Monday.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["CronError", "cron_trigger", "fire_times"]

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBER = {name: i for i, name in enumerate(_NAMES)}


class CronError(ValueError):
    """An expression that is not a valid 5-field cron schedule; the message says why."""


def _weekday(token: str) -> int:
    value = _NUMBER.get(token.lower()[:3]) if token.isalpha() else None
    if value is None:
        if not token.isdigit() or int(token) > 7:
            raise CronError(f"{token!r} is not a weekday (0-7, or sun..sat)")
        value = int(token) % 7  # 7 is Sunday too
    return value


def _weekdays(field: str) -> str:
    """The day-of-week field as APScheduler weekday names, expanded (ranges may wrap Sunday)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise CronError(f"{part!r}: the step after / must be a positive number")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-", 1)
            first, last = _weekday(low), _weekday(high)
            if high.strip() == "7":
                last = 7  # 1-7 means Monday to Sunday
        else:
            first = last = _weekday(base)
            if step:
                last = 6  # cron's "1/2": from Monday on, every other day
        if last < first:
            raise CronError(f"{base!r}: a range must go upwards (like 1-5)")
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    # APScheduler's names are its own weekday numbers, so the order does not matter.
    return ",".join(_NAMES[d] for d in sorted(days))


def cron_trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """A CronTrigger for `minute hour day-of-month month day-of-week` in `timezone`."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"{expression!r} is not a 5-field cron schedule (minute hour day month weekday, "
            "like `0 8 * * 1` for Mondays at 08:00)"
        )
    minute, hour, day, month, weekday = fields
    if re.search(r"[LW#?]", expression):
        raise CronError(f"{expression!r}: L, W, # and ? are not supported")
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=timezone,
        )
    except ValueError as exc:  # CronError from the weekday field, or APScheduler's own
        raise CronError(f"{expression!r}: {exc}") from None


def fire_times(trigger: CronTrigger, after: datetime, until: datetime) -> list[datetime]:
    """The trigger's fire times in (`after`, `until`], oldest first."""
    found: list[datetime] = []
    moment = trigger.get_next_fire_time(None, after)  # the first one at or after `after`
    while moment is not None and moment <= until:
        if moment > after:
            found.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)  # strictly after the last one
    return found
