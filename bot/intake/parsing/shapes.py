"""The shapes of a message's lines: `Label: value` (one or many to a line), `key=value` pairs,
a bold label or a question on its own line with the answer below, `Question? - answer`, quoted
`> ` lines, bullets. Turns text into items; what each item means is read elsewhere."""

from __future__ import annotations

import re

from bot.intake.parsing.cells import (
    bare_field,
    csv_items,
    loosen_tight_labels,
    reads_as,
    split_cells,
)
from bot.intake.parsing.chats import chat_lines
from bot.intake.parsing.emails import header_scan, mark_metadata
from bot.intake.parsing.model import META_MARK, Item, fold
from bot.intake.parsing.titles import title_line
from bot.intake.parsing.vocabulary import LabelMatch, Vocabulary, words

# Slack's link syntax only: `<url|label>`, `<mailto:…>`, `<tel:…>`, `<https://…>`. Any other
# `<…>` is the customer's own text (`</verdict>` included) and stays as written.
_SLACK_LINK = re.compile(
    r"<(?:mailto:|tel:)?([^<>|]+)\|([^<>]+)>|<(?:mailto:|tel:)([^<>|]+)>|<(https?://[^<>|\s]+)>"
)
_LINK_ONLY = re.compile(r"^[\s>*_•·-]*(?:<https?://[^<>]+>|https?://\S+)[\s*_.]*$")
_TABLE_ROW = re.compile(r"^\s*\|?\s*([^|]{1,200}?)\s*\|\s*([^|]*?)\s*\|?\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]*-{3,}[\s:|-]*$")
_QUOTE = re.compile(r"^\s*(?:&gt;|>)+\s?")
_BULLET = re.compile(r"^\s*(?:[•·▪◦‣○●*-]|\d{1,2}[.)])\s+(?=\S)")
_WRAPPED = re.compile(r"^\s*([*_]{1,2})(?P<label>[^*_].{0,198}?)\1\s*[:?]?\s*$")
_OWN_LINE_QUESTION = re.compile(r"^\s*(?P<label>[^:=]{3,200}?[?？:：])\s*$")
# A logfmt line may start with a few bare words (an event name, a timestamp) before its pairs.
_KV_LINE = re.compile(
    r"""^\s*(?P<head>(?:[^\s="']{1,40}\s+){0,3}?)"""
    r"""(?:[A-Za-z][\w.-]{0,40}\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"',;&|]+)[\s,;&|]*)+$"""
)
_KV_PAIR = re.compile(r"""([A-Za-z][\w.-]{0,40})\s*=\s*("[^"]*"|'[^']*'|[^\s"',;&|]+)""")
# Where a label may start inside a line: the start, or after a separator.
_LABEL_AT = re.compile(
    r"(?:^|(?<=[|;·•\t])|(?<=[.,!] )|(?<=\s\s)|(?<= - )|(?<= – )|(?<= / ))\s*"
    r"(?P<label>[^\s:=|;·•][^:=|;·•\n]{0,60}?)\s*[:：=](?=\s|$)"
)
# A colleague's note to the team, not the customer's words: "@retention can someone pick this
# up?", "Partagé depuis Front pour suivi", "Correction to Mike's note above", "Voice note typed
# by Siri", "Note dictée en sortie de visite".
_TEAM_NOTE = re.compile(
    r"^\s*(?:@\S+|<@\w+>|fyi\b|pour info\b|shared (?:from|via)\b|forwarded from\b|forwarding (?:this|from)\b"
    r"|partage (?:depuis|via)\b|transfere (?:depuis|par)\b|je (?:te|vous) transfere\b|cf\.? (?:mail|message|ci-dessous)"
    r"|see below\b|voir ci-dessous\b|can (?:someone|somebody|anyone|you) (?:pick|look|check|call|handle|take)"
    r"|(?:could|can) (?:someone|somebody|anyone)\b|quelqu'un (?:peut|pourrait)\b|correction to\b"
    r"|voice note\b|note (?:dictee|vocale)\b|dictated note\b|merci de (?:le |la |les )?(?:traiter|regarder"
    r"|prendre en compte|rappeler|gerer|voir)\b|please (?:handle|pick up|follow up|look into|call)\b)"
)
# "Account number *": a form's required question (Google Forms' receipt), its answer below.
_REQUIRED = re.compile(r"^(\s*[^*:\s][^*:]{1,200}?)\s+\*\s*$")
_ASKED = re.compile(r"\w\s?\?\s?[:：]$")
_ID_TOKEN = re.compile(r"(?:#|n°|no\.?|nº)\s?\d{2,}|\b[A-Z]{1,5}-?\d{3,}\b")
# Before an unknown label, a separator no sentence uses: "customer_id: A-1 · plan: fibre".
_STRONG_SEPARATOR = re.compile(r"(?:[|;·•\t]|\s\s)\s*$")
_LEADING_NUMBER = re.compile(r"^\s*(?:q(?:uestion)?\s*)?\d{1,2}[a-z]?\s*[.):-]\s+", re.I)
_QUESTION_ANSWER = re.compile(r"^\s*(?P<label>[^?]{3,200}\?)\s*(?:[-–—:]\s*)?(?P<value>\S.*)$")
_BOILERPLATE = re.compile(
    r"^\s*(?:new (?:response|submission|entry|answer|form response)s?\b|nouvelle? (?:reponse|soumission|entree)s?\b"
    r"|you (?:have|got|received) a new (?:response|submission)|vous avez (?:recu )?une nouvelle reponse"
    r"|view (?:response|submission|all responses|in|results)\b|voir (?:la reponse|les reponses|la soumission)\b"
    r"|(?:sent|powered|submitted) (?:via|by|with|from) |envoye (?:via|par|avec) |propulse par"
    r"|respondent\b.*\bsubmitted\b|(?:hidden fields?|champs? caches?|metadata|metadonnees"
    r"|embedded data|donnees integrees|custom variables|variables personnalisees)\s*:?\s*$"
    r"|you can edit this submission|vous pouvez modifier cette soumission"
    r"|(?:view|see|open) (?:the |this |your )?(?:feedback|response|submission|conversation|ticket)\b[^:]*$"
    r"|page \d{1,3}\s*(?::.*)?$|\* (?:indicates required|indique une question obligatoire)"
    r"|(?:report abuse|signaler un (?:cas d'utilisation )?abus|reply to this review|repondre a cet avis"
    r"|voir (?:toutes )?les reponses|see all responses|view all responses|vous disposez d'un droit"
    r"|cliquez sur le lien|click (?:the|this) link|pour consulter (?:l'ensemble|les resultats)"
    r"|connectez-vous a votre compte|log in to (?:your|see)|open in \w+|ouvrir dans \w+)"
    r"|(?:\w+ ){0,2}(?:received|recu|recue|submitted|soumis|soumise|envoye|note)(?: le| on)?"
    r" [^·|]{3,40}[·|]\s*\S.*$"
    r"|(?:afficher|voir|ouvrir) (?:la |le )?(?:soumission|reponse|conversation|ticket)\b)"
)
_BOILERPLATE_PREFIX = re.compile(
    r"^\s*(?:new (?:response|submission|entry|answer)|nouvelle? (?:r[ée]ponse|soumission|entr[ée]e))"
    r"[^:]{0,40}:\s+(?=\S.*[|;·•/]|\S.*\s{2})",
    re.IGNORECASE,
)
# Cheap early exit: a line with no separator at all is never cut into cells.
_MAY_HAVE_CELLS = re.compile(r"[|;·•]|\s/\s|\S\s{2,}\S|\t|[.!?]\s+\S|,\s")
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|bonjour|bonsoir|salut|coucou|hi all|hello team|fyi|pour info|pfa)\b[^.!?]{0,40}[,.!:]?\s*$"
)
_CLOSING = re.compile(
    r"^\s*(?:thanks|thank you|cheers|regards|best|kind regards|best regards|merci|cordialement"
    r"|bien cordialement|bonne journee|bonne soiree|a\+|bises|bien a vous|sincerely|yours"
    r"|salutations|meilleures salutations|sinceres salutations|a bientot)\b[^.!?]{0,20}[,.!]?\s*$"
    r"|^\s*(?:thanks|thank you|merci|cheers) (?:all|team|everyone|guys|a tous|tout le monde"
    r"|l'equipe)\b"
)


