"""Lines that hold several fields: one-line summaries cut by `.` `;` `|` `·` ` / ` or two
spaces, labels with no colon (`Recontact non`, `NPS 4`), `Label:value, Label:value` (a form's
`pretty` string), and a CSV header with its row. Each piece becomes an item."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator

import bot.intake.parsing.values as values
from bot.intake.parsing.model import Item
from bot.intake.parsing.references import refs_in_value
from bot.intake.parsing.vocabulary import LabelMatch, Vocabulary, words

Segments = Callable[[str, Vocabulary, int], "list[Item] | None"]

# Separators of a one-line summary, strongest first.
_SEPARATORS = (
    re.compile(r"\s+\|\s+|\s*\|\s*(?=\S)"),
    re.compile(r"\s*;\s+|;(?=\S)"),
    re.compile(r"\s+[·•]\s+"),
    re.compile(r"\s+/\s+"),
    re.compile(r"\s{2,}|\t"),
    re.compile(r"(?<=[.!?])\s+(?=\S)"),
    re.compile(r",\s+"),
)
_LONE_REF = re.compile(
    r"^\s*(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d[\d .-]{7,}\d|[A-Z]{1,5}-\d{3,}|\d{6,12})\s*$"
)
# A comment's label with no colon before its words: only a comment noun, alone.
_BARE_TEXT_LABELS = frozenset(
    {"verbatim", "commentaire", "commentaires", "comment", "comments", "remarque", "remarques",
     "remarks", "feedback", "notes", "avis", "citation", "quote", "message", "verbatims"}
)  # fmt: skip
_SPACED_NUMBER = re.compile(r"^\+?[\d .()-]{8,20}$")  # `06 39 98 44 60`: one number, spaced
_LEADING_SYMBOLS = re.compile(r"^[^\w«\"“(#]+")
_LETTERS = re.compile(r"[^\W\d_]{3,}")


def reads_as(field: str, value: str, vocabulary: Vocabulary) -> bool:
    """Whether a value without a colon can be the answer to a label of this field."""
    if field == "consent":
        return values.yes_no(value, vocabulary) is not None
    if field == "ref":
        short = len(value.split()) <= 3 or _LONE_REF.match(value) is not None
        # "NPS 3" is no id: an id written bare has at least three digits
        digits = len(re.findall(r"\d", value)) >= 3
        return short and digits and bool(refs_in_value(value, "FR"))
    if field == "score":
        return len(value.split()) <= 4 and values.score(value) is not None
    if field == "status":
        return values.status(value, vocabulary) is not None
    if field == "channel":
        return values.channel(value, vocabulary) is not None
    if field == "churned_on":
        return values.find_date(value) is not None
    if field == "text":
        return len(_LETTERS.findall(value)) >= 3
    return False


def bare_field(cell: str, vocabulary: Vocabulary, block: int) -> Item | None:
    """`Recontact non`, `NPS 4`, `🆔 ACC-33018`, `Remarques On m'a promis...`: a label of one to
    three words followed by a value that reads as that field's; None otherwise."""
    for size, label, tokens in _heads(cell):
        if any(c.isdigit() for c in label):
            continue  # "tel 06 39 98 44 60": a label has no digits, the number is whole
        value = " ".join(tokens[size:]).rstrip(".,;").lstrip("-–—→>: ")  # "Recontact ok - non"
        match: LabelMatch | None = vocabulary.match(label)
        if match is None or (len(words(label)) != size and size > 1):
            continue
        if match.field == "text" and (
            not _BARE_TEXT_LABELS.issuperset(words(label))
            or not reads_as("text", value, vocabulary)
        ):
            continue  # "Remarques On m'a promis...", never "Likes the network, hates the app"
        if match.field != "text" and len(value.split()) > 4 and not _SPACED_NUMBER.match(value):
            continue  # without a colon, only a short answer is told from a sentence
        if reads_as(match.field, value, vocabulary):
            value = value.strip().strip('"“”«»').strip()
            return Item("field", value, label, match, cell, block)
    return None


def _heads(cell: str) -> Iterator[tuple[int, str, list[str]]]:
    """A cell's first three, two, then one words as a label with words after it: (size, label,
    the cell's words)."""
    tokens = _LEADING_SYMBOLS.sub("", cell.strip()).strip().split()
    for size in (3, 2, 1):
        if len(tokens) > size:
            yield size, " ".join(tokens[:size]), tokens


def _known_at_most(cell: str, vocabulary: Vocabulary) -> int:
    """How many known fields (not free text) the cell's items may hold, told cheaply: a colon
    may make several, a lone reference or a known label among its first words one, else none."""
    if ":" in cell or "=" in cell or "：" in cell:
        return 2
    if _LONE_REF.match(_LEADING_SYMBOLS.sub("", cell)):
        return 1
    for _, label, _ in _heads(cell):
        match = vocabulary.match(label)
        if match is not None and match.field != "text":
            return 1
    return 0


