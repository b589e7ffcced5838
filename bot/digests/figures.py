"""What a digest holds: figures computed once, then rendered for Slack or the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import storage.digests


@dataclass(frozen=True)
class ReasonLine:
    """Verdicts of one reason in the period and in the period before."""

    reason: str
    count: int
    previous: int

    @property
    def change(self) -> int:
        return self.count - self.previous


@dataclass(frozen=True)
class Verbatim:
    """The most telling verbatim of a rising reason, masked."""

    reason: str
    text: str
    channel: str
    score: int | None
    case_id: int | None
    change: int


@dataclass(frozen=True)
class CaseLine:
    """A case named in the digest: expired without action, or overdue now."""

    case_id: int
    reason: str
    owner_id: str | None
    deadline_at: datetime
    link: str | None = None
    reminded: tuple[str, ...] = ()  # who the reminders went to (user ids or a channel id)
    escalations: int = 0  # how many times managers were told


@dataclass(frozen=True)
class Chart:
    """Verdicts per reason over the last periods, oldest first (the chart's data)."""

    starts: list[datetime]  # each bar's period start
    series: dict[str, list[int]]  # reason -> one count per period


@dataclass(frozen=True)
class Digest:
    """Everything one digest says, computed once (then rendered for Slack or the terminal)."""

    name: str
    period: str  # day, week
    lang: str
    tz: ZoneInfo
    start: datetime
    end: datetime
    now: datetime
    sections: tuple[str, ...]
    verdicts: int
    verdicts_previous: int
    without_consent: int
    reasons: list[ReasonLine]
    verbatims: list[Verbatim]
    opened: int
    resolved: dict[str, int]  # outcome -> cases resolved in the period
    expired: dict[str, int]  # outcome -> cases expired in the period
    resolved_in_time: int
    expired_without_action: list[CaseLine]
    expired_without_action_total: int
    overdue: list[CaseLine]
    overdue_total: int
    median_claim: float | None  # seconds
    median_first_contact: float | None
    fatigue: list[storage.digests.FatiguedCustomer]
    fatigue_total: int
    fatigue_threshold: int
    fatigue_days: int
    review: storage.digests.ReviewBacklog
    chart: Chart
    labels: dict[str, str] = field(default_factory=dict)  # reason id -> label in `lang`

    @property
    def closed(self) -> int:
        """Cases that reached an end in the period (resolved or expired)."""
        return sum(self.resolved.values()) + sum(self.expired.values())

    @property
    def share_in_time(self) -> float | None:
        """Resolved by their deadline, among the cases closed in the period (expiries count
        against it: a case that expired was not resolved in time)."""
        return self.resolved_in_time / self.closed if self.closed else None

    @property
    def quiet(self) -> bool:
        """Nothing to report: no verdict, no case opened or closed, nothing overdue or to review."""
        return not (
            self.verdicts
            or self.opened
            or self.closed
            or self.overdue_total
            or self.review.cases
            or self.review.provisional
            or self.review.low_confidence
        )

    def label(self, reason: str) -> str:
        return self.labels.get(reason, reason)