def slack_to_plain(text: str) -> str:
    """Undo Slack's mrkdwn escaping and link syntax (`<mailto:a@b.c|a@b.c>` becomes `a@b.c`)."""
    if "<" not in text and "&" not in text:
        return text  # no link, no escape

    def link(match: re.Match[str]) -> str:
        return match.group(2) or match.group(3) or match.group(4) or match.group(1)

    return (
        _SLACK_LINK.sub(link, text).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    )


_DOUBLE_COLON = re.compile(r"\s*::\s*")
_MARKED_COLON = re.compile(r"[*_]+\s*([:：])\s*[*_]+|([:：])[*_]+(?=\s|$)")


_Q_NUMBER = re.compile(r"^(\s*)(?:q|question)\s*\d{1,2}[a-z]?\s*[:.)-]\s+(?=\S)", re.I)


def _clean_line(line: str) -> str:
    line = _Q_NUMBER.sub(r"\1", line.replace("```", ""))
    line = _BULLET.sub("", _QUOTE.sub("", line)).rstrip()
    line = _REQUIRED.sub(r"\1:", line) if line.endswith("*") else line
    if "::" in line:
        line = _DOUBLE_COLON.sub(": ", line)
    if "\t" in line and ":" not in line:
        line = line.replace("\t", ": ", 1).replace(
            "\t", " "
        )  # an email's table: label, tab, answer
    if ":" not in line and "：" not in line:
        return line
    # "*Consent:* yes" and "*Consent*:* yes*": the colon ends the label, markup aside
    return _MARKED_COLON.sub(lambda m: (m.group(1) or m.group(2)) + " ", line)


