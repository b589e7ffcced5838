"""Digests: what customers said over a period, what the team did, and a chart, posted to Slack.

A digest covers the `period` (a day or a week, in wall-clock time of its time zone) that ends at
its cron fire time, compared with the period before. Figures come from SQL (`storage.digests`,
the digests section); this module assembles them, draws the chart and queues the post.

Scheduling is safe with any number of processes: each keeps in memory only when its digests
next fall due; when one does, the run is recorded in `digest_runs`, whose unique key
(digest, period start) lets exactly one process insert it, in the transaction that queues the
post in the outbox. A run missed while nothing was running is posted on restart if its fire
time is within the digest's `grace`; older missed runs are skipped (never a flood).
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.digests
from bot.cases.card import thread_link
from bot.classification.taxonomy import Taxonomy, load_taxonomy
from bot.digests.figures import CaseLine, Chart, Digest, ReasonLine, Verbatim
from bot.digests.views import digest_messages
from bot.privacy.masking import mask
from bot.runtime.cron import cron_trigger, fire_times
from bot.runtime.settings import DigestConfig, TeamConfig
from bot.slack import outbox
from bot.slack.blocks import plain_text
from bot.slack.gateway import SlackDeliveryError, SlackGateway
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import Case, DigestRun, OutboxMessage

log = logging.getLogger(__name__)

DIGEST_EVENT_TYPE = "triage_digest"  # message metadata: a retry adopts a post that went out
LISTED = 50  # named cases and customers fetched per list (the summary shows the first few)
VERBATIM_CHARS = 500
RETRY = timedelta(minutes=1)  # after a failure to queue a due digest
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7)}


class DigestError(Exception):
    """A digest cannot be posted as asked; the message says why, in the team's language."""


def _tz(team: TeamConfig, config: DigestConfig) -> ZoneInfo:
    return ZoneInfo(config.timezone or team.timezone)


def period_bounds(
    config: DigestConfig, tz: ZoneInfo, end: datetime, periods: int
) -> list[datetime]:
    """`periods + 1` boundaries ending at `end`, a period apart in wall-clock time (a week is
    Monday 08:00 to Monday 08:00 across a DST change), oldest first, in UTC."""
    local = end.astimezone(tz)
    step = PERIODS[config.period]
    bounds = []
    for k in range(periods, -1, -1):
        # Arithmetic on an aware local datetime keeps the wall time; astimezone then applies
        # the offset in force at that wall time (summer or winter).
        bounds.append((local - step * k).astimezone(UTC))
    return bounds


