"""Lines that frame a message rather than say anything: a notification's or a note's title
(`Nouveau détracteur :rage:`, `Exit call – 15 May 2026`, `FORMULAIRE DE RÉSILIATION – saisi
par la boutique`) and a form's tick-box options (`☐ Prix`, `☒ Qualité du réseau`). Neither is
the customer's words while the message holds any; both are still read for fields."""

from __future__ import annotations

import re

from bot.intake.parsing.vocabulary import words

# Words that name a message's kind (a survey tool's notification, a form, a call's notes) and
# that a customer's own first line rarely holds: not "new", "call" or "résiliation".
_TITLE_WORDS = frozenset(
    {
        "submission", "soumission", "response", "responses", "reponse", "reponses", "survey",
        "enquete", "questionnaire", "form", "formulaire", "export", "notes", "entretien",
        "interview", "summary", "synthese", "rendu", "fwd", "fw", "tr", "report", "rapport",
        "rating", "detractor", "detracteur", "promoter", "promoteur", "passive", "passif",
        "alert", "alerte", "received", "recu", "recue", "exit", "escalation", "escalade", "nps",
        "csat", "transcript", "transcription", "exportee", "exported", "conversation",
    }
)  # fmt: skip
# A title never speaks to or as someone: a line with these is a person's sentence.
_PERSONAL = frozenset(
    {
        "i", "me", "my", "im", "ive", "you", "your", "je", "j", "moi", "mon", "ma", "mes",
        "vous", "votre", "vos", "tu", "ton", "ta", "tes", "we", "our", "nous", "notre", "nos",
    }
)  # fmt: skip
SHORTCODE = re.compile(r":[a-z0-9_+-]{2,30}:")  # Slack's emoji (`:rage:`), not a word
_SENTENCE_END = re.compile(r"[.!?…]$")
_SYMBOLS = re.compile(r"[^\w\s'’()\[\]/#&.,:;!?…«»\"“”–—-]+")
_MAX_WORDS = 12
BOX = re.compile(r"^\s*(\[\s?\]|\[[xX✓✔]\]|\(\s?\)|\([xX]\)|[☐☑☒✅❌✓✔□■])\s*")
_BOXES = re.compile(r"[☐☑☒□■]|\[\s?\]|\[[xX]\]")


def title_line(line: str) -> bool:
    """Whether a message's first line is its title: short, not a sentence, no one speaking,
    naming the message's kind or written in capitals."""
    text = _SYMBOLS.sub(" ", SHORTCODE.sub(" ", line)).strip(" *_`")
    if not text or _SENTENCE_END.search(text):
        return False
    found = words(text)
    if not found or len(found) > _MAX_WORDS or _PERSONAL.intersection(found):
        return False
    letters = [c for c in text if c.isalpha()]
    if len(found) >= 2 and letters and all(c.isupper() for c in letters):
        return True
    return bool(_TITLE_WORDS.intersection(found))


def choice_line(value: str) -> bool:
    """A form's options with their tick boxes (`☐ Prix`, `☒ Price  ☐ Coverage`): a choice,
    never the customer's words."""
    return BOX.match(value) is not None or len(_BOXES.findall(value)) >= 2