def _label_match(label: str, vocabulary: Vocabulary) -> LabelMatch | None:
    if len(label) > 200:
        return None
    return vocabulary.match(label.strip())


def _strip_markup(value: str) -> str:
    return value.strip().strip("*_`").strip().strip('"“”«»').strip()


def _kv_items(line: str, vocabulary: Vocabulary, block: int, head: str = "") -> list[Item]:
    items = [Item("meta", head.strip(), line=head, block=block, scan=head)] if head else []
    for key, raw in _KV_PAIR.findall(line):
        value = raw[1:-1] if raw[:1] in "\"'" else raw
        match = _label_match(key, vocabulary)
        kind = "field" if match else "answer"
        items.append(Item(kind, value.strip(), key, match, f"{key}={raw}", block))
    return items


def _segments(line: str, vocabulary: Vocabulary, block: int) -> list[Item] | None:
    """Several `Label: value` on one line, or one; None when the line has no label."""
    if ":" not in line and "=" not in line and "：" not in line:
        return None  # a label ends with one of these
    starts: list[tuple[int, int, str, LabelMatch | None]] = []
    in_text = False  # inside a free-text answer, only other fields' labels split the line
    for found in _LABEL_AT.finditer(line):
        label = found.group("label").strip()
        start = found.start()
        unnumbered = _LEADING_NUMBER.sub("", label)
        # "…on hold, twice, Any other comments?: The technician…": a question and its colon
        # start a new answer, even inside another answer (a form relay's one-line string)
        asked = _ASKED.search(line, found.start("label"), found.end()) is not None
        if ", " in unnumbered or ". " in unnumbered:
            # "Second survey, same story: ..." is a sentence, not a label; but a known field
            # may start after its last full stop ("Trop de coupures. Consentement : non").
            cut = max(label.rfind(". "), label.rfind("! "), label.rfind("? "))
            if asked:
                cut = max(cut, label.rfind(", "))
            tail = label[cut + 2 :].strip() if cut >= 0 else ""
            tail_match = _label_match(tail, vocabulary) if tail and ", " not in tail else None
            if tail_match is None and not asked:
                # "…was great, Consent to contact: Yes": a known field after a comma, when
                # what follows reads as its answer
                cut = label.rfind(", ")
                tail = label[cut + 2 :].strip() if cut >= 0 else ""
                tail_match = _label_match(tail, vocabulary) if len(tail.split()) <= 4 else None
                answer = line[found.end() :].split(",", 1)[0].strip()
                if tail_match and not reads_as(tail_match.field, answer, vocabulary):
                    tail_match = None
            if (tail_match is None or tail_match.field == "text") and not (asked and tail):
                continue
            label, start = tail, found.start("label") + cut + 2
        match = _label_match(label, vocabulary)
        if not starts:
            if match is None and (found.start() > 0 or len(words(label)) > 8):
                if found.start() == 0:
                    return None  # a sentence with a colon, not a label
                continue
        elif in_text and (match is None or match.field == "text") and not asked:
            continue  # inside a free-text answer, only another field's label splits it
        elif match is None and not _STRONG_SEPARATOR.search(line[: found.start()]):
            continue
        starts.append((start, found.end(), label, match))
        in_text = match is not None and match.field == "text"
    if not starts or len(words(line[: starts[0][0]])) > 12:
        return None
    items: list[Item] = []
    if starts[0][0] > 0 and line[: starts[0][0]].strip(" |;·•.,-"):
        head = line[: starts[0][0]].strip(" |;·•")
        # `Conversation #18234 · Mailbox: Billing`: a short id before the fields is a heading
        heading = len(head.split()) <= 4 and _ID_TOKEN.search(head) is not None
        items.append(Item("prose", head, line=line, block=block, title=heading))
    for n, (_, end, label, match) in enumerate(starts):
        stop = starts[n + 1][0] if n + 1 < len(starts) else len(line)
        value = line[end:stop].strip().rstrip("|;·•,").strip()
        rest = ""
        if match is not None and match.field not in ("text",) and n + 1 == len(starts):
            # "Consentement : oui. Trop de coupures, je pars." -> "oui", then prose
            parts = re.split(r"(?<=[.!])\s+(?=\S)", value, maxsplit=1)
            if len(parts) == 2 and len(words(parts[0])) <= 6:
                value, rest = parts[0].rstrip("."), parts[1]
        if match is not None and value.endswith(".") and match.field not in ("text", "source"):
            value = value.rstrip(".")
        kind = "field" if match else "answer"
        items.append(Item(kind, _strip_markup(value), label, match, line, block))
        if rest:
            items.append(Item("prose", rest, line=rest, block=block))
    return items


