"""Deadlines, reminders, escalations and loud expiry: planned per case, swept from the database.

`reschedule` turns a case's state into rows of `case_schedule` (what is due, and when). `sweep`
claims due rows with a lease and, in the one transaction that marks them sent, queues their
Slack messages in the outbox, so a crash either leaves them leased (the lease runs out and any
process takes them over) or has already queued them once; the outbox then retries Slack's 429s
and 5xx. Rows of one case taken together make one message, so a restart after downtime sends
what was missed once, not as a flood.

The rules, in business time (`team.hours`, holidays included):
- reminders are spread over the time left between the last thing a person did on the case
  (its opening, a claim, a contact attempt, a note, the end of a snooze) and the deadline, at
  the policy's fractions; they go to the owner (DM and thread) or, unclaimed, to the channel;
- the final warning comes `final_warning` before the deadline;
- escalations (`unclaimed`, `no_action`) tell managers, by DM or in their channel;
- at the deadline an `auto_close` case expires loudly; otherwise it stays open as overdue and
  managers hear about it every `overdue_every`;
- nothing but the deadline (and, when allowed, the final warning) goes out outside business
  hours or during a snooze: it waits for the opening or the snooze's end.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.schedule
import storage.writes
from bot.cases.card import thread_link
from bot.classification.taxonomy import Taxonomy
from bot.runtime import metrics
from bot.runtime.clock import Clock
from bot.runtime.durations import Duration
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import Message, format_time
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import OPEN_STATES, Case

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # far beyond one batch's work; a crashed sweep's rows wait this long
BATCH = 500
OWNED_STATES = ("claimed", "contacting")


# --- planning: what a case has due, from its state -------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One item a case should have pending: its kind, identity (`key`), due time and details."""

    kind: str
    key: str
    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseFacts:
    """What planning needs to know about a case."""

    status: str
    opened_at: datetime
    deadline_at: datetime
    owner_id: str | None
    snoozed_until: datetime | None
    attempts: int
    last_touch: datetime | None


