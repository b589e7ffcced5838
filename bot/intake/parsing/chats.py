"""A chat transcript pasted as it is exported (WhatsApp, a live chat): `[12/05/2026 10:14] Name:
text` or `13/05/2026, 19:04 - Name: text`. The company's lines are not the customer's words;
a question it asks becomes a label on its own line, so the customer's reply below answers it
("May someone from our retention team call you?" then "Yes fine")."""

from __future__ import annotations

import re

from bot.intake.parsing.model import fold

_TURN = re.compile(
    r"^\s*\[?\d{1,2}[/.]\d{1,2}[/.]\d{2,4},?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]m)?\]?\s*-?\s*"
    r"(?P<who>[^:\n]{1,40}?):\s(?P<said>.*)$",
    re.IGNORECASE,
)
# A speaker named for a role is the company's side of the conversation.
_COMPANY = re.compile(
    r"\b(?:service|support|team|equipe|business|care|bot|assistant|conseill\w*|agent|help"
    r"|sav|relation|official|officiel)\b"
)
_QUESTION = re.compile(r"([^.!?]*\?)[^?]*$")
_ATTACHMENT = re.compile(r"^\s*<(?:attached|piece jointe|pièce jointe)[^>]*>\s*$|omitted>?\s*$")
_MIN_TURNS = 2


def chat_lines(lines: list[str]) -> list[str]:
    """The lines with a transcript's turns rewritten: the customer's as what they said, the
    company's as its last question (a label) or nothing; lines unchanged without a transcript."""
    turns = [_TURN.match(line.replace("&lt;", "<").replace("&gt;", ">")) for line in lines]
    if sum(1 for t in turns if t) < _MIN_TURNS:
        return lines
    first = next(n for n, t in enumerate(turns) if t)
    out = [line.rstrip().rstrip(":：") if n < first else line for n, line in enumerate(lines)]
    for n, turn in enumerate(turns):
        if turn is None:
            continue
        said = turn.group("said").strip()
        if _COMPANY.search(fold(turn.group("who"))):
            question = _QUESTION.search(said)
            out[n] = f"*{question.group(1).strip()}*" if question else ""
        else:
            out[n] = "" if _ATTACHMENT.search(said) else said
    return out
