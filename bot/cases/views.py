"""The App Home tab and the answers of `/triage list` and `/triage stats`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
)
from slack_sdk.models.views import View

from bot.cases.card import CardContext, thread_link
from bot.classification.taxonomy import Taxonomy
from bot.slack.blocks import (
    HEADER_LIMIT,
    Message,
    fold,
    format_time,
    relative_time,
    section_block,
    text_message,
)
from bot.slack.i18n import t
from storage.models import Case


def home_view(
    owned: list[Case],
    unassigned: list[Case],
    overdue: list[Case],
    ctx: CardContext,
    team_url: str,
) -> dict[str, Any]:
    """A person's App Home: their open cases by deadline, cases waiting for an owner, overdue ones."""
    lang = ctx.lang
    blocks: list[Block] = [HeaderBlock(text=fold(t(lang, "home_title"), HEADER_LIMIT))]
    for title, cases in (
        ("home_mine", owned),
        ("home_unassigned", unassigned),
        ("home_overdue", overdue),
    ):
        blocks.append(section_block(f"*{t(lang, title)}*"))
        if not cases:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=t(lang, "home_none"))]))
        for case in cases[:10]:
            line = (
                f"*#{case.id}* · {ctx.taxonomy.label(case.primary_reason, lang)} · "
                f"{t(lang, 'deadline')}: {format_time(case.deadline_at, ctx.tz)} "
                f"({relative_time(lang, case.deadline_at, ctx.now)})"
            )
            if case.owner_id and title != "home_mine":
                line += f" · <@{case.owner_id}>"
            section = section_block(line)
            link = thread_link(team_url, case)
            if link:
                section.accessory = ButtonElement(
                    text=t(lang, "open_thread"),
                    url=link,
                    action_id=f"open_thread:{title}:{case.id}",
                )
            blocks.append(section)
        blocks.append(DividerBlock())
    return View(type="home", blocks=blocks[:100]).to_dict()


# --- /triage answers --------------------------------------------------------------------------

LIST_MORE_ACTION = "triage_list_more"


def list_message(
    rows: list[tuple[Case, str | None]],
    total: int,
    offset: int,
    more: bool,
    more_state: str,
    team: Any,
    taxonomy: Taxonomy,
    now: datetime,
) -> Message:
    """A compact page of cases: deadline, owner, reason, a link to each thread, and "more"."""
    lang = team.language
    if not rows:
        return text_message(t(lang, "cmd_list_empty"))
    lines = []
    for case, link in rows:
        label = f"<{link}|#{case.id}>" if link else f"#{case.id}"
        owner = f"<@{case.owner_id}>" if case.owner_id else t(lang, "unclaimed")
        overdue = (
            " :rotating_light:"
            if case.deadline_at < now and case.status in ("open", "claimed", "contacting")
            else ""
        )
        lines.append(
            f"{label} · {taxonomy.label(case.primary_reason, lang)} · {owner} · "
            f"{format_time(case.deadline_at, team.tz)} ({relative_time(lang, case.deadline_at, now)}){overdue}"
        )
    header = t(lang, "cmd_list_header", first=offset + 1, last=offset + len(rows), total=total)
    blocks: list[Block] = [section_block(f"*{header}*"), section_block("\n".join(lines))]
    if more:
        blocks.append(
            ActionsBlock(
                block_id="triage_list",
                elements=[
                    ButtonElement(
                        text=t(lang, "cmd_more"),
                        action_id=LIST_MORE_ACTION,
                        value=fold(more_state, 2000),
                    )
                ],
            )
        )
    return Message(text=header, blocks=[b.to_dict() for b in blocks])


def span_text(seconds: float | None, lang: str) -> str:
    """A duration as a person says it: minutes, hours or days."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return t(lang, "span_min", n=max(1, round(seconds / 60)))
    if seconds < 48 * 3600:
        return t(lang, "span_h", n=round(seconds / 3600, 1))
    return t(lang, "span_d", n=round(seconds / 86400, 1))


def stats_message(figures: dict[str, Any], period: Any, team: Any, taxonomy: Taxonomy) -> Message:
    """`/triage stats`: why customers leave and whether the team acts, over a period."""
    lang = team.language
    days = max(1, round(period.total_seconds() / 86400))
    reasons: dict[str, int] = figures["reasons"]
    before: dict[str, int] = figures["reasons_before"]
    lines = []
    for reason in sorted(set(reasons) | set(before), key=lambda r: (-reasons.get(r, 0), r)):
        now_n, then_n = reasons.get(reason, 0), before.get(reason, 0)
        change = now_n - then_n
        arrow = f"+{change}" if change > 0 else str(change)
        lines.append(f"• {taxonomy.label(reason, lang)}: *{now_n}* ({arrow})")
    cases: dict[str, int] = figures["cases"]
    # Expired cases count against the team: the share is of every case closed in the period.
    closed = cases["resolved"] + cases["expired"]
    share = f"{round(100 * cases['resolved_before_deadline'] / closed)}%" if closed else "–"
    team_lines = [
        t(lang, "stats_opened", n=cases["opened"]),
        t(lang, "stats_resolved", n=cases["resolved"], share=share),
        t(lang, "stats_expired", n=cases["expired_without_action"]),
        t(lang, "stats_overdue", n=cases["overdue"]),
        t(lang, "stats_claim", value=span_text(figures["claim"], lang)),
        t(lang, "stats_contact", value=span_text(figures["contact"], lang)),
        t(lang, "stats_fatigue", n=figures["fatigued"]),
    ]
    load = ", ".join(f"<@{owner}> {n}" for owner, n in figures["load"][:15]) or "–"
    blocks: list[Block] = [
        HeaderBlock(text=fold(t(lang, "stats_title", days=days), HEADER_LIMIT)),
        section_block(
            f"*{t(lang, 'stats_reasons')}*\n" + ("\n".join(lines) or t(lang, "stats_quiet"))
        ),
        section_block("\n".join(team_lines)),
        section_block(f"*{t(lang, 'stats_load')}*\n{load}"),
        section_block(
            f"*{t(lang, 'stats_classifier')}*\n{_classifier_text(figures, taxonomy, lang)}"
        ),
    ]
    return Message(text=t(lang, "stats_title", days=days), blocks=[b.to_dict() for b in blocks])


def _classifier_text(figures: dict[str, Any], taxonomy: Taxonomy, lang: str) -> str:
    """How often people corrected the classifier, and its precision per reason it gave."""
    given: dict[str, tuple[int, int]] = figures.get("classifier") or {}
    total = sum(n for n, _ in given.values())
    if not total:
        return t(lang, "stats_no_classified")
    corrected = sum(c for _, c in given.values())
    rate = t(lang, "stats_corrected", n=corrected, total=total, share=_share(corrected, total))
    order = sorted(given.items(), key=lambda item: (-item[1][0], item[0]))[:12]
    values = " · ".join(
        f"{taxonomy.label(r, lang)} {_share(n - c, n)} ({n - c}/{n})" for r, (n, c) in order
    )
    return f"{rate}\n{t(lang, 'stats_precision', values=values)}"


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"
