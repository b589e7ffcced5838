"""From items to a verdict: which answer fills which field, which text is the verbatim, and
consent three-valued with a refusal anywhere winning."""

from __future__ import annotations

import re

import bot.intake.parsing.prose as prose
import bot.intake.parsing.values as values
from bot.intake.parsing.model import MAX_VERBATIM_CHARS, CustomerRef, ParsedVerdict, fold
from bot.intake.parsing.references import find_refs, refs_in_value
from bot.intake.parsing.shapes import Item, slack_to_plain, split_items
from bot.intake.parsing.vocabulary import Vocabulary, load_vocabulary

_PROSE_WORDS = 3  # an unknown label's answer of this many words is the customer's, not a code


class _Read:
    """What the items said, field by field, as they are read."""

    def __init__(self) -> None:
        self.refs: list[CustomerRef] = []
        self.consents: list[bool] = []
        self.status: str | None = None
        self.churned_on: str | None = None
        self.channel: str | None = None
        self.score: tuple[int, str] | None = None
        self.source: str | None = None
        self.answers: list[Item] = []  # free-text answers, in order
        self.unparsed: list[str] = []
        self.labels: list[tuple[str, str]] = []


_EMPTY = re.compile(
    r"^[\s(<\[]*(?:no answer|not answered|sans reponse|pas de reponse|null|none|n/?a|nan|empty"
    r"|vide|non renseigne|-+|/|skipped|not asked|non demande|\.+)[\s)>\]]*$"
)
_BOXES = "☐☑☒✅❌✓✔□■"
_CHECKED = "☑☒✅✓✔■"
_LETTER_WORD = re.compile(r"[^\W\d_]{3,}")


def _is_prose(value: str) -> bool:
    return len(_LETTER_WORD.findall(value)) >= _PROSE_WORDS


def _read_field(item: Item, read: _Read, country: str, vocabulary: Vocabulary) -> bool:
    """Fill the field an item names; False when its value does not read as that field."""
    assert item.match is not None
    field, value = item.match.field, item.value
    if field == "text":
        if not value.strip():
            return False
        read.answers.append(item)
        return True
    if field == "consent":
        answer = values.yes_no(value, vocabulary)
        if answer is None:
            answer = prose.consent(fold(value), vocabulary)
        elif item.match.negated:
            answer = not answer
        if answer is None and values.NEGATION.search(fold(value)):
            answer = False  # "I do not give permission": unclear, but a no is safe
        if answer is None:
            return False
        read.consents.append(answer)
        return True
    if field == "status":
        status: str | None
        yes = values.yes_no(value, vocabulary) if item.match.yes_means else None
        if item.match.yes_means and yes is not None:
            other = "former" if item.match.yes_means == "current" else "current"
            status = item.match.yes_means if yes else other
        else:
            status = values.status(value, vocabulary)
        if status is None:
            return False
        read.status = read.status or status
        if status == "former" and read.churned_on is None:
            read.churned_on = values.find_date(value)
        return True
    if field == "churned_on":
        date = values.find_date(value)
        if date is None:
            return False
        read.churned_on = date
        return True
    if field == "ref":
        found = refs_in_value(value, country)
        read.refs.extend(r for r in found if r not in read.refs)
        return bool(found)
    if field == "channel":
        channel = values.channel(value, vocabulary)
        read.channel = read.channel or channel
        return channel is not None
    if field == "score":
        score = values.score(value)
        read.score = read.score or score
        return score is not None
    if field == "source":
        read.source = read.source or value.strip()[:255] or None
        return bool(value.strip())
    return False


