"""From items to a verdict: which answer fills which field, which text is the verbatim, and
consent three-valued with a refusal anywhere winning."""

from __future__ import annotations

import re
from functools import lru_cache

import bot.intake.parsing.prose as prose
import bot.intake.parsing.values as values
from bot.intake.parsing.emails import is_staff_address
from bot.intake.parsing.model import MAX_VERBATIM_CHARS, CustomerRef, ParsedVerdict, fold
from bot.intake.parsing.references import EMAIL_PATTERN, find_refs, refs_in_value
from bot.intake.parsing.shapes import Item, customer_question, slack_to_plain, split_items
from bot.intake.parsing.speech import reported_words
from bot.intake.parsing.titles import BOX, SHORTCODE, choice_line
from bot.intake.parsing.vocabulary import Vocabulary, load_vocabulary, words

_CUSTOMER_WORDS = frozenset(
    {
        "customer",
        "client",
        "cliente",
        "abonne",
        "abonnee",
        "member",
        "subscriber",
        "account",
        "compte",
    }
)
_REF_ORDER = {"account": 0, "email": 1, "phone": 2}
_DIALLED = frozenset({"dialed", "dialled", "called", "appele", "compose"})


@lru_cache(maxsize=1024)
def _dialled_label(label: str) -> bool:
    """`_dialled` of a label's words, told once per label (a message's labels are asked about
    again and again)."""
    return _dialled(words(label))


def _dialled(label: list[str]) -> bool:
    """`DNIS`, `Called number`, `Numéro appelé`: the line a call was made to."""
    named = bool(_DIALLED.intersection(label)) and bool({"number", "numero", "line"} & set(label))
    return "dnis" in label or named


_PROSE_WORDS = 3  # an unknown label's answer of this many words is the customer's, not a code
# A name alone after the fields ("Inés", "A.-S. Brun", "Marchand."): a signature, not words.
_SIGNATURE = re.compile(r"^(?:[A-ZÀ-Ý][\w'’.-]*\.?\s*){1,3}$")


class _Read:
    """What the items said, field by field, as they are read."""

    def __init__(self) -> None:
        self.refs: list[CustomerRef] = []
        self.customer_refs: list[CustomerRef] = []  # given under a customer/client label
        self.consents: list[bool] = []
        self.status: str | None = None
        self.churned_on: str | None = None
        self.channel: str | None = None
        self.score: tuple[int, str] | None = None
        self.source: str | None = None
        self.answers: list[Item] = []  # free-text answers, in order
        self.unparsed: list[str] = []
        self.tails: list[str] = []  # prose that followed a short answer on its line
        self.tails_seen: list[str] = []  # answers read as prose: scanned for a refusal
        self.labels: list[tuple[str, str]] = []


_EMPTY = re.compile(
    r"^[\s(<\[]*(?:no answer|not answered|sans reponse|pas de reponse|null|none|n/?a|nan|empty"
    r"|vide|non renseigne|-+|/|skipped|not asked|non demande|\.+)[\s.)>\]]*$"
)
_CHECKED = "☑☒✅✓✔■xX"
_LETTER_WORD = re.compile(r"[^\W\d_]{3,}")


def _is_prose(value: str) -> bool:
    return len(_LETTER_WORD.findall(value)) >= _PROSE_WORDS


# An answer written between quotes (`Q4 - Ce qui vous a déçu : « les coupures »`): said.
_QUOTED = re.compile(r"[:：]\s*[«\"“„][^«»\"“”]{6,}[»\"”“]\s*$")


_LIST = re.compile(r"^\s*\[\s*\"[^\"]*\"(?:\s*,\s*\"[^\"]*\")*\s*\]\s*$")


def _no_words(value: str) -> bool:
    """A date, a number or a list of options (`May 4, 2026`, `6`, `["Fibre","TV"]`): no words."""
    if _LIST.match(value):
        return True
    letters = _LETTER_WORD.findall(values.DATE_WORDS.sub(" ", fold(value)))
    return not letters


def _not_said(value: str, vocabulary: Vocabulary) -> bool:
    """A ticked option, a rating in words, a date or a number: chosen or given, not said."""
    return choice_line(value) or _rating(value, vocabulary) or _no_words(value)


def _rating(value: str, vocabulary: Vocabulary) -> bool:
    """`👎 Thumbs Down`, `Bad`, `Très satisfait`: a rating in words, not a comment."""
    found = words(SHORTCODE.sub(" ", value))
    return 0 < len(found) <= 3 and all(w in vocabulary.ratings for w in found)