def split_items(
    text: str, vocabulary: Vocabulary
) -> tuple[list[Item], int | None, str | None, set[str]]:
    """A message's items in order; the index of the first item after a forwarded-message marker
    (None without one); the email sender's display name, if any; and the addresses that are
    the company's or its staff's (recipients, the forwarder), never a customer reference."""
    raw_lines = _pair_questions(chat_lines(text.splitlines()))
    context_lines = [line[1:] for line in raw_lines if line.startswith(META_MARK)]
    if context_lines:
        raw_lines = ["" if line.startswith(META_MARK) else line for line in raw_lines]
    plain_lines = [slack_to_plain(line) for line in raw_lines]
    meta, marker_line, sender = mark_metadata(plain_lines)
    items: list[Item] = []
    staff: set[str] = set()
    marker_item: int | None = None
    block = 0
    pending: Item | None = None  # a label on its own line, waiting for its answer
    skip_next = False  # the line was read with the one before it (a CSV row)
    numbered = False  # the line before was a question's number alone ("Q2")
    for index, raw in enumerate(raw_lines):
        if marker_line is not None and index == marker_line:
            marker_item = len(items)
        if meta[index] or _LINK_ONLY.match(raw):
            items.extend(_flush(pending))
            pending = None
            forwarder = marker_line is not None and index < marker_line
            scan = header_scan(plain_lines[index], forwarder, staff)
            items.append(Item("meta", raw.strip(), line=raw, block=block, scan=scan))
            continue
        line = _clean_line(plain_lines[index])
        if not line.strip():
            items.extend(_flush(pending))
            pending = None
            block += 1
            continue
        if skip_next:
            skip_next = False
            continue
        if _Q_ALONE.match(line) or _Q_ALONE.match(raw):
            numbered = True  # "Q2" on its own line: the question is on the next one
            continue
        lead = (
            numbered
            or _Q_LEAD.match(raw) is not None
            or (_NUMBER_LEAD.match(raw) is not None and _ASKING.search(fold(line)) is not None)
        )
        numbered = False
        if lead and _bare_question(line) and not _said(line):
            # A numbered question with no answer on its line ("Q2 Recontact autorisé", a
            # SurveyMonkey response): its answer is below it, never in its own words.
            items.extend(_flush(pending))
            label = line.strip().strip("*_ ").rstrip(":：").strip()
            match = _label_match(label, vocabulary)
            pending = Item("field" if match else "answer", "", label, match, line, block, True)
            pending.numbered = True
            continue
        prefix = _BOILERPLATE_PREFIX.match(line)
        if prefix:  # "New response: client 123 · note 4 · ..." holds fields after its title
            line = line[prefix.end() :]
        folded = fold(line)
        if _BOILERPLATE.match(folded.strip("*_ ")):
            items.append(Item("meta", line.strip(), line=line, block=block))
            continue
        if index + 1 < len(raw_lines) and (line.count(",") >= 2 or line.count(";") >= 2):
            rows = csv_items(line, _clean_line(plain_lines[index + 1]), vocabulary, block)
            if rows is not None:
                items.extend(rows)
                skip_next = True
                continue
        line = loosen_tight_labels(line, vocabulary) if ":" in line else line
        own = _own_line_label(line, vocabulary)
        if own is not None:
            items.extend(_flush(pending))
            label, match = own
            pending = Item("field" if match else "answer", "", label, match, line, block, True)
            continue
        if _TABLE_RULE.match(line):
            continue
        table = _TABLE_ROW.match(line) if line.count("|") >= 2 else None
        if table and ":" not in table.group(1):
            line = f"{table.group(1)}: {table.group(2)}"
        kv = _KV_LINE.match(line) if "=" in line else None
        head = kv.group("head") if kv else ""
        if kv and (not head or line.count("=") >= 2):
            parsed: list[Item] | None = _kv_items(line[len(head) :], vocabulary, block, head)
        else:
            parsed = _segments(line, vocabulary, block) or _question(line, vocabulary, block)
        if len(line) < 1000 and _MAY_HAVE_CELLS.search(line):
            cells = split_cells(line, vocabulary, block, _segments)
            if cells is not None and _fields(cells) > _fields(parsed):
                parsed = cells
        elif parsed is None and len(line) < 200:
            bare = bare_field(line, vocabulary, block)
            parsed = (
                [bare] if bare is not None and bare.match and bare.match.field != "text" else None
            )
        if pending is not None:
            if parsed is None or all(i.kind == "prose" for i in parsed):
                pending.value = (pending.value + "\n" + line.strip()).strip()
                pending.line += "\n" + line
                continue
            items.extend(_flush(pending))
            pending = None
        if (not items and _titled(parsed, line, raw_lines[index + 1 :], vocabulary)) or (
            parsed is None and _TEAM_NOTE.match(folded)
        ):
            items.append(Item("prose", line.strip(), line=line, block=block, title=True))
        elif parsed is None:
            kind = "prose"
            if _GREETING.match(folded) or _CLOSING.match(folded):
                kind = "aside"  # never the verbatim; still read for a refusal
            quoted = _QUOTE.match(raw.replace("&gt;", ">")) is not None
            items.append(Item(kind, line.strip(), line=line, block=block, quoted=quoted))
        else:
            items.extend(parsed)
    items.extend(_flush(pending))
    for line in context_lines:
        items.extend(_context_items(line, vocabulary))
    return items, marker_item, sender, staff