def build(
    session: Session,
    team: TeamConfig,
    config: DigestConfig,
    end: datetime,
    now: datetime,
    taxonomy: Taxonomy,
    team_url: str | None = None,
) -> Digest:
    """The digest of the period ending at `end`; snapshot figures (overdue, review) as of `now`."""
    tz, lang = _tz(team, config), team.language
    bounds = period_bounds(config, tz, end, config.chart_periods)
    start, previous_start = bounds[-2], bounds[-3]
    current, previous = len(bounds) - 2, len(bounds) - 3
    by_bucket = storage.digests.reasons_by_bucket(session, bounds)
    order = {reason: i for i, reason in enumerate(taxonomy.ids())}
    seen = sorted({reason for _, reason in by_bucket}, key=lambda r: (order.get(r, 99), r))
    series = {r: [by_bucket.get((b, r), 0) for b in range(len(bounds) - 1)] for r in seen}

    lines = [
        ReasonLine(r, series[r][current], series[r][previous])
        for r in seen
        if series[r][current] or series[r][previous]
    ]
    lines.sort(key=lambda line: (-line.count, -line.change, order.get(line.reason, 99)))
    rising = sorted((line for line in lines if line.change > 0), key=lambda x: -x.change)
    telling = storage.digests.telling_verbatims(
        session, start, end, [line.reason for line in rising]
    )
    verbatims = [
        Verbatim(
            line.reason,
            mask(telling[line.reason].text, team.default_country),
            telling[line.reason].channel,
            telling[line.reason].score,
            telling[line.reason].case_id,
            line.change,
        )
        for line in rising
        if line.reason in telling
    ]
    total, without_consent = storage.digests.verdict_totals(session, start, end)
    flow = storage.digests.case_flow(session, start, end)

    expired_cases, expired_total = storage.digests.expired_without_action(
        session, start, end, LISTED
    )
    ids = [case.id for case in expired_cases]
    reminded = storage.digests.reminded(session, ids)
    escalations = storage.digests.escalation_counts(session, ids)
    overdue_cases = storage.cases.overdue_cases(session, now, LISTED)

    def line(case: Case, **extra: Any) -> CaseLine:
        link = thread_link(team_url, case) if team_url else None
        return CaseLine(
            case.id, case.primary_reason, case.owner_id, case.deadline_at, link, **extra
        )

    window = team.fatigue.window.total
    fatigue, fatigue_total = storage.digests.fatigued_in_period(
        session, end - window, start, end, team.fatigue.threshold, LISTED
    )
    return Digest(
        name=config.name,
        period=config.period,
        lang=lang,
        tz=tz,
        start=start,
        end=end,
        now=now,
        sections=tuple(config.sections),
        verdicts=total,
        verdicts_previous=storage.digests.verdict_totals(session, previous_start, start)[0],
        without_consent=without_consent,
        reasons=lines,
        verbatims=verbatims,
        opened=flow.opened,
        resolved={o: n for (s, o), n in sorted(flow.closed.items()) if s == "resolved"},
        expired={o: n for (s, o), n in sorted(flow.closed.items()) if s == "expired"},
        resolved_in_time=flow.resolved_in_time,
        expired_without_action=[
            line(c, reminded=tuple(reminded.get(c.id, ())), escalations=escalations.get(c.id, 0))
            for c in expired_cases
        ],
        expired_without_action_total=expired_total,
        overdue=[line(c) for c in overdue_cases],
        overdue_total=storage.digests.overdue_count(session, now),
        median_claim=storage.digests.median_seconds_to_claim(session, start, end),
        median_first_contact=storage.digests.median_seconds_to_first_contact(session, start, end),
        fatigue=fatigue,
        fatigue_total=fatigue_total,
        fatigue_threshold=team.fatigue.threshold,
        fatigue_days=max(1, round(window.total_seconds() / 86400)),
        review=storage.digests.review_backlog(
            session, team.classification.review_threshold, LISTED
        ),
        chart=Chart(bounds[:-1], series),
        # Reasons of an older taxonomy version stay in the digest, labelled as retired.
        labels={r: taxonomy.label(r, lang) for r in (*taxonomy.ids(), *seen)},
    )


# --- the chart ---------------------------------------------------------------------------------


def chart_title(digest: Digest) -> str:
    """The chart's title, in the team's language."""
    return t(digest.lang, f"digest_chart_title_{digest.period}", n=len(digest.chart.starts))


def period_label(lang: str, moment: datetime, tz: ZoneInfo) -> str:
    """A short local date, like `16 Nov` or `16 nov.`."""
    local = moment.astimezone(tz)
    months = t(lang, "months").split()
    return f"{local.day} {months[local.month - 1]}"


