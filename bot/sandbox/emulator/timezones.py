"""The time zone fields of a users.info object (``tz_label``, ``tz_offset``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TZ_LABELS = {
    "Europe/Paris": ("Central European Time", "Central European Summer Time"),
    "Europe/Berlin": ("Central European Time", "Central European Summer Time"),
    "Europe/Madrid": ("Central European Time", "Central European Summer Time"),
    "Europe/London": ("Greenwich Mean Time", "British Summer Time"),
    "America/New_York": ("Eastern Standard Time", "Eastern Daylight Time"),
    "America/Chicago": ("Central Standard Time", "Central Daylight Time"),
    "America/Denver": ("Mountain Standard Time", "Mountain Daylight Time"),
    "America/Los_Angeles": ("Pacific Standard Time", "Pacific Daylight Time"),
    "Asia/Tokyo": ("Japan Standard Time", "Japan Standard Time"),
    "Asia/Kolkata": ("India Standard Time", "India Standard Time"),
    "Australia/Sydney": ("Australian Eastern Standard Time", "Australian Eastern Daylight Time"),
    "UTC": ("Coordinated Universal Time", "Coordinated Universal Time"),
}
# Standard offsets, used only when the system has no tz database.
_TZ_FALLBACK_OFFSETS = {
    "Europe/Paris": 3600,
    "Europe/Berlin": 3600,
    "Europe/Madrid": 3600,
    "Europe/London": 0,
    "America/New_York": -18000,
    "America/Chicago": -21600,
    "America/Denver": -25200,
    "America/Los_Angeles": -28800,
    "Asia/Tokyo": 32400,
    "Asia/Kolkata": 19800,
    "Australia/Sydney": 36000,
    "UTC": 0,
}


def tz_fields(tz: str) -> tuple[str, int]:
    """Slack's ``tz_label`` and ``tz_offset`` (seconds) for a zone, as of now."""
    label_pair = _TZ_LABELS.get(tz)
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        label = label_pair[0] if label_pair else tz
        return label, _TZ_FALLBACK_OFFSETS.get(tz, 0)
    offset = now.utcoffset()
    is_dst = bool(now.dst())
    label = label_pair[1 if is_dst else 0] if label_pair else (now.tzname() or tz)
    return label, int(offset.total_seconds()) if offset is not None else 0