_PAIR_QUESTION = re.compile(r"^\s*[*_]*(?:question|q)\s*\d*[*_]*\s*[:：]\s*(?P<text>\S.*)$", re.I)
_PAIR_ANSWER = re.compile(
    r"^\s*[*_]*(?:answer|r[ée]ponse|a)\s*\d*[*_]*\s*[:：]\s*(?P<text>.*)$", re.I
)


def _pair_questions(lines: list[str]) -> list[str]:
    """`Question: Why are you leaving?` then `Answer: Too expensive` as the question on its own
    line (a label) and the answer below it."""
    if not any(_PAIR_QUESTION.match(line) for line in lines):
        return lines
    out: list[str] = []
    for n, line in enumerate(lines):
        question = _PAIR_QUESTION.match(line)
        answer = _PAIR_ANSWER.match(lines[n + 1]) if n + 1 < len(lines) else None
        if question and answer:
            out.append(f"*{question.group('text').strip(' *_')}*")
        elif n > 0 and _PAIR_ANSWER.match(line) and _PAIR_QUESTION.match(lines[n - 1]):
            out.append(_PAIR_ANSWER.match(line).group("text"))  # type: ignore[union-attr]
        else:
            out.append(line)
    return out


# "1. Please enter your account number." / "3) Pourquoi nous quittez-vous ?": a numbered
# question when it asks, its answer on the line below.
_NUMBER_LEAD = re.compile(r"^\s*[*_]*\d{1,2}[.)][*_]*\s+(?=\S)")
_ASKING = re.compile(
    r"\?[\s*_]*$|^[\d.)\s*_]*(?:please (?:enter|indicate|tell|give|select|choose|rate|describe"
    r"|specify|provide|share)|veuillez|indiquez|precisez|merci d'indiquer|donnez|choisissez|notez)\b"
)