# Not after an initial or a title ("M. Alain Besson", "Mrs. Ward"): that full stop ends no answer.
_TAIL = re.compile(
    r"(?<=[\w)»\"”])(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bMrs)(?<!\bMme)(?<!\bMlle)"
    r"(?:[.,;!]\s+|\s+[-–—]\s+)(?=\S)"
)


def _read_field(item: Item, read: _Read, country: str, vocabulary: Vocabulary) -> bool:
    """Fill the field an item names; False when its value does not read as that field. A
    short answer followed by prose (`52290418, ancienne abonnée...`, `2. Réseau inexistant`,
    `Yes by email. Not by phone please.`) is read from its head; the prose is kept as prose."""
    assert item.match is not None
    field = item.match.field
    if field not in ("text", "meta", "source"):
        cut = _TAIL.search(item.value)
        if cut is not None and _is_prose(item.value[cut.end() :]):
            head = Item(item.kind, item.value[: cut.start()], item.label, item.match)
            if _read_value(head, read, country, vocabulary):
                tail = item.value[cut.end() :].strip()
                # "No – customer explicitly asked not to be contacted": about the consent,
                # not the customer's verdict; still read for a refusal
                (read.tails_seen if field == "consent" else read.tails).append(tail)
                return True
    return _read_value(item, read, country, vocabulary)


def _read_value(item: Item, read: _Read, country: str, vocabulary: Vocabulary) -> bool:
    assert item.match is not None
    field, value = item.match.field, item.value
    if field == "meta":
        return True  # a survey's own detail (response id, timestamp): read, and set aside
    if field == "text":
        if not value.strip():
            return False
        if _not_said(value, vocabulary):
            return True  # a ticked option, a rating ("👎 Thumbs Down"), a date: not said
        read.answers.append(item)
        return True
    if field == "consent":
        # "Yes, but not by phone": a refusal after a yes wins (only a sentence can say it).
        if " " in value.strip() and prose.consent(fold(value), vocabulary) is False:
            read.consents.append(False)  # "Yes, but not by phone": a refusal wins
            return True
        answer = values.yes_no(value, vocabulary)
        if answer and values.last_says_no(value, vocabulary):
            answer = False  # "autorisé - non": the last word given is the answer
        if answer is None:
            # No yes/no: the label may itself say it ("she does not want a call back:"),
            # and an unclear answer to "Do not contact" is read the safe way.
            answer = prose.consent(fold(f"{item.label}\n{value}"), vocabulary)
            if answer is None and item.match.negated:
                answer = False
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
        if status is None and item.match.yes_means == "former" and values.find_date(value):
            status = "former"  # "Résiliation : 11/05/2026": when it happened
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
        if _CUSTOMER_WORDS.intersection(words(item.label)):
            read.customer_refs.extend(r for r in found if r not in read.customer_refs)
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


def _verbatim(
    read: _Read, loose: list[Item], preface: list[Item], titles: list[Item], context: str
) -> str:
    """The customer's words: the free-text answers in order (their questions are kept apart,
    in `ParsedVerdict.answers`), the prose among the answers, else the prose before them, else
    the title; in a note about the customer, only the words it quotes."""
    parts = [
        item.value if item.match is not None or item.own_line else item.line.strip()
        for item in read.answers
    ]
    if preface and loose and all(_SIGNATURE.match(item.value) for item in loose):
        loose = []  # only a signature ("Inés", "Marchand.") after the fields: the words are above
    body = [item.value for item in loose] + read.tails
    if loose and preface:
        # The customer writing before the fields, in the same paragraph and the first person
        # ("Je ne réponds pas à votre questionnaire, je préfère vous écrire. Note : 5/10. ..."):
        # theirs too.
        blocks = {item.block for item in loose}
        said = [i.value for i in preface if i.block in blocks and customer_question(i.value)]
        body = said + body
    if not parts and not body:
        body = [item.value for item in preface]
        quoted = [item.value for item in preface if item.quoted]
        if quoted:
            body = quoted  # a person sharing the customer's words quotes them
    elif not parts and any(item.quoted for item in loose):
        body = [item.value for item in loose if item.quoted]
    if not parts and not body:
        body = [item.value for item in titles]
    chunks = [*parts, "\n".join(dict.fromkeys(body))] if body else parts
    chunks = list(dict.fromkeys(_LEAD_SYMBOLS.sub("", c.strip()) for c in chunks))
    text = "\n\n".join(c for c in chunks if c)
    if not any(item.match is not None for item in read.answers):
        text = reported_words(text, context) or text
    text = text.strip()
    if len(text) > 1 and text[0] in '"“«' and text[-1] in '"”»':
        text = text[1:-1].strip()  # the whole verbatim between quotes: the quotes go
    return text[:MAX_VERBATIM_CHARS]