def _stamp(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _times(duration: Duration, n: int) -> Duration:
    return Duration(duration.days * n, duration.seconds * n, f"{n}x{duration.text}")


def final_warning_at(team: TeamConfig, deadline: datetime) -> datetime:
    """When the final warning falls due for this deadline."""
    policy = team.policy
    if policy.final_warning_outside_hours:
        return deadline - policy.final_warning.total
    return team.hours.subtract(deadline, policy.final_warning)


def plan(team: TeamConfig, facts: CaseFacts, done: set[str], now: datetime) -> list[Planned]:
    """The items an open case should have pending, leaving out those already sent (`done`)."""
    if facts.status not in OPEN_STATES:
        return []
    policy, hours = team.policy, team.hours
    deadline = facts.deadline_at
    snooze_end = facts.snoozed_until if facts.snoozed_until and facts.snoozed_until > now else None
    # Reminders restart from the last thing a person did, or from the end of a snooze (past or
    # to come: a snooze that has ended is still where the case's clock started again).
    anchor = max(m for m in (facts.opened_at, facts.last_touch, facts.snoozed_until) if m)
    on_deadline = _stamp(deadline)
    deadline_key = f"deadline@{on_deadline}"
    if deadline_key in done:
        return _overdue(team, facts, done, now, snooze_end)
    items = [Planned("deadline", deadline_key, deadline)]

    warning = final_warning_at(team, deadline)
    has_warning = facts.opened_at < warning < deadline
    if has_warning:
        key = f"final_warning@{on_deadline}"
        items.append(Planned("final_warning", key, max(warning, snooze_end or warning)))

    # Reminders restart after each action, over the time left; the final warning supersedes
    # any that would come after it.
    window = hours.elapsed(anchor, deadline).total_seconds()
    cutoff = warning if has_warning else deadline
    for fraction in policy.reminders:
        due = hours.add_seconds(anchor, fraction * window)
        key = f"reminder:{fraction:g}@{_stamp(anchor)}/{on_deadline}"
        if due < cutoff:
            items.append(Planned("reminder", key, due, {"fraction": fraction}))

    for index, rule in enumerate(policy.escalations):
        if rule.when == "unclaimed":
            if facts.status != "open" or facts.owner_id is not None:
                continue
            base = anchor  # since it was opened, or last given back or touched
        else:  # no_action: nobody has tried to reach the customer
            if facts.attempts:
                continue
            base = facts.opened_at
        if rule.after is not None:
            due = hours.add(base, rule.after)
        else:
            assert rule.at is not None
            due = hours.add_seconds(base, rule.at * hours.elapsed(base, deadline).total_seconds())
        due = max(due, snooze_end or due)
        if due < deadline:
            data = {
                "rule": index,
                "when": rule.when,
                "notify": list(rule.notify),
                "since": base.isoformat(),
            }
            key = f"escalation:{index}:{rule.when}@{_stamp(base)}/{on_deadline}"
            items.append(Planned("escalation", key, due, data))
    return [item for item in items if item.key not in done]


def _overdue(
    team: TeamConfig,
    facts: CaseFacts,
    done: set[str],
    now: datetime,
    snooze_end: datetime | None,
) -> list[Planned]:
    """After the deadline of a case that stays open: the next overdue notice, every period."""
    if team.policy.auto_close:
        return []  # a reopened case needs a new deadline; until then there is nothing to plan
    on_deadline = _stamp(facts.deadline_at)
    prefix, suffix = "overdue:", f"@{on_deadline}"
    sent = [
        int(key[len(prefix) : -len(suffix)])
        for key in done
        if key.startswith(prefix) and key.endswith(suffix)
    ]
    n = max(sent, default=0) + 1
    due = team.hours.add(facts.deadline_at, _times(team.policy.overdue_every, n))
    while due <= now:  # after downtime: the next one to come, not one per period missed
        n += 1
        due = team.hours.add(facts.deadline_at, _times(team.policy.overdue_every, n))
    due = max(due, snooze_end or due)
    return [Planned("overdue", f"{prefix}{n}{suffix}", due, {"n": n})]


def reschedule(
    session: Session, case: Case, team: TeamConfig, now: datetime, *, new: bool = False
) -> None:
    """Recompute a case's pending items from its state; call it in the transaction of any change.

    Items that no longer apply are cancelled, moved ones get their new time, sent ones are never
    sent again; a closed case keeps none. A snooze that ends less than `final_warning` before
    the deadline (or after it) pushes the deadline to `final_warning` after the snooze ends.
    """
    # A case just opened has no schedule, no contact and no human touch yet: nothing to read,
    # which keeps bulk imports from querying (and flushing) once per new case.
    if not new:
        session.flush()  # the change's own event and contact attempt must count
    rows = [] if new else storage.schedule.schedule_of_case(session, case.id)
    wanted: list[Planned] = []
    if case.status in OPEN_STATES:
        snoozed = case.snoozed_until if case.snoozed_until and case.snoozed_until > now else None
        if snoozed is not None:
            latest = team.hours.add(snoozed, team.policy.final_warning)
            if latest > case.deadline_at:
                case.deadline_at = latest
        attempts, _ = (
            (0, 0)
            if new
            else storage.schedule.contact_counts(session, {case.id}).get(case.id, (0, 0))
        )
        facts = CaseFacts(
            status=case.status,
            opened_at=case.opened_at,
            deadline_at=case.deadline_at,
            owner_id=case.owner_id,
            snoozed_until=case.snoozed_until,
            attempts=attempts,
            last_touch=None if new else storage.schedule.last_touch(session, case.id),
        )
        if new:
            # New cases of one import chunk share their opening time, and so their plan when
            # their deadlines match: computed once per transaction, not once per case.
            plans = session.info.setdefault("new_case_plans", {})
            key = (id(team), facts, now)
            wanted = plans.get(key) or plans.setdefault(key, plan(team, facts, set(), now))
        else:
            wanted = plan(team, facts, {r.key for r in rows if r.status == "sent"}, now)
    by_key = {row.key: row for row in rows}
    keep = {item.key for item in wanted}
    for row in rows:
        if row.status == "pending" and row.key not in keep:
            row.status, row.done_at = "cancelled", now
        if row.status == "pending" or row.key in keep:
            # Clearing the lease voids a sweep's claim in flight: it was made on the old state.
            row.lease_until, row.lease_owner = None, None
    for item in wanted:
        existing = by_key.get(item.key)
        if existing is None:
            storage.writes.add_schedule_item(
                session,
                {
                    "case_id": case.id,
                    "kind": item.kind,
                    "key": item.key,
                    "due_at": item.due_at,
                    "status": "pending",
                    "attempts": 0,
                    "data": item.data,
                    "created_at": now,
                },
            )
        elif existing.status != "sent":
            existing.status, existing.due_at, existing.data = "pending", item.due_at, item.data
            existing.done_at = None


# --- sweeping: claim what is due and say it --------------------------------------------------


def claim_due(
    factory: sessionmaker[Session], clock: Clock, *, batch: int = BATCH, lease: timedelta = LEASE
) -> tuple[str, list[storage.schedule.DueItem]]:
    """Lease due rows to a new claim; returns its token and the rows (first half of a sweep)."""
    token = uuid.uuid4().hex
    now = clock.now()
    with factory() as session:
        # A plain read first: most passes find nothing, and need no write transaction for it
        # (on SQLite that would take the database's write lock every second in every process).
        if not storage.schedule.due_schedule_ids(session, now, 1):
            return token, []
    with transaction(factory) as session:
        return token, storage.schedule.claim_due_schedule(session, now, now + lease, token, batch)


def sweep(
    factory: sessionmaker[Session],
    team: TeamConfig,
    clock: Clock,
    *,
    taxonomy: Taxonomy | None = None,
    team_url: str | None = None,
    batch: int = BATCH,
    lease: timedelta = LEASE,
) -> int:
    """Send everything due (safe in any number of processes at once); returns cases notified."""
    notified = 0
    while True:
        token, claimed = claim_due(factory, clock, batch=batch, lease=lease)
        if not claimed:
            return notified
        notified += send_claimed(factory, team, clock, token, claimed, taxonomy, team_url)
        if len(claimed) < batch:
            return notified


def send_claimed(
    factory: sessionmaker[Session],
    team: TeamConfig,
    clock: Clock,
    token: str,
    claimed: list[storage.schedule.DueItem],
    taxonomy: Taxonomy | None = None,
    team_url: str | None = None,
) -> int:
    """Second half of a sweep: in one transaction, mark the held rows sent and queue what they
    say; rows that must wait (closed hours, snooze) are given back with their new due time."""
    events: list[dict[str, Any]] = []  # inserted at once: a sweep may write a thousand
    with transaction(factory) as session:
        now = clock.now()
        # Cases first, in id order: the lock order of every action, so no deadlock.
        cases = storage.schedule.lock_cases(session, sorted({item.case_id for item in claimed}))
        go: list[int] = []
        wait: dict[datetime, list[int]] = defaultdict(list)
        for item in claimed:
            case = cases.get(item.case_id)
            until = None if case is None else _must_wait(team, case, item.kind, now)
            if until is None:
                go.append(item.id)
            else:
                wait[until].append(item.id)
        for until, ids in wait.items():
            storage.schedule.defer_claimed(session, ids, token, until)
        taken = storage.schedule.take_claimed(session, go, token, now)
        by_case: dict[int, list[storage.schedule.DueItem]] = defaultdict(list)
        closed: list[int] = []
        for item in taken:
            case = cases.get(item.case_id)
            if case is None or case.status not in OPEN_STATES:
                closed.append(item.id)  # closed by a change that did not replan: say nothing
            else:
                by_case[item.case_id].append(item)
        storage.schedule.cancel_schedule(session, closed, now)
        contacts = storage.schedule.contact_counts(session, set(by_case))
        for case_id in sorted(by_case):
            notice = _Notice(
                session, team, cases[case_id], contacts.get(case_id, (0, 0)), now, taxonomy, events
            )
            notice.send(by_case[case_id], team_url)
        storage.schedule.add_events(session, events)
    for event in events:  # counted once committed, so a rolled back sweep counts nothing
        metrics.count_notice(event["kind"], event["data"])
    return len(by_case)


def _must_wait(team: TeamConfig, case: Case, kind: str, now: datetime) -> datetime | None:
    """Until when an item must wait (the end of a snooze, the next opening), or None: send now."""
    if kind == "deadline":
        return None  # the deadline is the deadline; a snooze has already moved it
    until = now
    if case.snoozed_until is not None and case.snoozed_until > until:
        until = case.snoozed_until
    if not (kind == "final_warning" and team.policy.final_warning_outside_hours):
        until = team.hours.next_open(until)
    return None if until <= now else until


def _span(lang: str, delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        return t(lang, "span_min", n=max(1, round(seconds / 60)))
    if seconds < 48 * 3600:
        return t(lang, "span_h", n=round(seconds / 3600))
    return t(lang, "span_d", n=round(seconds / 86400))


def _relative(lang: str, when: datetime, now: datetime) -> str:
    key = "relative_in" if when >= now else "relative_ago"
    return t(lang, key, span=_span(lang, when - now))


def expiry_outcome(attempts: int, reached: int) -> str:
    """The honest outcome of a case closed at its deadline."""
    if not attempts:
        return "expired_without_action"
    return "closed_unresolved" if reached else "closed_not_reached"


class _Notice:
    """What one sweep says about one case: one thread reply, one message to the owner (or the
    channel), one to each manager target, whatever number of its items fell due together."""

    def __init__(
        self,
        session: Session,
        team: TeamConfig,
        case: Case,
        contacts: tuple[int, int],
        now: datetime,
        taxonomy: Taxonomy | None,
        events: list[dict[str, Any]],
    ) -> None:
        self.session, self.team, self.case, self.now = session, team, case, now
        self.events = events
        self.lang = team.language
        self.attempts, self.reached = contacts
        reason = case.primary_reason
        self.reason = taxonomy.label(reason, self.lang) if taxonomy is not None else reason
        self.owner = case.owner_id if case.status in OWNED_STATES else None
        self.thread: list[str] = []
        self.broadcast = False
        self.to_owner: list[str] = []
        self.to_managers: list[str] = []
        self.escalations: list[str] = []  # what rule-based escalations say (listed in the thread)
        self.targets: set[str] = set()

    def _common(self, **extra: object) -> dict[str, object]:
        return {
            "id": self.case.id,
            "reason": self.reason,
            "deadline": format_time(self.case.deadline_at, self.team.tz),
            **extra,
        }

    def _state(self) -> str:
        if self.owner is None:
            return t(self.lang, "remind_nobody")
        if not self.attempts:
            return t(self.lang, "remind_no_contact", owner=self.owner)
        if self.reached:
            return t(self.lang, "remind_reached")
        return t(self.lang, "remind_attempts", count=self.attempts)

    def _owner_text(self) -> str:
        return f"<@{self.owner}>" if self.owner else t(self.lang, "no_owner")

    def _say(self, text: str, *, to_owner: bool = True, loud: bool = False) -> None:
        """A line for the thread and for the owner; unclaimed (or `loud`), shown in the channel."""
        self.thread.append(text)
        if self.owner is not None and to_owner:
            self.to_owner.append(text)
        if self.owner is None or loud:
            self.broadcast = True

    def _escalate(self, text: str, targets: Iterable[str]) -> None:
        self.to_managers.append(text)
        self.targets.update(targets)

    def _all_targets(self) -> list[str]:
        return ["managers", *(["managers_channel"] if self.team.channels.managers else [])]

    def send(self, items: list[storage.schedule.DueItem], team_url: str | None) -> None:
        """Compose, queue and record what these due items say (they are already marked sent)."""
        kinds: defaultdict[str, list[storage.schedule.DueItem]] = defaultdict(list)
        for item in items:
            kinds[item.kind].append(item)
        folded = sorted({item.kind for item in items} - {"deadline"})
        if "deadline" in kinds:
            self._deadline(folded)
        elif "overdue" in kinds:
            self._overdue(max(int(i.data.get("n", 1)) for i in kinds["overdue"]))
        else:
            if "final_warning" in kinds:
                self._final_warning(len(kinds["reminder"]))
            elif "reminder" in kinds:
                self._reminder(len(kinds["reminder"]))
            if "escalation" in kinds:
                self._escalation(kinds["escalation"])
        self._queue(team_url)
        if "deadline" in kinds or "overdue" in kinds:
            outbox.enqueue_card(self.session, self.case, self.now)
            reschedule(self.session, self.case, self.team, self.now)  # next notice, or none

    def _event(self, kind: str, **data: Any) -> None:
        self.events.append(
            {"case_id": self.case.id, "kind": kind, "actor": "system", "data": data}
            | {"created_at": self.now}
        )  # counted in the metrics by send_claimed, once its transaction has committed

    def _reminder(self, count: int) -> None:
        text = t(self.lang, "reminder", **self._common(relative=self._rel())) + " " + self._state()
        if count > 1:
            text += " " + t(self.lang, "reminder_collapsed", count=count)
        self._say(text)
        self._event("reminder_sent", count=count, to=self.owner or self.case.slack_channel)

    def _rel(self) -> str:
        return _relative(self.lang, self.case.deadline_at, self.now)

    def _final_warning(self, reminders: int) -> None:
        if self.team.policy.auto_close:
            outcome = expiry_outcome(self.attempts, self.reached)
            text = t(
                self.lang,
                "final_warning_close",
                **self._common(relative=self._rel(), outcome=t(self.lang, f"resolution_{outcome}")),
            )
        else:
            text = t(self.lang, "final_warning_overdue", **self._common(relative=self._rel()))
        self._say(text + " " + self._state())
        self._event("final_warning", reminders_folded=reminders)

    def _escalation(self, items: list[storage.schedule.DueItem]) -> None:
        for item in items:
            when = str(item.data.get("when", "no_action"))
            since = datetime.fromisoformat(str(item.data.get("since") or self.case.opened_at))
            key = "escalation_unclaimed" if when == "unclaimed" else "escalation_no_action"
            reason = t(
                self.lang,
                key,
                **self._common(span=_span(self.lang, self.now - since), owner=self._owner_text()),
            )
            self.escalations.append(reason)
            self._escalate(
                t(self.lang, "escalated_dm_auto") + " " + reason,
                item.data.get("notify") or ["managers"],
            )
        self._event(
            "escalated",
            reasons=[str(i.data.get("when")) for i in items],
            notify=sorted(self.targets),
        )

    def _deadline(self, folded: list[str]) -> None:
        case = self.case
        if self.team.policy.auto_close:
            outcome = expiry_outcome(self.attempts, self.reached)
            key = {
                "expired_without_action": "expired_without_action",
                "closed_not_reached": "expired_not_reached",
                "closed_unresolved": "expired_unresolved",
            }[outcome]
            text = t(self.lang, key, **self._common(count=self.attempts))
            case.status, case.outcome, case.closed_at = "expired", outcome, self.now
            case.snoozed_until = None
            self._say(text, loud=True)
            self._escalate(text, self._all_targets())
            self._event("expired", outcome=outcome, attempts=self.attempts, folded=folded)
            if self.owner is not None:
                outbox.enqueue_home(self.session, self.owner, self.now)
            return
        every = _span(self.lang, self.team.policy.overdue_every.total)
        text = t(self.lang, "overdue_now", **self._common(owner=self._owner_text(), every=every))
        self._say(text, loud=True)
        self._escalate(text, self._all_targets())
        self._event("escalated", reasons=["overdue"], days=0, folded=folded)

    def _overdue(self, n: int) -> None:
        span = _span(self.lang, self.now - self.case.deadline_at)
        text = t(self.lang, "overdue_still", **self._common(owner=self._owner_text(), span=span))
        self._say(text)
        self._escalate(text, self._all_targets())
        self._event("escalated", reasons=["overdue"], n=n)

    def _shown_targets(self, groups: list[str]) -> str:
        lang, team = self.lang, self.team
        shown: list[str] = []
        if "managers" in self.targets and team.managers:
            shown.append(t(lang, "managers_word"))
            shown += [f"<!subteam^{g}>" for g in groups]  # a group cannot get a DM: mention it
        if "managers_channel" in self.targets and team.channels.managers:
            shown.append(f"<#{team.channels.managers}>")
        if not shown:
            self.broadcast = True  # nobody to tell in private: the whole channel sees it
            return t(lang, "no_managers")
        return ", ".join(shown)

    def _queue(self, team_url: str | None) -> None:
        # Plain mrkdwn text, no blocks: short notices with nothing to lay out, and a sweep may
        # queue a thousand of them at once.
        session, now, lang, team = self.session, self.now, self.lang, self.team
        link = thread_link(team_url, self.case) if team_url else None
        footer = "\n" + t(lang, "open_thread_link", link=link) if link else ""
        users = [m for m in team.managers if m.startswith(("U", "W"))]
        groups = [m for m in team.managers if m.startswith("S")]
        if self.to_managers:
            shown = self._shown_targets(groups)
            if self.escalations:
                lines = "\n".join(f"• {reason}" for reason in self.escalations)
                self.thread.append(t(lang, "escalated_auto", targets=shown) + "\n" + lines)
            else:
                self.thread.append(t(lang, "told_targets", targets=shown))
            body = Message("\n".join(self.to_managers) + footer)
            if "managers" in self.targets:
                for user in users:
                    outbox.enqueue_message(session, user, body, now)
            if "managers_channel" in self.targets and team.channels.managers:
                outbox.enqueue_message(session, team.channels.managers, body, now)
        if self.thread:
            message = Message("\n".join(self.thread))
            outbox.enqueue_reply(session, self.case, message, now, broadcast=self.broadcast)
        if self.owner is not None and self.to_owner:
            outbox.enqueue_message(
                session, self.owner, Message("\n".join(self.to_owner) + footer), now
            )