def _said(line: str) -> bool:
    """An answer given on the question's line, "Q12 : Le réseau coupe tous les soirs, je pars.":
    four words or more ending with a full stop, and not asking."""
    # what `(?:\S+\s+){3,}\S*[.!…]\s*$` found, without its backtracking on long lines
    text = line.rstrip()
    if not text.endswith((".", "!", "…")) or len(text.split(None, 3)) < 4:
        return False
    return _ASKING.search(fold(line)) is None


_Q_ALONE = re.compile(r"^\s*[*_]*(?:q|question)\s*\d{1,2}[a-z]?\s*[:.)-]?[*_]*\s*$", re.I)
_Q_LEAD = re.compile(r"^\s*[*_]*(?:q|question)\s*\d{1,2}[a-z]?\s*[:.)-]?[*_]*\s+(?=\S)", re.I)


def _bare_question(line: str) -> bool:
    """A question's wording with no answer after it: ends with `?`/`:` or has neither."""
    text = line.strip().strip("*_ ")
    if not text or len(text) > 200 or "=" in text:
        return False
    if text.endswith(("?", "？", ":", "：")):
        return "?" not in text[:-1] and ":" not in text[:-1]
    return "?" not in text and ":" not in text and "：" not in text


def _flush(pending: Item | None) -> list[Item]:
    """A label that stood on its own line, once its answer lines are read. With no answer, an
    unmarked, unnumbered question was a sentence of the message, not a label (`Is this how you
    treat loyal customers?` closing a note): it is kept as prose; a survey's unanswered
    question (bold, or numbered) is dropped."""
    if pending is None:
        return []
    if pending.value:
        return [pending]
    question = pending.label.endswith(("?", "？")) and not pending.line.lstrip().startswith(
        ("*", "_")
    )
    if question and not pending.numbered:
        return [Item("prose", pending.label, line=pending.line, block=pending.block)]
    return []


def _titled(parsed: list[Item] | None, line: str, rest: list[str], vocabulary: Vocabulary) -> bool:
    """Whether a message's first line is its title: no field read on it, more lines below."""
    for item in parsed or ():
        field = item.match.field if item.kind == "field" and item.match else None
        if field and field not in _TITLE_FIELDS and reads_as(field, item.value, vocabulary):
            return False
    return any(r.strip() for r in rest) and title_line(line)