# Emoji and pictograms leading a line of prose (`💬 « ... »`): a bullet, not words.
_LEAD_SYMBOLS = re.compile(r"^(?:[\u2190-\u2bff\U0001f000-\U0001faff\ufe0f\u200d]+\s*)+")


def _question_answers(read: _Read) -> tuple[tuple[str, str], ...]:
    """Each free-text answer with its question, in order (empty question: none was given)."""
    return tuple(
        (item.label.strip("*_ ") if item.match is not None or item.own_line else "", item.value)
        for item in read.answers
    )


def read_items(
    items: list[Item],
    marker: int | None,
    sender: str | None,
    country: str,
    vocabulary: Vocabulary,
    staff: set[str] | None = None,
) -> ParsedVerdict:
    """Read a message's items into a verdict."""
    read = _Read()
    loose: list[Item] = []
    preface: list[Item] = []
    forwarded: list[Item] = []  # prose after a forwarded-message marker: the original's words
    titles: list[Item] = []
    seen_answer = False
    after_consent = False  # the item before was a consent field
    for index, item in enumerate(items):
        if item.kind in ("meta", "aside"):
            continue
        if item.context:
            # A context line: its known fields count, its words are never the customer's.
            field = item.match.field if item.kind == "field" and item.match else "text"
            if field != "text" and _read_field(item, read, country, vocabulary):
                read.labels.append((item.label, field))
            continue
        if item.kind in ("field", "answer") and _EMPTY.match(fold(item.value)):
            continue  # "(no answer)", "<null>": nothing was said
        box = BOX.match(item.value) if item.kind == "prose" else None
        if box is not None:
            # A form's checkbox statement: "☐ J'accepte d'être recontacté(e)" is a refusal.
            statement = vocabulary.match(item.value[box.end() :])
            if statement is not None and statement.field == "consent":
                checked = any(c in _CHECKED for c in box.group(1))
                read.consents.append(checked != statement.negated)
                continue
        if item.kind == "prose" and after_consent and len(item.value.split()) <= 3:
            # "Recontact autorisé" then "Non" below it: the answer to the consent line above.
            # Only a whole answer counts: "No signal." is the customer's words, not a "no".
            answer = values.whole_yes_no(item.value, vocabulary)
            if answer is not None:
                read.consents.append(answer)
                after_consent = False
                continue
        # A consent line may have its answer below it ("Recontact autorisé" then "Non"); a
        # refusal there wins over a yes read on the label's own line.
        after_consent = (
            item.kind == "field" and item.match is not None and item.match.field == "consent"
        )
        if item.kind == "prose" and (item.title or choice_line(item.value)):
            if item.title:
                titles.append(item)
            continue
        if item.kind == "prose":
            before_forward = marker is not None and index < marker
            (preface if before_forward or not seen_answer else loose).append(item)
            if marker is not None and not before_forward:
                forwarded.append(item)
            continue
        seen_answer = True
        if item.kind == "field" and _read_field(item, read, country, vocabulary):
            assert item.match is not None
            if item.match.field != "meta":
                read.labels.append((item.label, item.match.field))
            continue
        # A question answered with a sentence is a free-text question, whatever word it uses
        # ("Qu'est-ce qui justifie cette note ?"); a known field's label otherwise is not.
        question = item.label.rstrip(" *_").endswith(("?", "？"))
        known = item.kind == "field" and not question and not vocabulary.names(item.label, "text")
        if _not_said(item.value, vocabulary):
            continue  # a ticked option or a rating ("👎 Thumbs Down"): chosen, not said
        if item.value and (_QUOTED.search(item.line) or (_is_prose(item.value) and not known)):
            # An unknown label's long answer is the customer's; a known field's label
            # ("Évaluation : Mauvaise, je ne suis pas satisfait") never holds the verbatim.
            read.answers.append(
                Item("answer", item.value, item.label, None, item.line, item.block, item.own_line)
            )
            read.tails_seen.append(item.value)
        elif item.value or item.kind == "field":
            read.unparsed.append(item.line.strip() or f"{item.label}: {item.value}")
    # A forwarder's note above the forwarded message is theirs, not the customer's.
    labels = " ".join(i.label for i in items if i.label)
    text = _verbatim(read, loose, forwarded or preface, titles, labels)
    lines = (
        i.line if i.kind != "prose" else i.value for i in items if i.kind not in ("meta", "aside")
    )
    everything = "\n".join(dict.fromkeys(lines))
    folded = fold(everything)
    # A refusal anywhere wins: labelled, or in any prose of the message. Prose cues run on the
    # words, not on label lines ("Consent to contact: not asked" says nothing).
    words_only = fold(
        "\n".join(
            i.value
            for i in items
            if i.kind in ("prose", "answer", "aside")
            or (i.match is not None and i.match.field == "text")
        )
        + "\n"
        + "\n".join(read.tails + read.tails_seen)
        + "\n"
        # a sentence standing as a label ("she does not want a call back:") may refuse too
        + "\n".join(
            i.label for i in items if i.label and (i.match is None or i.match.field != "consent")
        )
    )
    said = prose.consent(words_only, vocabulary)
    refusal = said is False
    if False in read.consents or refusal:
        consent: bool | None = False
    elif read.consents:
        consent = True
    else:
        consent = said
    status, churned_on = read.status, read.churned_on
    if status is None and churned_on is not None:
        status = "former"  # a churn date says the customer left
    if status is None:
        # What the customer says of themself ("je ne vous quitte pas encore") outweighs the
        # framing of the survey's questions and title ("Pourquoi nous quittez-vous ?").
        status, prose_date = prose.status(fold(text), vocabulary)
        if status is None:
            status, prose_date = prose.status(folded, vocabulary)
        churned_on = churned_on or prose_date
    elif status == "former" and churned_on is None:
        churned_on = prose.status(folded, vocabulary)[1]
    refs = list(read.refs)
    scanned = "\n".join(i.scan for i in items if i.kind == "meta" and i.scan)
    # The number a call was made to (`DNIS`) is the company's line, never the customer's.
    dialled = {i.line for i in items if i.match and _dialled_label(i.label)}
    scan = "\n".join(line for line in everything.split("\n") if line not in dialled)
    refs.extend(r for r in find_refs(scan + "\n" + scanned, country) if r not in refs)
    staff = staff or set()
    refs = [r for r in refs if r.kind != "email" or not is_staff_address(r.value, staff)]
    senders = EMAIL_PATTERN.findall(" ".join(i.scan for i in items if i.scan.count("@") == 1))
    customer_wrote = any(not is_staff_address(a, staff) for a in senders)
    # The customer's own reference first, then accounts, emails, phones.
    refs.sort(key=lambda r: (r not in read.customer_refs, _REF_ORDER.get(r.kind, 3)))
    score = read.score or prose.score(everything)
    return ParsedVerdict(
        text=text,
        customer=refs[0] if refs else None,
        status=status,
        channel=read.channel
        # a question ("can retention call her?") asks; it does not say how the survey ran
        or prose.channel(_statements(folded), vocabulary)
        or ("email" if customer_wrote else None),
        score=score[0] if score else None,
        consent=consent,
        source=read.source or prose.source(everything) or sender,
        churned_on=churned_on if status != "current" else None,
        scale=score[1] if score else None,
        refs=tuple(refs),
        unparsed=tuple(read.unparsed),
        labels=tuple(read.labels),
        answers=_question_answers(read),
    )


def _statements(folded: str) -> str:
    """The lines of a text that are not questions."""
    if "?" not in folded:
        return folded
    return "\n".join(line for line in folded.split("\n") if not line.rstrip().endswith("?"))


def parse_text(
    raw: str, default_country: str = "FR", vocabulary: Vocabulary | None = None
) -> ParsedVerdict:
    """Parse a message written as plain text (Slack mrkdwn accepted)."""
    vocab = vocabulary or load_vocabulary()
    items, marker, sender, staff = split_items(raw[: MAX_VERBATIM_CHARS * 2], vocab)
    return read_items(items, marker, sender, default_country, vocab, staff)


_SPACES = re.compile(r"[ \t]+")


def plain(text: str) -> str:
    """Slack text as a person reads it (links and escapes undone)."""
    return _SPACES.sub(" ", slack_to_plain(text))
