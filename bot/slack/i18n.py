"""The bot's own words, in the team's language (en, fr).

The catalogues live one module per language (messages_en, messages_fr); this one picks a
message and fills it in.
"""

from __future__ import annotations

from bot.slack.messages_en import MESSAGES_EN
from bot.slack.messages_fr import MESSAGES_FR

MESSAGES: dict[str, dict[str, str]] = {"en": MESSAGES_EN, "fr": MESSAGES_FR}


def t(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (English when missing), formatted with `values`."""
    table = MESSAGES.get(lang, MESSAGES["en"])
    template = table.get(key) or MESSAGES["en"].get(key) or key
    return template.format(**values)


def tn(lang: str, key: str, count: int, **values: object) -> str:
    """The message `key` for `count` things: `key_one` or `key_other`, as the language's
    grammar wants (English: one is singular; French: zero and one are)."""
    singular = count in (0, 1) if lang == "fr" else count == 1
    return t(lang, f"{key}_{'one' if singular else 'other'}", count=count, **values)
