"""Durations as the config writes them: ISO 8601 (`PT4H`, `P2D`, `P1W`) or plain seconds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_ISO = re.compile(
    r"^P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """A policy duration; `days` stay apart from the clock part so business time can count days."""

    days: int
    seconds: float
    text: str

    @property
    def total(self) -> timedelta:
        return timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        return self.text


def parse_duration(value: object) -> Duration:
    """Parse `PT4H`, `P2D`, `P1DT2H30M`, `90` or `90.5` (seconds); raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"duration must be positive, got {value!r}")
        return Duration(0, float(value), f"{value}s")
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    text = value.strip().upper()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return parse_duration(float(text))
    match = _ISO.match(text)
    if not match:
        raise ValueError(
            f"invalid duration {value!r}: use ISO 8601 such as PT4H, P2D, P1DT12H, or seconds"
        )
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    days = int(parts["w"] * 7 + parts["d"])
    seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if days == 0 and seconds == 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return Duration(days, seconds, text)