def chart_png(digest: Digest) -> bytes:
    """A stacked bar chart of verdicts per reason over the last periods, as PNG bytes.

    Drawn with matplotlib's Agg canvas (headless; no pyplot state, so threads are safe). The
    series travel in the PNG's `Series` text chunk as JSON, so the file tells what it shows.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    chart = digest.chart
    labels = [period_label(digest.lang, start, digest.tz) for start in chart.starts]
    figure = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    palette = colormaps["tab10"]
    bottom = [0] * len(labels)
    positions = list(range(len(labels)))  # by position: two periods may share a label
    for i, (reason, counts) in enumerate(chart.series.items()):
        axes.bar(
            positions, counts, bottom=bottom, label=digest.label(reason), color=palette(i % 10)
        )
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_xticks(positions, labels)
    axes.set_title(chart_title(digest))
    axes.set_ylabel(t(digest.lang, "digest_chart_axis"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    if chart.series:
        handles, names = axes.get_legend_handles_labels()  # top of the stack first
        axes.legend(
            handles[::-1],
            names[::-1],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=9,
        )
    data = {
        "periods": [start.isoformat() for start in chart.starts],
        "labels": labels,
        "series": chart.series,
    }
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        metadata={"Title": chart_title(digest), "Series": json.dumps(data), "Software": None},
    )
    return buffer.getvalue()


def chart_filename(digest: Digest) -> str:
    """Where the chart goes: `digest-NAME-YYYY-MM-DD.png` (the period's last day, local)."""
    last_day = (digest.end - timedelta(microseconds=1)).astimezone(digest.tz).date()
    return f"digest-{digest.name}-{last_day.isoformat()}.png"


# --- queueing a post ---------------------------------------------------------------------------


def _config(team: TeamConfig, name: str | None) -> DigestConfig:
    lang = team.language
    if not team.digests:
        raise DigestError(t(lang, "digest_none_configured"))
    if name is None:
        return team.digests[0]
    for config in team.digests:
        if config.name == name:
            return config
    names = ", ".join(f"`{d.name}`" for d in team.digests)
    raise DigestError(t(lang, "digest_unknown", name=name, names=names))


def _queue(
    session: Session,
    team: TeamConfig,
    config: DigestConfig,
    digest: Digest,
    trigger: str,
    now: datetime,
    chart: bytes | None,
) -> bool:
    """Record the run and queue its post, in the caller's transaction; False when another
    process recorded this digest's period first."""
    run = DigestRun(
        digest=config.name,
        trigger=trigger,
        period_start=digest.start,
        period_end=digest.end,
        channel=config.channel,
        quiet=digest.quiet,
        chart_png=chart,
        details_sent=0,
        created_at=now,
    )
    if not storage.digests.insert_digest_run(session, run):
        return False
    summary, details = digest_messages(digest)
    payload: dict[str, Any] = {
        "run_id": run.id,
        "summary": {"text": summary.text, "blocks": summary.blocks},
        "details": [{"text": m.text, "blocks": m.blocks} for m in details],
    }
    if chart is not None:
        payload["chart"] = {"filename": chart_filename(digest), "title": chart_title(digest)}
    outbox.enqueue_digest(session, config.channel, payload, now)
    return True


def _render_chart(digest: Digest) -> bytes | None:
    return None if digest.quiet or "chart" not in digest.sections else chart_png(digest)


def post_now(
    session: Session,
    team: TeamConfig,
    name: str | None,
    now: datetime,
    *,
    taxonomy: Taxonomy | None = None,
    team_url: str | None = None,
) -> str:
    """Queue the digest `name` (default: the first configured) over the period ending `now`, for
    posting through the outbox; returns a confirmation, or raises DigestError saying why not.

    Call it in a transaction, after acking Slack: drawing the chart takes a moment.
    """
    config = _config(team, name)
    taxonomy = taxonomy or load_taxonomy()
    digest = build(session, team, config, now, now, taxonomy, team_url)
    if not _queue(session, team, config, digest, "manual", now, _render_chart(digest)):
        raise DigestError(t(team.language, "digest_already", name=config.name))
    return t(
        team.language,
        "digest_queued",
        name=config.name,
        channel=config.channel,
        start=period_label(team.language, digest.start, digest.tz),
        end=period_label(team.language, digest.end, digest.tz),
    )


def render_text(
    session: Session,
    team: TeamConfig,
    name: str | None,
    now: datetime,
    taxonomy: Taxonomy,
) -> tuple[str, Digest]:
    """The digest over the period ending `now`, as terminal text (`triage digest --print`)."""
    config = _config(team, name)
    digest = build(session, team, config, now, now, taxonomy)
    summary, details = digest_messages(digest)
    return "\n\n".join(plain_text(m) for m in (summary, *details)), digest


# --- the schedule ------------------------------------------------------------------------------


def due_run(config: DigestConfig, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The latest fire time at or before `now` and within the grace period, if any."""
    trigger = cron_trigger(config.schedule, tz)
    times = fire_times(trigger, now - config.grace.total, now)
    return times[-1] if times else None


class DigestScheduler:
    """When each digest next falls due, per process (in memory, like APScheduler's job store);
    whether a run is posted is decided by the database."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, ...], datetime] = {}

    def run_due(
        self,
        factory: sessionmaker[Session],
        team: TeamConfig,
        now: datetime,
        taxonomy: Taxonomy,
        team_url: str | None = None,
    ) -> int:
        """Post every digest whose fire time has come (or was missed within its grace) and that
        no process has posted yet; returns how many this process queued. Cheap when none is due."""
        queued = 0
        for config in team.digests:
            key = (config.name, config.schedule, config.timezone or team.timezone, config.period)
            if key in self._next and now < self._next[key]:
                continue
            tz = _tz(team, config)
            try:
                due = due_run(config, tz, now)
                if due is not None and post_scheduled(
                    factory, team, config, due, now, taxonomy, team_url
                ):
                    queued += 1
            except Exception:
                # A digest that fails (database blip, a bug on odd data) must not hold back the
                # rest of the pass: intake and Slack delivery run after it. Retried in a while.
                log.exception("digest %s could not be queued; retrying in %s", config.name, RETRY)
                self._next[key] = now + RETRY
                continue
            # Nothing to do until the next fire time (a restart recomputes it from the clock).
            following = cron_trigger(config.schedule, tz).get_next_fire_time(
                None, now + timedelta(microseconds=1)
            )
            self._next[key] = following or datetime.max.replace(tzinfo=UTC)
        return queued


def post_scheduled(
    factory: sessionmaker[Session],
    team: TeamConfig,
    config: DigestConfig,
    fire_time: datetime,
    now: datetime,
    taxonomy: Taxonomy,
    team_url: str | None = None,
) -> bool:
    """Queue the run of `config` that fired at `fire_time`, unless some process already did.

    The digest is built outside the write transaction (the chart takes a moment, and SQLite
    holds its write lock for the whole transaction); the insert-or-skip then decides.
    """
    tz = _tz(team, config)
    start = period_bounds(config, tz, fire_time, 1)[0]
    with factory() as session:
        if storage.digests.digest_run_exists(session, config.name, start):
            return False
        digest = build(session, team, config, fire_time, now, taxonomy, team_url)
    chart = _render_chart(digest)
    with transaction(factory) as session:
        queued = _queue(session, team, config, digest, "schedule", now, chart)
    if queued:
        log.info(
            "digest %s for %s..%s queued for %s",
            config.name,
            digest.start.isoformat(),
            digest.end.isoformat(),
            config.channel,
        )
    return queued


# --- delivery ----------------------------------------------------------------------------------


def sender(factory: sessionmaker[Session], gateway: SlackGateway) -> outbox.DigestSender:
    """How the outbox delivers a digest row: the summary in the channel, then the chart and the
    details in its thread. Each step is recorded on the run as it succeeds, so a retry resumes
    where it stopped; a summary whose answer was lost is found by its metadata, not re-posted."""

    def progress(run_id: int, **values: Any) -> None:
        with transaction(factory) as session:
            storage.digests.record_digest_progress(session, run_id, **values)

    def send(session: Session, row: OutboxMessage) -> str | None:
        payload = row.payload
        run = session.get(DigestRun, int(payload["run_id"]))
        if run is None:
            return None
        ts = run.slack_ts
        if ts is None:
            if row.attempts > 1:
                ts = gateway.find_by_metadata(row.channel, DIGEST_EVENT_TYPE, "run_id", run.id)
            if ts is None:
                summary = payload["summary"]
                metadata = {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"run_id": run.id}}
                ts = gateway.post_message(
                    row.channel, summary["text"], summary["blocks"], metadata=metadata
                )
            progress(run.id, slack_ts=ts)
        chart = payload.get("chart")
        if chart and run.chart_png and run.chart_file_id is None:
            try:
                file_id = gateway.upload_file(
                    row.channel,
                    chart["filename"],
                    run.chart_png,
                    title=chart["title"],
                    thread_ts=ts,
                )
            except SlackDeliveryError as exc:
                if not exc.permanent:
                    raise
                # A chart Slack refuses (no files:write scope) must not hold back the details.
                log.error("digest %s: chart not uploaded, Slack refused it: %s", run.digest, exc)
                file_id = ""
            progress(run.id, chart_file_id=file_id)
        details = payload.get("details") or []
        for index in range(run.details_sent, len(details)):
            message, part = details[index], f"{run.id}:{index}"
            found = None
            if row.attempts > 1:  # an earlier attempt may have posted it and lost the answer
                found = gateway.find_reply_by_metadata(
                    row.channel, ts, DIGEST_EVENT_TYPE, "part", part
                )
            if found is None:
                metadata = {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"part": part}}
                gateway.post_message(
                    row.channel, message["text"], message["blocks"], thread_ts=ts, metadata=metadata
                )
            progress(run.id, details_sent=index + 1)
        return ts

    return send
