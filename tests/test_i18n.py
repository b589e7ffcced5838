"""The bot's own words: every message exists in each language, with the same placeholders."""

from __future__ import annotations

import string

from bot.slack.i18n import MESSAGES, t
from bot.slack.messages_en import MESSAGES_EN
from bot.slack.messages_fr import MESSAGES_FR


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_en_and_fr_have_the_same_keys() -> None:
    assert set(MESSAGES_EN) - set(MESSAGES_FR) == set()
    assert set(MESSAGES_FR) - set(MESSAGES_EN) == set()


def test_en_and_fr_fill_in_the_same_values() -> None:
    # A placeholder missing from one language would raise KeyError, or drop a value, only there.
    differ = {
        key: (_placeholders(MESSAGES_EN[key]), _placeholders(MESSAGES_FR[key]))
        for key in MESSAGES_EN.keys() & MESSAGES_FR.keys()
        if _placeholders(MESSAGES_EN[key]) != _placeholders(MESSAGES_FR[key])
    }
    assert differ == {}


def test_t_picks_the_language_and_falls_back_to_english() -> None:
    assert MESSAGES == {"en": MESSAGES_EN, "fr": MESSAGES_FR}
    assert t("fr", "customer") == MESSAGES_FR["customer"]
    assert t("de", "customer") == MESSAGES_EN["customer"]
    assert t("en", "case_title", id=7, reason="Price") == "Case #7 · Price"
    assert t("en", "no_such_key") == "no_such_key"