def _cell_items(cell: str, vocabulary: Vocabulary, block: int, segments: Segments) -> list[Item]:
    parsed = segments(cell, vocabulary, block)
    if parsed and any(i.kind == "field" for i in parsed):
        return parsed
    bare = bare_field(cell, vocabulary, block)
    if bare is not None:
        return [bare]
    status = values.status(cell.strip(" .;|·•/"), vocabulary) if len(cell.split()) <= 2 else None
    if status is not None and values.value_key(cell) in vocabulary.current | vocabulary.former:
        # "Acct #A-123; current; OK to email: yes": a summary's status, said in one word
        return [Item("field", cell.strip(" .;|·•/"), "", vocabulary.match("status"), cell, block)]
    lone = _LONE_REF.match(_LEADING_SYMBOLS.sub("", cell))
    if lone and refs_in_value(lone.group(0), "FR"):
        match = vocabulary.match("reference")
        return [Item("field", lone.group(0).strip(), "", match, cell, block)]
    return [Item("prose", cell.strip(" .;|·•/"), line=cell, block=block)]


def split_cells(
    line: str, vocabulary: Vocabulary, block: int, segments: Segments
) -> list[Item] | None:
    """A one-line summary's fields, when cutting the line at one kind of separator gives at
    least two cells that are fields; None otherwise."""
    quotes = [m.span() for m in _QUOTE_SPAN.finditer(line)]
    for separator in _SEPARATORS:
        cells = [c for c in _cut(line, separator, quotes) if c.strip(" .;|·•/")]
        if len(cells) < 2 or len(cells) > 40:
            continue
        if sum(_known_at_most(c, vocabulary) for c in cells) < 2:
            continue  # fewer than two known fields whatever the cells read as
        items = [i for c in cells for i in _cell_items(c, vocabulary, block, segments)]
        fields = sum(1 for i in items if i.kind == "field")
        known = sum(1 for i in items if i.kind == "field" and i.match and i.match.field != "text")
        if known >= 2 and fields >= len(cells) / 3:
            return items
    return None


_QUOTE_SPAN = re.compile(r"«[^«»]*»|“[^“”]*”|\"[^\"\n]*\"")


def _cut(line: str, separator: re.Pattern[str], quotes: list[tuple[int, int]]) -> list[str]:
    """The line cut at each separator outside quotes: a quoted sentence stays whole."""
    if not quotes:
        return separator.split(line)
    cells, last = [], 0
    for found in separator.finditer(line):
        if any(start < found.start() < end for start, end in quotes):
            continue
        cells.append(line[last : found.start()])
        last = found.end()
    return [*cells, line[last:]]


# `Label:value, Label:value` with no space after the colon (a form relay's `pretty` string).
_TIGHT_LABEL = re.compile(r"(?:^|(?<=, ))([^\s,:][^,:]{0,80}):(?=\S)(?!//)")


def loosen_tight_labels(line: str, vocabulary: Vocabulary) -> str:
    """`Nom:Hélène, E-mail:h@x.fr` as `Nom: Hélène, E-mail: h@x.fr` when at least two of the
    labels are known (so times such as `10:30` and URLs stay as they are)."""
    found = list(_TIGHT_LABEL.finditer(line))
    if len(found) < 2 or sum(1 for m in found if vocabulary.match(m.group(1))) < 2:
        return line
    out, last = [], 0
    for match in found:
        out.append(line[last : match.end(1)] + ": ")
        last = match.end(1) + 1
    return "".join(out) + line[last:]


_CSV_HEADER_CELL = re.compile(r"^[\w .'-]{1,40}$")


def csv_items(first: str, second: str, vocabulary: Vocabulary, block: int) -> list[Item] | None:
    """A CSV header line and its row, pasted into a message, as `column: value` items; None
    when the two lines are not that (fewer than three columns, or no known column)."""
    for delimiter in (",", ";", "\t"):
        if first.count(delimiter) < 2:
            continue
        try:
            header = next(csv.reader([first], delimiter=delimiter))
            row = next(csv.reader([second], delimiter=delimiter))
        except (csv.Error, StopIteration):
            return None
        if len(header) != len(row) or not all(_CSV_HEADER_CELL.match(h.strip()) for h in header):
            continue
        items = []
        for name, value in zip(header, row, strict=True):
            match = vocabulary.match(name.strip())
            kind = "field" if match else "answer"
            line = f"{name.strip()}: {value.strip()}"
            items.append(Item(kind, value.strip(), name.strip(), match, line, block))
        if any(i.kind == "field" for i in items):
            return items
    return None
