"""Masking of personal data before any verbatim leaves for the LLM.

Emails, phone numbers, account references, card numbers and IBANs are replaced by fixed
placeholders. The output is deterministic, so the same verbatim always masks to the same text
(the LLM cache keys on it). Short numbers that carry meaning ("614", "24 mois", "3 euros")
are kept: only what identifies a customer or an account goes.
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers

from bot.intake.parsing import ACCOUNT_PATTERN, EMAIL_PATTERN, slack_to_plain

__all__ = ["EMAIL", "PHONE", "mask", "text_hash"]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
ACCOUNT = "[ACCOUNT]"
CARD = "[CARD]"
IBAN = "[IBAN]"

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# Digit runs the phone library does not accept (foreign formats, typos): 9+ digits with the
# usual separators are a phone or account number in a verbatim, never a price or a date.
_LONG_NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[\s.\-()/]{0,2}\d){8,}(?!\w)")


# Emails written to dodge scrapers: `name at example dot fr`, `name [at] example [dot] fr`,
# `name(at)example.fr`, `nom arobase exemple point fr`. The `at` needs brackets or spaces
# around it, and at least one `dot` (or a dot glued to the next label) must follow, so that
# "I was at home. Then" stays as written.
_AT = r"(?:\s*[\[({<]\s*(?:at|@|arobase)\s*[\])}>]\s*|\s+(?:at|arobase)\s+)"
_DOT = r"(?:\s*[\[({<]\s*(?:dot|point)\s*[\])}>]\s*|\s+(?:dot|point)\s+|\.(?=\w))"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[^\W\d_]{{2,24}}\b",
    re.IGNORECASE,
)
# Internationalised addresses (`jean@exämple.fr`, `用户@例子.中国`): \w is Unicode-aware, so any
# script's letters are accepted on both sides of the @.
_UNICODE_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,24}")


def _mask_accounts(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        start, end = match.span(1)
        whole_start = match.start()
        return match.group(0)[: start - whole_start] + ACCOUNT + match.group(0)[end - whole_start :]

    return ACCOUNT_PATTERN.sub(repl, text)


def _mask_phones(text: str, default_country: str) -> str:
    spans = [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, default_country, leniency=phonenumbers.Leniency.POSSIBLE
        )
    ]
    for start, end in reversed(spans):
        text = text[:start] + PHONE + text[end:]
    return _LONG_NUMBER.sub(PHONE, text)


def mask(text: str, default_country: str = "FR") -> str:
    """The verbatim with emails, phones, account ids, cards and IBANs replaced by placeholders."""
    text = slack_to_plain(text or "")
    text = _OBFUSCATED_EMAIL.sub(EMAIL, text)
    text = EMAIL_PATTERN.sub(EMAIL, text)
    text = _UNICODE_EMAIL.sub(EMAIL, text)
    text = _IBAN.sub(IBAN, text)
    text = _CARD.sub(CARD, text)
    text = _mask_accounts(text)
    return _mask_phones(text, default_country)


def text_hash(masked: str) -> str:
    """The cache key of a masked verbatim: SHA-256 of its whitespace-normalised text."""
    return hashlib.sha256(" ".join(masked.split()).encode("utf-8")).hexdigest()
