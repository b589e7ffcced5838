"""A digest as Slack messages: the summary in the channel, the details in its thread."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.digests.figures import CaseLine, Digest
from bot.slack.blocks import (
    FIELD_LIMIT,
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    Message,
    fold,
    format_time,
    quote,
    relative_time,
    section_block,
    text_message,
)
from bot.slack.i18n import t
from storage.digests import FatiguedCustomer

DIGEST_LISTED = 10  # cases named in the summary; the thread lists the rest (up to 50)
DIGEST_FATIGUE_LISTED = 5


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else (f"−{-n}" if n < 0 else "±0")


def _digest_span(lang: str, seconds: float | None) -> str:
    """A duration as people say it: `45 min`, `2 h 10 min`, `3 d 4 h`."""
    if seconds is None:
        return t(lang, "digest_na")
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return t(lang, "span_min", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        rest = f" {t(lang, 'span_min', n=minutes)}" if minutes else ""
        return t(lang, "span_h", n=hours) + rest
    days, hours = divmod(hours, 24)
    return t(lang, "span_d", n=days) + (f" {t(lang, 'span_h', n=hours)}" if hours else "")


def _short_date(lang: str, moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    month = t(lang, "months").split()[local.month - 1]
    return f"{local.day} {month} {local.year}"


def _who(target: str) -> str:
    """A user or channel id as a mention."""
    return f"<#{target}>" if target.startswith(("C", "G")) else f"<@{target}>"


def _case_ref(lang: str, line: CaseLine) -> str:
    label = t(lang, "digest_case", id=line.case_id)
    return f"<{line.link}|{label}>" if line.link else label


def _packed(title: str, lines: list[str]) -> list[SectionBlock]:
    """`title` and `lines` in as many sections as Slack's 3000 characters need (never cut a line
    unless one alone is too long)."""
    sections: list[SectionBlock] = []
    current = title
    for line in lines:
        if len(current) + 1 + len(line) > SECTION_LIMIT and current:
            sections.append(section_block(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(section_block(current))
    return sections


def _expired_lines(d: Digest, lines: list[CaseLine]) -> list[str]:
    lang = d.lang
    out = []
    for line in lines:
        owner = f"<@{line.owner_id}>" if line.owner_id else t(lang, "no_owner")
        reminded = ", ".join(_who(x) for x in line.reminded) or t(lang, "digest_nobody")
        out.append(
            t(
                lang,
                "digest_expired_line",
                case=_case_ref(lang, line),
                reason=d.label(line.reason),
                owner=owner,
                reminded=reminded,
                told=line.escalations,
            )
        )
    return out


def _overdue_lines(d: Digest, lines: list[CaseLine]) -> list[str]:
    lang = d.lang
    return [
        t(
            lang,
            "digest_overdue_line",
            case=_case_ref(lang, line),
            reason=d.label(line.reason),
            owner=f"<@{line.owner_id}>" if line.owner_id else t(lang, "no_owner"),
            deadline=format_time(line.deadline_at, d.tz),
            relative=relative_time(lang, line.deadline_at, d.now),
        )
        for line in lines
    ]


def _fatigue_lines(d: Digest, rows: list[FatiguedCustomer]) -> list[str]:
    lang = d.lang
    return [
        t(
            lang,
            "digest_fatigue_line",
            case=t(lang, "digest_case", id=row.case_id)
            if row.case_id
            else t(lang, "digest_no_case"),
            surveys=row.surveys,
            contacts=row.contacts,
        )
        for row in rows
    ]


def _more(lang: str, total: int, shown: int) -> list[str]:
    return [t(lang, "digest_more", count=total - shown)] if total > shown else []


def _reasons_text(d: Digest) -> str:
    lang = d.lang
    head = t(
        lang,
        f"digest_verdicts_{d.period}",
        count=d.verdicts,
        change=_signed(d.verdicts - d.verdicts_previous),
    )
    if d.without_consent:
        head += "\n" + t(lang, "digest_without_consent", count=d.without_consent)
    lines = [
        t(
            lang,
            "digest_reason_line",
            reason=d.label(r.reason),
            count=r.count,
            change=_signed(r.change),
        )
        for r in d.reasons
    ]
    return "\n".join([f"*{t(lang, 'digest_reasons')}*", head, *lines])


def _outcomes(lang: str, by_outcome: dict[str, int]) -> str:
    parts = sorted(by_outcome.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{t(lang, f'resolution_{o}')} {n}" for o, n in parts)


def _cases_text(d: Digest) -> str:
    lang = d.lang
    lines = [
        f"*{t(lang, 'digest_cases')}*",
        t(
            lang,
            "digest_cases_line",
            opened=d.opened,
            resolved=sum(d.resolved.values()),
            expired=sum(d.expired.values()),
            overdue=d.overdue_total,
        ),
    ]
    if d.resolved:
        lines.append(t(lang, "digest_resolved_by", outcomes=_outcomes(lang, d.resolved)))
    if d.expired:
        lines.append(t(lang, "digest_expired_by", outcomes=_outcomes(lang, d.expired)))
    return "\n".join(lines)


def _speed_text(d: Digest) -> str:
    lang = d.lang
    share = d.share_in_time
    in_time = (
        t(
            lang,
            "digest_in_time",
            pct=round(100 * share),
            ok=d.resolved_in_time,
            closed=d.closed,
        )
        if share is not None
        else t(lang, "digest_in_time_none")
    )
    return "\n".join(
        [
            f"*{t(lang, 'digest_speed')}*",
            in_time,
            t(lang, "digest_median_claim", value=_digest_span(lang, d.median_claim)),
            t(lang, "digest_median_contact", value=_digest_span(lang, d.median_first_contact)),
        ]
    )


def _review_text(d: Digest) -> str:
    lang, review = d.lang, d.review
    text = t(
        lang,
        "digest_review",
        cases=review.cases,
        provisional=review.provisional,
        low=review.low_confidence,
    )
    if review.case_ids:
        shown = ", ".join(f"#{i}" for i in review.case_ids[:DIGEST_LISTED])
        text += "\n" + t(lang, "digest_review_cases", cases=shown)
        text += "".join(
            " " + m for m in _more(lang, review.cases, min(len(review.case_ids), DIGEST_LISTED))
        )
    return text


def digest_messages(d: Digest) -> tuple[Message, list[Message]]:
    """A digest as Slack messages: the summary for the channel, and the replies for its thread
    (the verbatims of rising reasons, then the lists too long for the summary)."""
    lang = d.lang
    title = t(lang, f"digest_title_{d.period}")
    span = f"{_short_date(lang, d.start, d.tz)} → {_short_date(lang, d.end, d.tz)}"
    if d.quiet:
        return text_message(t(lang, f"digest_quiet_{d.period}", title=title, span=span)), []
    sections = set(d.sections)
    blocks: list[Block] = [
        HeaderBlock(text=fold(f"{title} · {span}", HEADER_LIMIT)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{format_time(d.start, d.tz)} → {format_time(d.end, d.tz)} · `{d.name}`"
                )
            ]
        ),
    ]
    if "reasons" in sections:
        blocks.append(section_block(_reasons_text(d)))
    if "cases" in sections:
        blocks += [DividerBlock(), section_block(_cases_text(d))]
    # Expired without action is in every digest, whatever its sections (the product's rule).
    if d.expired_without_action_total:
        shown = d.expired_without_action[:DIGEST_LISTED]
        title_line = t(lang, "digest_expired_title", count=d.expired_without_action_total)
        more = _more(lang, d.expired_without_action_total, len(shown))
        blocks += _packed(title_line, _expired_lines(d, shown) + more)
    if "cases" in sections and d.overdue_total:
        shown = d.overdue[:DIGEST_LISTED]
        title_line = t(lang, "digest_overdue_title", count=d.overdue_total)
        blocks += _packed(
            title_line, _overdue_lines(d, shown) + _more(lang, d.overdue_total, len(shown))
        )
    if "speed" in sections:
        blocks += [DividerBlock(), section_block(_speed_text(d))]
    if "fatigue" in sections:
        key = "digest_fatigue" if d.fatigue_total else "digest_fatigue_none"
        title_line = t(
            lang, key, count=d.fatigue_total, threshold=d.fatigue_threshold, days=d.fatigue_days
        )
        shown_fatigue = d.fatigue[:DIGEST_FATIGUE_LISTED]
        more = _more(lang, d.fatigue_total, len(shown_fatigue))
        blocks += _packed(title_line, _fatigue_lines(d, shown_fatigue) + more)
    if "review" in sections:
        blocks.append(section_block(_review_text(d)))

    details: list[Message] = []
    if "verbatims" in sections and d.verbatims:
        verbatim_blocks: list[Block] = [section_block(f"*{t(lang, 'digest_verbatims')}*")]
        for v in d.verbatims[: (MAX_BLOCKS - 1) // 2]:
            meta = t(
                lang, "digest_verbatim_meta", reason=d.label(v.reason), change=_signed(v.change)
            )
            meta += " · " + t(lang, f"channel_{v.channel}")
            if v.score is not None:
                meta += " · " + t(lang, "score", score=v.score)
            if v.case_id is not None:
                meta += " · " + t(lang, "digest_case", id=v.case_id)
            verbatim_blocks += [
                ContextBlock(elements=[MarkdownTextObject(text=fold(meta, FIELD_LIMIT))]),
                section_block(quote(fold(v.text, 500))),
            ]
        details.append(
            Message(
                text=t(lang, "digest_verbatims"),
                blocks=[b.to_dict() for b in verbatim_blocks[:MAX_BLOCKS]],
            )
        )
    full: list[Block] = []
    if len(d.expired_without_action) > DIGEST_LISTED:
        title_line = t(lang, "digest_expired_title", count=d.expired_without_action_total)
        more = _more(lang, d.expired_without_action_total, len(d.expired_without_action))
        full += _packed(title_line, _expired_lines(d, d.expired_without_action) + more)
    if "cases" in sections and len(d.overdue) > DIGEST_LISTED:
        title_line = t(lang, "digest_overdue_title", count=d.overdue_total)
        full += _packed(
            title_line, _overdue_lines(d, d.overdue) + _more(lang, d.overdue_total, len(d.overdue))
        )
    if "fatigue" in sections and len(d.fatigue) > DIGEST_FATIGUE_LISTED:
        title_line = t(
            lang,
            "digest_fatigue",
            count=d.fatigue_total,
            threshold=d.fatigue_threshold,
            days=d.fatigue_days,
        )
        full += _packed(
            title_line, _fatigue_lines(d, d.fatigue) + _more(lang, d.fatigue_total, len(d.fatigue))
        )
    if full:
        details.append(
            Message(
                text=t(lang, "digest_full_lists"), blocks=[b.to_dict() for b in full[:MAX_BLOCKS]]
            )
        )
    if details or "chart" in sections:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t(lang, "digest_see_thread"))])
        )
    fallback = t(
        lang,
        "digest_fallback",
        title=title,
        span=span,
        verdicts=d.verdicts,
        opened=d.opened,
        expired=d.expired_without_action_total,
        overdue=d.overdue_total,
    )
    summary = Message(text=fallback, blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]])
    return summary, details
