"""Digests: figures checked one by one on a seeded database, the chart, the schedule's catch-up
after downtime, two workers posting once, a quiet period, and both team languages.

The bot runs for real (its runtime on a real database, Slack through the emulator); only time
is manual: each step runs worker passes as the background worker would.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from PIL import Image
from sqlalchemy import func, select

from bot.digests import service as digests
from bot.digests.views import digest_messages
from bot.runtime.app import build_runtime
from bot.runtime.clock import ManualClock
from bot.runtime.cron import cron_trigger, fire_times
from bot.runtime.runtime import Runtime
from bot.runtime.settings import ConfigError, load_team_config
from bot.sandbox.emulator import SlackEmulator
from bot.slack.blocks import Message, plain_text
from storage.db import transaction
from storage.models import (
    Case,
    Classification,
    ContactAttempt,
    Customer,
    DigestRun,
    Event,
    OutboxMessage,
    Verdict,
)
from tests.conftest import AGENT, AGENT2, TRIAGE, block_text, make_settings, team_config
from tests.test_cli import triage

PARIS = ZoneInfo("Europe/Paris")
DIGESTS = "C0DIGEST"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


FIRE = paris(2026, 11, 23, 8, 0)  # Monday 08:00: the weekly digest's fire time
WEEKLY = {
    "name": "weekly",
    "channel": DIGESTS,
    "schedule": "0 8 * * 1",
    "period": "week",
    "grace": "PT6H",
    "chart_periods": 5,
}


@dataclass
class Bot:
    """A runtime on a manual clock, and the emulator it talks to."""

    rt: Runtime
    clock: ManualClock
    emulator: SlackEmulator

    def run(self) -> None:
        """Worker passes until one finds nothing to do."""
        for _ in range(50):
            if self.rt.run_pending() == 0:
                return
        raise AssertionError("the worker kept finding work")

    def at(self, moment: datetime) -> None:
        self.clock.advance(moment - self.clock.now())
        self.run()

    def posts(self) -> list[dict[str, Any]]:
        return [m for m in self.emulator.channel_messages(DIGESTS) if m.get("user") == "U0BOT"]

    def runs(self) -> list[DigestRun]:
        with self.rt.factory() as session:
            return list(session.scalars(select(DigestRun).order_by(DigestRun.id)))


@pytest.fixture
def make(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> Iterator[Callable[..., Bot]]:
    """Start a runtime (a process) at `start`, with config overrides; all closed afterwards."""
    emulator.add_channel(DIGESTS, "churn-digests")
    made: list[Bot] = []

    def start(at: datetime, clock: ManualClock | None = None, **overrides: Any) -> Bot:
        overrides.setdefault("digests", [WEEKLY])
        settings = make_settings(tmp_path, database_url, emulator.api_url, **overrides)
        clock = clock or ManualClock(at)
        made.append(Bot(build_runtime(settings, clock=clock), clock, emulator))
        return made[-1]

    yield start
    for bot in made:
        bot.rt.close()


# --- a seeded database with known figures --------------------------------------------------------


def _customer(session: Any, ref: str) -> Customer:
    customer = Customer(ref=ref, ref_kind="email", created_at=paris(2026, 10, 1, 9, 0))
    session.add(customer)
    session.flush()
    return customer


def _verdict(
    session: Any,
    customer: Customer,
    at: datetime,
    reason: str,
    confidence: float,
    *,
    text: str = "",
    case: Case | None = None,
    consent: bool = True,
    score: int | None = None,
    provisional: bool = False,
) -> Verdict:
    verdict = Verdict(
        source_key=f"seed:{customer.ref}:{at.isoformat()}",
        source="webhook",
        customer_id=customer.id,
        case_id=case.id if case else None,
        channel="web",
        score=score,
        text=text or f"{reason} verdict of {customer.ref}",
        consent=consent,
        received_at=at,
        reason=reason,
    )
    session.add(verdict)
    session.flush()
    session.add(
        Classification(
            verdict_id=verdict.id,
            backend="offline",
            model="offline",
            prompt_version="-",
            taxonomy_version="-",
            primary_reason=reason,
            secondary_reasons=[],
            confidence=confidence,
            sentiment="negative",
            severity="medium",
            language="en",
            summary="",
            provisional=provisional,
            created_at=at,
        )
    )
    return verdict


def _case(session: Any, customer: Customer, reason: str, opened: datetime, **fields: Any) -> Case:
    fields.setdefault("deadline_at", opened + timedelta(days=2))
    case = Case(
        customer_id=customer.id,
        primary_reason=reason,
        opened_at=opened,
        slack_channel=TRIAGE,
        **fields,
    )
    session.add(case)
    session.flush()
    return case


def _contact(session: Any, case: Case, at: datetime, outcome: str = "reached") -> None:
    session.add(
        ContactAttempt(
            case_id=case.id,
            customer_id=case.customer_id,
            actor=case.owner_id or AGENT,
            channel="phone",
            outcome=outcome,
            attempted_at=at,
            created_at=at,
        )
    )


def _event(session: Any, case: Case, kind: str, at: datetime, **data: Any) -> None:
    session.add(Event(case_id=case.id, kind=kind, actor="system", data=data, created_at=at))


def seed(bot: Bot) -> dict[str, int]:
    """The week of Mon 16 Nov 08:00 to Mon 23 Nov 08:00 (Paris) and the weeks before it.

    Current week: 6 verdicts (network 3 of which 1 without consent, price 2, customer
    service 1); week before: 5 (network 1, price 2, customer service 2). Cases A..F below.
    """
    with transaction(bot.rt.factory) as s:
        c1, c2, c3, c4, c5, c6, c7 = (_customer(s, f"c{i}@example.com") for i in range(1, 8))
        anonymous = _customer(s, "anonymous")
        # A: opened in the week, claimed after 2 h, first contact after 24 h, resolved in time.
        a = _case(
            s,
            c1,
            "network_quality",
            paris(2026, 11, 17, 10, 0),
            status="resolved",
            outcome="problem_fixed",
            owner_id=AGENT,
            claimed_at=paris(2026, 11, 17, 12, 0),
            closed_at=paris(2026, 11, 18, 15, 0),
            deadline_at=paris(2026, 11, 19, 10, 0),
        )
        _contact(s, a, paris(2026, 11, 18, 10, 0))
        # B: claimed after 4 h, first contact after 6 h, resolved after its deadline.
        b = _case(
            s,
            c2,
            "network_quality",
            paris(2026, 11, 16, 9, 0),
            status="resolved",
            outcome="retained",
            owner_id=AGENT2,
            claimed_at=paris(2026, 11, 16, 13, 0),
            closed_at=paris(2026, 11, 20, 10, 0),
            deadline_at=paris(2026, 11, 18, 9, 0),
        )
        _contact(s, b, paris(2026, 11, 16, 15, 0))
        # C: opened the week before, never claimed, expired in the week without action.
        c = _case(
            s,
            c3,
            "customer_service",
            paris(2026, 11, 12, 10, 0),
            status="expired",
            outcome="expired_without_action",
            closed_at=paris(2026, 11, 18, 10, 0),
            deadline_at=paris(2026, 11, 18, 10, 0),
        )
        _event(s, c, "reminder_sent", paris(2026, 11, 16, 10, 0), count=1, to=TRIAGE)
        _event(s, c, "escalated", paris(2026, 11, 17, 10, 0), reasons=["unclaimed"])
        # D: claimed after 1 h, then nobody acted: expired without action.
        d = _case(
            s,
            c4,
            "price_billing",
            paris(2026, 11, 16, 10, 0),
            status="expired",
            outcome="expired_without_action",
            owner_id=AGENT,
            claimed_at=paris(2026, 11, 16, 11, 0),
            closed_at=paris(2026, 11, 19, 10, 0),
            deadline_at=paris(2026, 11, 19, 10, 0),
        )
        _event(s, d, "reminder_sent", paris(2026, 11, 16, 10, 30), count=1, to=TRIAGE)
        _event(s, d, "reminder_sent", paris(2026, 11, 17, 10, 0), count=1, to=AGENT)
        _event(s, d, "reminder_sent", paris(2026, 11, 18, 10, 0), count=1, to=AGENT)
        _event(s, d, "escalated", paris(2026, 11, 17, 12, 0), reasons=["no_action"])
        _event(s, d, "escalated", paris(2026, 11, 18, 12, 0), reasons=["no_action"])
        # E: claimed after 24 h, first attempt after 25 h, overdue now, needs review.
        e = _case(
            s,
            c5,
            "customer_service",
            paris(2026, 11, 20, 9, 0),
            status="contacting",
            owner_id=AGENT2,
            claimed_at=paris(2026, 11, 21, 9, 0),
            deadline_at=paris(2026, 11, 22, 9, 0),
            needs_review=True,
        )
        _contact(s, e, paris(2026, 11, 21, 10, 0), "no_answer")
        # F: opened in the week, nobody owns it yet, provisional classification.
        f = _case(
            s,
            c6,
            "price_billing",
            paris(2026, 11, 22, 10, 0),
            status="open",
            deadline_at=paris(2026, 11, 25, 10, 0),
            needs_review=True,
        )
        # The week: network 3 (one without consent), price 2, customer service 1.
        phone = "The network drops every evening, it is unbearable. Call me on 06 12 34 56 78."
        _verdict(
            s, c1, paris(2026, 11, 17, 10, 0), "network_quality", 0.9, text=phone, case=a, score=2
        )
        _verdict(s, c2, paris(2026, 11, 16, 9, 0), "network_quality", 0.6, case=b, score=5)
        _verdict(
            s,
            anonymous,
            paris(2026, 11, 18, 9, 0),
            "network_quality",
            0.95,
            text="No signal at home, ever. [EMAIL]",
            consent=False,
        )
        _verdict(s, c4, paris(2026, 11, 16, 10, 0), "price_billing", 0.7, case=d)
        _verdict(s, c6, paris(2026, 11, 22, 10, 0), "price_billing", 0.8, case=f, provisional=True)
        _verdict(s, c5, paris(2026, 11, 20, 9, 0), "customer_service", 0.3, case=e)
        # The week before: network 1, price 2, customer service 2.
        _verdict(s, c1, paris(2026, 11, 10, 9, 0), "network_quality", 0.8)
        _verdict(s, c7, paris(2026, 11, 10, 10, 0), "price_billing", 0.8)
        _verdict(s, c7, paris(2026, 11, 11, 10, 0), "price_billing", 0.8)
        _verdict(s, c7, paris(2026, 11, 12, 9, 0), "customer_service", 0.8)
        _verdict(s, c3, paris(2026, 11, 12, 10, 0), "customer_service", 0.8, case=c)
        # Older: the chart's first weeks. Mon 19 Oct was still summer time (UTC+2): 08:30 there
        # is in the chart's first week, 07:30 is before it.
        _verdict(s, c1, paris(2026, 11, 2, 12, 0), "after_sales_repairs", 0.8)
        _verdict(s, c6, paris(2026, 10, 19, 8, 30), "network_quality", 0.8)
        _verdict(s, anonymous, paris(2026, 10, 19, 7, 30), "network_quality", 0.8, consent=False)
        return {"A": a.id, "B": b.id, "C": c.id, "D": d.id, "E": e.id, "F": f.id}


def _read(message: Message) -> str:
    return block_text({"text": message.text, "blocks": message.blocks})


def _build(bot: Bot, now: datetime = FIRE) -> digests.Digest:
    team = bot.rt.settings.team
    with bot.rt.factory() as session:
        return digests.build(session, team, team.digests[0], FIRE, now, bot.rt.taxonomy)


def test_every_figure_of_a_seeded_week(make: Callable[..., Bot]) -> None:
    bot = make(FIRE - timedelta(days=30))  # before the fire time: nothing is posted by itself
    ids = seed(bot)
    d = _build(bot)

    assert (d.start, d.end) == (paris(2026, 11, 16, 8, 0), FIRE)
    assert (d.verdicts, d.verdicts_previous, d.without_consent) == (6, 5, 1)
    assert [(r.reason, r.count, r.previous) for r in d.reasons] == [
        ("network_quality", 3, 1),
        ("price_billing", 2, 2),
        ("customer_service", 1, 2),
    ]
    # The one rising reason, quoted from a consented verdict (the surer one without consent is
    # counted, never quoted), with the phone number masked.
    assert [(v.reason, v.change, v.case_id, v.score) for v in d.verbatims] == [
        ("network_quality", 2, ids["A"], 2)
    ]
    assert "06 12 34 56 78" not in d.verbatims[0].text and "[PHONE]" in d.verbatims[0].text

    assert d.opened == 5  # A, B, D, E, F (C opened the week before)
    assert d.resolved == {"problem_fixed": 1, "retained": 1}
    assert d.expired == {"expired_without_action": 2}
    assert (d.closed, d.resolved_in_time, d.share_in_time) == (4, 1, 0.25)
    assert d.expired_without_action_total == 2
    assert [
        (x.case_id, x.owner_id, x.reminded, x.escalations) for x in d.expired_without_action
    ] == [
        (ids["C"], None, (TRIAGE,), 1),
        (ids["D"], AGENT, (TRIAGE, AGENT), 2),
    ]
    assert d.overdue_total == 1
    assert [(x.case_id, x.owner_id) for x in d.overdue] == [(ids["E"], AGENT2)]
    assert d.median_claim == pytest.approx(3 * 3600, abs=1)  # claims of 1, 2, 4 and 24 h
    assert d.median_first_contact == pytest.approx(24 * 3600, abs=1)  # 6, 24 and 25 h
    # c1: 3 surveys and 1 contact in 90 days; c7 has 3 surveys but none this week.
    assert [(f.case_id, f.surveys, f.contacts) for f in d.fatigue] == [(ids["A"], 3, 1)]
    assert d.fatigue_total == 1
    assert (d.review.cases, d.review.case_ids) == (2, [ids["E"], ids["F"]])
    assert (d.review.provisional, d.review.low_confidence) == (1, 1)
    assert not d.quiet

    # The chart's five weeks, in wall-clock weeks across the end of summer time.
    assert (
        d.chart.starts[0] == paris(2026, 10, 19, 8, 0) == datetime(2026, 10, 19, 6, 0, tzinfo=UTC)
    )
    assert d.chart.starts[-1] == d.start
    assert d.chart.series == {
        "after_sales_repairs": [0, 0, 1, 0, 0],
        "customer_service": [0, 0, 0, 2, 1],
        "price_billing": [0, 0, 0, 2, 2],
        "network_quality": [1, 0, 0, 1, 3],
    }


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "Weekly digest · 16 Nov 2026 → 23 Nov 2026",
                "*6* verdict(s) (+1 on the week before)",
                "1 of them without consent: counted here, never quoted.",
                "• Network quality: *3* (+2)",
                "• Price and billing: *2* (±0)",
                "• Customer service: *1* (−1)",
                "Opened *5* · resolved *2* · expired *2* · overdue now *1*",
                "Resolved: problem fixed 1, retained or won back 1",
                "Expired: expired without action 2",
                ":hourglass: *Expired without action: 2*",
                "• case #3 · Customer service · owner: no owner · reminded: <#C0TRIAGE> · managers told 1 time(s)",
                "• case #4 · Price and billing · owner: <@U0AGENT> · reminded: <#C0TRIAGE>, <@U0AGENT> · managers told 2 time(s)",
                ":rotating_light: *Overdue now: 1*",
                "• case #5 · Customer service · <@U0AGENT2> · deadline Sun 22 Nov 2026 09:00 CET (23 h ago)",
                "Resolved before the deadline: *25%* (1 of 4 cases closed)",
                "Median time to claim: *3 h*",
                "Median time to first contact: *24 h*",
                "*Survey fatigue*: 1 customer(s) surveyed or contacted more than 2 times in 90 days",
                "• case #1: 3 survey(s), 1 contact(s)",
                "*Needs review*: 2 open case(s) flagged · 1 provisional and 1 low-confidence",
                "Cases: #5, #6",
            ],
        ),
        (
            "fr",
            [
                "Digest de la semaine · 16 nov. 2026 → 23 nov. 2026",
                "*6* verbatim(s) (+1 par rapport à la semaine précédente)",
                "Dont 1 sans consentement : comptés ici, jamais cités.",
                "• Qualité du réseau : *3* (+2)",
                "Ouverts *5* · résolus *2* · expirés *2* · en retard *1*",
                ":hourglass: *Expirés sans action : 2*",
                "• dossier n°4 · Prix et facturation · responsable : <@U0AGENT> · relancés : <#C0TRIAGE>, <@U0AGENT> · managers prévenus 2 fois",
                "Résolus avant l'échéance : *25 %* (1 sur 4 dossiers clos)",
                "Délai médian de prise en charge : *3 h*",
                "Délai médian du premier contact : *24 h*",
                "*Sur-sollicitation* : 1 client(s) sondé(s) ou contacté(s) plus de 2 fois en 90 jours",
                "*À revoir* : 2 dossier(s) ouvert(s) signalé(s) · 1 classification(s) provisoire(s) et 1 peu sûre(s)",
            ],
        ),
    ],
)
def test_the_digest_reads_in_the_team_language(
    make: Callable[..., Bot], language: str, expected: list[str]
) -> None:
    bot = make(FIRE - timedelta(days=30), language=language)
    seed(bot)
    summary, details = digest_messages(_build(bot))
    text = _read(summary)
    for line in expected:
        assert line in text, line
    assert len(summary.blocks) <= 50
    # The thread: what customers said about the rising reason, masked.
    assert len(details) == 1
    quoted = _read(details[0])
    assert "[PHONE]" in quoted and "No signal at home" not in quoted
    heading = "What customers said" if language == "en" else "Ce que les clients disent"
    assert heading in quoted


def test_the_chart_is_a_png_of_the_series(make: Callable[..., Bot]) -> None:
    bot = make(FIRE - timedelta(days=30))
    seed(bot)
    d = _build(bot)
    png = digests.chart_png(d)
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (900, 480)
    assert image.info["Title"] == "Verdicts by reason, last 5 weeks"
    data = json.loads(image.info["Series"])
    assert data["labels"] == ["19 Oct", "26 Oct", "2 Nov", "9 Nov", "16 Nov"]
    assert data["series"] == {
        "after_sales_repairs": [0, 0, 1, 0, 0],
        "customer_service": [0, 0, 0, 2, 1],
        "price_billing": [0, 0, 0, 2, 2],
        "network_quality": [1, 0, 0, 1, 3],
    }
    # Something was drawn: the bars' colours, not just a white canvas.
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 10


# --- the schedule -----------------------------------------------------------------------------------


def test_cron_weekdays_mean_what_they_mean_in_crontab() -> None:
    def days(expression: str) -> list[str]:
        trigger = cron_trigger(expression, PARIS)
        found = fire_times(trigger, paris(2026, 11, 22, 0, 0), paris(2026, 11, 29, 0, 0))
        return [f.astimezone(PARIS).strftime("%a") for f in found]

    assert days("0 8 * * 1") == ["Mon"]  # APScheduler alone would say Tuesday
    assert days("0 8 * * 0") == days("0 8 * * 7") == ["Sun"]
    assert days("0 8 * * 1-5") == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert days("0 8 * * 5-7") == ["Sun", "Fri", "Sat"]  # Friday to Sunday
    assert days("0 8 * * mon,fri") == ["Mon", "Fri"]


def test_a_run_missed_during_downtime_is_posted_once_on_restart(
    make: Callable[..., Bot],
) -> None:
    first = make(paris(2026, 11, 23, 7, 0))
    seed(first)
    first.run()
    assert first.posts() == []  # not yet 08:00
    first.rt.close()

    # Down from 07:00 to 10:30: the 08:00 run is 2.5 h late, within the 6 h grace.
    second = make(paris(2026, 11, 23, 10, 30))
    second.run()
    posts = second.posts()
    assert len(posts) == 1
    assert posts[0]["text"].startswith("Weekly digest · 16 Nov 2026 → 23 Nov 2026: 6 verdict(s)")
    thread = second.emulator.thread(DIGESTS, posts[0]["ts"])
    assert len(thread) == 2  # the chart, then what customers said
    files = thread[0].get("files") or []
    assert len(files) == 1 and files[0]["title"] == "Verdicts by reason, last 5 weeks"
    png = second.emulator.file_bytes(files[0]["id"])
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert "[PHONE]" in block_text(thread[1])
    [run] = second.runs()
    assert (run.trigger, run.period_start, run.period_end) == (
        "schedule",
        paris(2026, 11, 16, 8, 0),
        FIRE,
    )
    assert (run.slack_ts, run.chart_file_id, run.details_sent) == (
        posts[0]["ts"],
        files[0]["id"],
        1,
    )

    # More passes, and another restart: still one post.
    second.at(paris(2026, 11, 23, 11, 0))
    third = make(paris(2026, 11, 23, 12, 0))
    third.run()
    assert len(third.posts()) == 1 and len(third.runs()) == 1

    # Down over the next Monday until 15:00: 7 h late is beyond the grace, so it is skipped.
    third.rt.close()
    fourth = make(paris(2026, 11, 30, 15, 0))
    fourth.run()
    assert len(fourth.posts()) == 1 and len(fourth.runs()) == 1
    # Up at the following fire time: posted on time.
    fourth.at(paris(2026, 12, 7, 8, 0))
    assert len(fourth.posts()) == 2
    assert [r.period_end for r in fourth.runs()] == [FIRE, paris(2026, 12, 7, 8, 0)]


def test_two_workers_at_the_same_moment_post_one_digest(make: Callable[..., Bot]) -> None:
    clock = ManualClock(paris(2026, 11, 23, 7, 59))
    one = make(clock.now(), clock=clock)
    two = make(clock.now(), clock=clock)  # another process: its own engine and connections
    seed(one)
    one.run()
    two.run()
    clock.advance(timedelta(minutes=1))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(bot: Bot) -> None:
        try:
            start.wait()
            bot.run()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(bot,)) for bot in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    one.run()
    two.run()
    assert len(one.posts()) == 1
    with one.rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(DigestRun)) == 1
    thread_replies = one.emulator.thread(DIGESTS, one.posts()[0]["ts"])
    assert len(thread_replies) == 2  # one chart, one details message: nothing twice


def test_a_quiet_week_says_so_in_one_line(make: Callable[..., Bot]) -> None:
    bot = make(paris(2026, 11, 23, 8, 0))
    bot.run()
    [post] = bot.posts()
    assert post["text"] == (
        ":zzz: Weekly digest · 16 Nov 2026 → 23 Nov 2026: a quiet week. No verdict arrived, no"
        " case opened or closed, nothing is overdue or waiting for review."
    )
    assert len(post["blocks"]) == 1
    assert bot.emulator.thread(DIGESTS, post["ts"]) == []  # no chart, no details
    [run] = bot.runs()
    assert run.quiet and run.chart_png is None


def test_a_quiet_day_in_french(make: Callable[..., Bot]) -> None:
    daily = {"name": "quotidien", "channel": DIGESTS, "schedule": "30 9 * * 1-5", "period": "day"}
    bot = make(paris(2026, 11, 24, 9, 30), language="fr", digests=[daily])
    bot.run()
    [post] = bot.posts()
    assert post["text"].startswith(
        ":zzz: Digest du jour · 23 nov. 2026 → 24 nov. 2026 : journée calme."
    )


def test_digest_now_queues_a_post_and_names_what_is_wrong(make: Callable[..., Bot]) -> None:
    bot = make(paris(2026, 11, 25, 15, 0))
    seed(bot)
    bot.run()
    assert bot.posts() == []  # Wednesday: nothing scheduled
    team = bot.rt.settings.team
    with transaction(bot.rt.factory) as session:
        said = digests.post_now(session, team, None, bot.clock.now(), taxonomy=bot.rt.taxonomy)
    assert said == "Digest `weekly` (18 Nov → 25 Nov) is on its way to <#C0DIGEST>."
    bot.run()
    [post] = bot.posts()
    assert post["text"].startswith("Weekly digest · 18 Nov 2026 → 25 Nov 2026:")
    [run] = bot.runs()
    assert run.trigger == "manual" and run.period_end == bot.clock.now()

    with transaction(bot.rt.factory) as session, pytest.raises(digests.DigestError) as unknown:
        digests.post_now(session, team, "monthly", bot.clock.now())
    assert str(unknown.value) == "There is no digest named `monthly`. Digests: `weekly`."
    bare = team.model_copy(update={"digests": []})
    with transaction(bot.rt.factory) as session, pytest.raises(digests.DigestError) as none:
        digests.post_now(session, bare, None, bot.clock.now())
    assert str(none.value).startswith("No digest is configured: add a `digests:` list")


def test_the_terminal_shows_the_same_digest(make: Callable[..., Bot]) -> None:
    bot = make(FIRE - timedelta(days=30))
    seed(bot)
    summary, details = digest_messages(_build(bot))
    text = plain_text(summary)
    assert "Weekly digest · 16 Nov 2026 → 23 Nov 2026\n=====" in text
    assert "Opened 5 · resolved 2 · expired 2 · overdue now 1" in text
    assert "reminded: #C0TRIAGE, @U0AGENT" in text
    assert "> The network drops every evening" in plain_text(details[0])


def test_slack_faults_during_delivery_neither_lose_nor_repeat_a_digest(
    make: Callable[..., Bot],
) -> None:
    bot = make(paris(2026, 11, 23, 7, 59))
    seed(bot)
    bot.run()
    # The summary reaches Slack but its answer is lost; then the upload is rate limited; then
    # the details reach Slack and their answer is lost too. Each is retried after its backoff,
    # resuming where it stopped, and what went out is found again by its metadata.
    bot.emulator.inject_fault("chat.postMessage", status=500, apply_then_fail=True)
    bot.emulator.inject_fault("files.completeUploadExternal", status=429, retry_after=5)
    bot.emulator.inject_fault("chat.postMessage", status=500, apply_then_fail=True)
    bot.at(paris(2026, 11, 23, 8, 0))
    for _ in range(8):  # each retry waits its backoff on the manual clock
        bot.at(bot.clock.now() + timedelta(seconds=30))
    [post] = bot.posts()  # found again by its metadata, not posted twice
    thread = bot.emulator.thread(DIGESTS, post["ts"])
    assert [bool(m.get("files")) for m in thread] == [True, False]  # one chart, one details
    [run] = bot.runs()
    assert run.slack_ts == post["ts"] and run.details_sent == 1
    with bot.rt.factory() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "digest"))
        assert (row.status, row.attempts) == ("sent", 4)


# --- configuration and the command line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "expected"),
    [
        ({"schedule": "0 8 * *"}, "digests[0].schedule: '0 8 * *' is not a 5-field cron schedule"),
        ({"schedule": "0 8 * * 9"}, "digests[0].schedule: '0 8 * * 9': '9' is not a weekday"),
        ({"schedule": "61 8 * * 1"}, "digests[0].schedule: '61 8 * * 1': Error validating"),
        ({"period": "month"}, "digests[0].period: Input should be 'day' or 'week'"),
        ({"channel": "digests"}, "digests[0].channel: 'digests' is not a Slack channel id"),
        ({"timezone": "Paris"}, "digests[0].timezone: 'Paris' is not an IANA time zone"),
        ({"sections": ["charts"]}, "digests[0].sections[0]: Input should be 'reasons'"),
        ({"grace": "soon"}, "digests[0].grace: invalid duration"),
        ({"every": "week"}, "digests[0].every: is not a known setting"),
    ],
)
def test_each_bad_digest_setting_is_named_in_one_line(
    tmp_path: Path, digest: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(team_config(digests=[{**WEEKLY, **digest}])), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_team_config(path)
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(f"{path}: {expected}"), error.value.problems


def test_digest_names_must_differ_and_digests_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(team_config(digests=[WEEKLY, WEEKLY])), encoding="utf-8")
    with pytest.raises(ConfigError, match="two digests are named 'weekly'"):
        load_team_config(path)
    path.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    assert load_team_config(path).digests == []


def test_triage_digest_print_shows_it_and_saves_the_chart(
    make: Callable[..., Bot], tmp_path: Path, database_url: str
) -> None:
    bot = make(FIRE - timedelta(days=30))
    seed(bot)
    chart = tmp_path / "chart.png"
    env = {
        "DATABASE_URL": database_url,
        "TRIAGE_CONFIG": str(tmp_path / "triage.yaml"),  # written by make()
    }
    result = triage(
        "digest",
        "--print",
        "--name",
        "weekly",
        "--at",
        FIRE.isoformat(),
        "--chart",
        str(chart),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Weekly digest · 16 Nov 2026 → 23 Nov 2026" in result.stdout
    assert "Opened 5 · resolved 2 · expired 2 · overdue now 1" in result.stdout
    assert f"chart saved to {chart}" in result.stdout
    assert chart.read_bytes().startswith(PNG_SIGNATURE)

    unknown = triage("digest", "--print", "--name", "monthly", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "triage: digest: There is no digest named `monthly`. Digests: `weekly`."
    )


def test_the_documented_digests_example_is_valid(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "digests.md").read_text(
        encoding="utf-8"
    )
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(team_config(**yaml.safe_load(example))), encoding="utf-8")
    team = load_team_config(path)
    assert [(d.name, d.period, len(d.sections)) for d in team.digests] == [
        ("weekly", "week", 7),
        ("daily", "day", 2),
    ]


def test_sixty_expired_cases_stay_within_slack_limits(make: Callable[..., Bot]) -> None:
    bot = make(paris(2026, 11, 23, 7, 0))
    with transaction(bot.rt.factory) as s:
        for n in range(60):
            customer = _customer(s, f"many{n}@example.com")
            opened = paris(2026, 11, 16, 9, 0) + timedelta(minutes=n)
            _case(
                s,
                customer,
                "contract_commitment",
                opened,
                status="expired",
                outcome="expired_without_action",
                closed_at=opened + timedelta(days=2),
            )
            _verdict(s, customer, opened, "contract_commitment", 0.9, text="x" * 3000)
    bot.at(paris(2026, 11, 23, 8, 0))
    [post] = bot.posts()  # the emulator refuses what Slack refuses (invalid_blocks)
    text = block_text(post)
    assert ":hourglass: *Expired without action: 60*" in text
    assert "… and 50 more" in text and text.count("· Contract and commitment ·") == 10
    assert len(post["blocks"]) <= 50
    thread = bot.emulator.thread(DIGESTS, post["ts"])
    assert len(thread) == 3  # the chart, the verbatim, the full lists
    full = block_text(thread[2])
    assert full.count("· Contract and commitment ·") == 50 and "… and 10 more" in full
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in thread[2]["blocks"])