def _verbatim(read: _Read, loose: list[Item], preface: list[Item]) -> str:
    """The customer's words: the free-text answers (each with its question when there are
    several), the prose among the answers, else the prose before them."""
    parts: list[tuple[int, str]] = []
    several = len(read.answers) > 1
    for n, item in enumerate(read.answers):
        if item.match is None:
            text = item.line.strip() if not item.own_line else f"{item.label}\n{item.value}"
        elif several:
            text = f"{item.label.strip('*_ ')}\n{item.value}"
        else:
            text = item.value
        parts.append((n, text))
    body = [item.value for item in loose]
    if not parts and not body:
        body = [item.value for item in preface]
    chunks = [text for _, text in parts] + (["\n".join(body)] if body else [])
    text = "\n\n".join(c.strip() for c in chunks if c.strip())
    return text.strip('"“”«» \n')[:MAX_VERBATIM_CHARS]


def read_items(
    items: list[Item], marker: int | None, sender: str | None, country: str, vocabulary: Vocabulary
) -> ParsedVerdict:
    """Read a message's items into a verdict."""
    read = _Read()
    loose: list[Item] = []
    preface: list[Item] = []
    seen_answer = False
    for index, item in enumerate(items):
        if item.kind == "meta":
            continue
        if item.kind in ("field", "answer") and _EMPTY.match(fold(item.value)):
            continue  # "(no answer)", "<null>": nothing was said
        if item.kind == "prose" and item.value[:1] in _BOXES:
            # A form's checkbox statement: "☐ J'accepte d'être recontacté(e)" is a refusal.
            statement = vocabulary.match(item.value[1:])
            if statement is not None and statement.field == "consent":
                read.consents.append((item.value[0] in _CHECKED) != statement.negated)
                continue
        if item.kind == "prose":
            before_forward = marker is not None and index < marker
            (preface if before_forward or not seen_answer else loose).append(item)
            continue
        seen_answer = True
        if item.kind == "field" and _read_field(item, read, country, vocabulary):
            assert item.match is not None
            read.labels.append((item.label, item.match.field))
            continue
        if item.value and _is_prose(item.value):
            read.answers.append(
                Item("answer", item.value, item.label, None, item.line, item.block, item.own_line)
            )
        elif item.value or item.kind == "field":
            read.unparsed.append(item.line.strip() or f"{item.label}: {item.value}")
    text = _verbatim(read, loose, preface)
    lines = (i.line if i.kind != "prose" else i.value for i in items if i.kind != "meta")
    everything = "\n".join(dict.fromkeys(lines))
    folded = fold(everything)
    # A refusal anywhere wins: labelled, or in any prose of the message.
    refusal = prose.consent(folded, vocabulary) is False
    if False in read.consents or refusal:
        consent: bool | None = False
    elif read.consents:
        consent = True
    else:
        consent = prose.consent(folded, vocabulary)
    status, churned_on = read.status, read.churned_on
    if status is None:
        status, prose_date = prose.status(folded, vocabulary)
        churned_on = churned_on or prose_date
    elif status == "former" and churned_on is None:
        churned_on = prose.status(folded, vocabulary)[1]
    refs = list(read.refs)
    refs.extend(r for r in find_refs(everything, country) if r not in refs)
    score = read.score or prose.score(everything)
    return ParsedVerdict(
        text=text,
        customer=refs[0] if refs else None,
        status=status,
        channel=read.channel or prose.channel(folded, vocabulary),
        score=score[0] if score else None,
        consent=consent,
        source=read.source or prose.source(everything) or sender,
        churned_on=churned_on if status != "current" else None,
        scale=score[1] if score else None,
        refs=tuple(refs),
        unparsed=tuple(read.unparsed),
        labels=tuple(read.labels),
    )


def parse_text(
    raw: str, default_country: str = "FR", vocabulary: Vocabulary | None = None
) -> ParsedVerdict:
    """Parse a message written as plain text (Slack mrkdwn accepted)."""
    vocab = vocabulary or load_vocabulary()
    items, marker, sender = split_items(raw[: MAX_VERBATIM_CHARS * 2], vocab)
    return read_items(items, marker, sender, default_country, vocab)


_SPACES = re.compile(r"[ \t]+")


def plain(text: str) -> str:
    """Slack text as a person reads it (links and escapes undone)."""
    return _SPACES.sub(" ", slack_to_plain(text))