_TITLE_FIELDS = ("meta", "source", "channel")


def _fields(items: list[Item] | None) -> int:
    return sum(1 for i in items or () if i.kind == "field")


def _context_items(raw: str, vocabulary: Vocabulary) -> list[Item]:
    """A context line's items (`Submitted 2026-05-13 · Response ID: w4Jz9e`), all marked as
    context: its known fields are read, the rest only scanned for references."""
    line = _clean_line(slack_to_plain(raw))
    if not line.strip():
        return []
    parsed = _segments(line, vocabulary, -1) or [Item("prose", line.strip(), line=line, block=-1)]
    for item in parsed:
        item.context = True
    return parsed


# The customer speaking of themself: a survey never asks its question in these words.
_FIRST_PERSON = frozenset(
    {"i", "me", "my", "mine", "myself", "im", "ive", "je", "j", "moi", "mon", "ma", "mes", "m"}
)
# The respondent addressed: the shape of a survey's question.
_SECOND_PERSON = frozenset(
    {"you", "your", "yours", "vous", "votre", "vos", "tu", "ton", "ta", "tes", "te", "t"}
)


def customer_question(label: str) -> bool:
    """Whether a line ending in `?` is the customer asking (their words), not a survey's
    question: it speaks in the first person singular (`Where is the refund for my router?`)."""
    return bool(_FIRST_PERSON.intersection(words(label)))


def survey_question(label: str, match: LabelMatch | None) -> bool:
    """Whether an unmarked question line can be a survey's question waiting for its answer:
    the vocabulary knows it, or it addresses the respondent; never the customer's own words."""
    if customer_question(label):
        return False
    return match is not None or bool(_SECOND_PERSON.intersection(words(label)))


def _own_line_label(line: str, vocabulary: Vocabulary) -> tuple[str, LabelMatch | None] | None:
    """A label standing alone: `*What could we do better?*`, `Q3. Your customer number:`."""
    wrapped = _WRAPPED.match(line)
    if wrapped:
        label = wrapped.group("label").strip()
        if ":" in label.rstrip(":") and _LABEL_AT.match(label):
            return None  # "*Consent:* yes" is a label with its value
        return label.rstrip(":").strip(), _label_match(label, vocabulary)
    question = _OWN_LINE_QUESTION.match(line)
    if question:
        label = question.group("label").rstrip(":：").strip()
        match = _label_match(label, vocabulary)
        if ", " in label:
            return None  # "Client 123, consent yes, says:" is a sentence introducing a quote
        if label.endswith(("?", "？")):
            # An unmarked question is a label only in a survey's shape; the customer asking
            # "Where is the refund for my router?" is saying something.
            return (label, match) if survey_question(label, match) else None
        if match is not None or len(words(label)) <= 6:
            return label, match
    return None


def _question(line: str, vocabulary: Vocabulary, block: int) -> list[Item] | None:
    """`Question? - answer` or `Question? answer` when the vocabulary knows the question."""
    found = _QUESTION_ANSWER.match(line)
    if found is None:
        return _dash_answer(line, vocabulary, block)
    label = found.group("label")
    match = _label_match(label, vocabulary)
    if match is None or customer_question(label):
        return None
    return [Item("field", _strip_markup(found.group("value")), label, match, line, block)]


_DASH_ANSWER = re.compile(r"^\s*(?P<label>[^-–—:?]{3,80}?)\s+[-–—→]\s+(?P<value>\S.{0,40})$")


def _dash_answer(line: str, vocabulary: Vocabulary, block: int) -> list[Item] | None:
    """`Permission to call back - No`, `Accepte d'être recontacté – non`: a known label, a
    dash, and a short answer that reads as that field's."""
    found = _DASH_ANSWER.match(line)
    if found is None:
        return None
    label, value = found.group("label").strip(), _strip_markup(found.group("value"))
    match = _label_match(label, vocabulary)
    if match is None or match.field == "text" or not reads_as(match.field, value, vocabulary):
        return None
    return [Item("field", value, label, match, line, block)]
