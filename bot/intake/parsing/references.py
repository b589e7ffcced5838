"""Customer references: account ids, phone numbers (E.164) and emails, from a labelled value or
from prose. A reference word is never part of the id: `compte 12345678` is `12345678`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers

from bot.intake.parsing.model import CustomerRef

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Words that introduce a reference in prose, in English and French.
_REF_WORDS = (
    r"account|acct|compte|contrat|contract|client|cliente|customer|abonn[eé]e?|member|subscriber"
    r"|membre|ligne|line|dossier|cust|abonnement|subscription"
)
_NUMBER_WORDS = r"n[°ºo]\.?|#|id|no\.|nr\.?|number|num[eé]ro|num\.?|ref\.?|r[eé]f[eé]rence"
ACCOUNT_PATTERN = re.compile(
    rf"\b(?:{_REF_WORDS})[\s_]*(?:(?:{_NUMBER_WORDS})[\s_]*)?(?:(?:d[e'’]\s*)?(?:{_NUMBER_WORDS})?\s*)?"
    r"[:#]?\s*[*_]?((?:[A-Z]{1,5}-?)?\d[A-Z0-9-]{3,}|[A-Z]{1,5}-\d{2,}[A-Z0-9-]*"
    # dictated, in pairs: "compte 41 22 09 87" (never a phone: no leading 0 or +)
    r"|[1-9]\d(?: \d{2}){3,4}(?![\d ]*\d))\b",
    re.IGNORECASE,
)
# Leading words of a labelled value that are not part of the id: "compte 123", "n° 123", "#A-1".
_LEADING_WORDS = re.compile(
    rf"^(?:(?:{_REF_WORDS}|{_NUMBER_WORDS}|d[e'’]|:)\s*)+(?=[A-Za-z]{{0,5}}-?\d|#)", re.IGNORECASE
)
# `ref ACC-61208`, `Réf. : PRO-22817`, `🆔 ACC-33018`: an id with letters, led by a word that
# says it is one (a bare number after "ref" may be an order or a ticket: not taken).
_LED_ID = re.compile(
    r"(?:\bref(?:erence)?\b\.?|\br[ée]f(?:[ée]rence)?\b\.?|🆔)\s*[:#]?\s*([A-Z]{1,5}-\d{3,}[A-Z0-9-]*)\b",
    re.IGNORECASE,
)
_MAYBE_PHONE = re.compile(r"(?:\+|\b0)\d[\d .()-]{6,}\d")


# A message names its customer several times (a summary's cell, then its field): the last few
# answers are kept, as telling a phone number from an account id is slow.
@lru_cache(maxsize=32)
def normalise_ref(raw: str, default_country: str) -> CustomerRef | None:
    """Normalise one reference: email lowercased, phone to E.164, else an account id."""
    value = raw.strip().strip("<>`*_\"'“”«» ").strip()
    if not value:
        return None
    email = EMAIL_PATTERN.fullmatch(value)
    if email:
        return CustomerRef("email", value.lower())
    if _NOT_PHONE.fullmatch(value):
        return None  # an IP address or a time
    digits = re.sub(r"[\s.()-]", "", value)
    if re.fullmatch(r"\+?\d{8,15}", digits):
        try:
            number = phonenumbers.parse(value, default_country)
        except phonenumbers.NumberParseException:
            number = None
        # A possible number written with its prefix (+ or a trunk 0) is a phone, even in a
        # range the metadata does not list yet (new ranges, the regulator's fiction ranges).
        if number is not None and _plausible(number, digits):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return CustomerRef("phone", e164)
    account = re.sub(r"\s+", "", value).upper()
    if re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{2,63}", account):
        return CustomerRef("account", account)
    return None


def refs_in_value(raw: str, default_country: str) -> list[CustomerRef]:
    """The references in a labelled value: `compte 12345678`, `#A-123`, `a@b.fr / 06 12 34 56 78`."""
    value = raw.strip().strip("`*_\"'“”«» ")
    emails = [CustomerRef("email", m.group(0).lower()) for m in _emails(value)]
    if emails:
        rest = EMAIL_PATTERN.sub(" ", value)
        others = [r for r in _phones(rest, default_country)]
        # "Thierry Garnier – compte 44106298 (t.garnier@…)": the account is given too
        accounts = [_account(m.group(1)) for m in _accounts(rest)]
        # "Customer: Gareth Lloyd · 60118843 · g.lloyd@…": a lone number under a customer label
        rest = _MAYBE_PHONE.sub(" ", rest)
        accounts += [CustomerRef("account", n) for n in _LONE_NUMBER.findall(rest)]
        return list(dict.fromkeys([*accounts, *emails, *others]))
    value = _LEADING_WORDS.sub("", value).lstrip("#: ").strip()
    whole = normalise_ref(value, default_country) if re.search(r"\d", value) else None
    if whole is not None and (whole.kind != "account" or len(whole.value) <= 24):
        return [whole]
    first = re.split(r"\s*(?:[,;/|(]|\s-\s|\s{2,})\s*", value, maxsplit=1)[0]
    first = _LEADING_WORDS.sub("", first).lstrip("#: ").strip()
    ref = normalise_ref(first, default_country) if re.search(r"\d", first) else None
    return [ref] if ref is not None else []


def _plausible(number: phonenumbers.PhoneNumber, digits: str) -> bool:
    if phonenumbers.is_valid_number(number):
        return True
    return digits[:1] in ("+", "0") and phonenumbers.is_possible_number(number)


_NOT_PHONE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")


def _phones(text: str, default_country: str) -> list[CustomerRef]:
    if not _MAYBE_PHONE.search(text):
        return []  # the matcher is slow: run it only where a number may be
    text = _NOT_PHONE.sub(" ", text)  # an IP address, a time: never a phone number
    found = []
    matcher = phonenumbers.PhoneNumberMatcher(
        text, default_country, leniency=phonenumbers.Leniency.POSSIBLE
    )
    for match in matcher:
        digits = re.sub(r"[\s.()-]", "", match.raw_string)
        if not _plausible(match.number, digits):
            continue
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        found.append(CustomerRef("phone", e164))
    return found


_LONE_NUMBER = re.compile(r"(?<![\w.,/:-])\d{6,12}(?![\w.,/:-])")


def _account(raw: str) -> CustomerRef:
    return CustomerRef("account", raw.replace(" ", "").upper())


# "Missed call from +33 6… to *Ondalis Care* (01 99 00 20 00)": the number called is the company's.
_CALLED_LINE = re.compile(
    r"\b(?:vers|to)\s+[*_]?[A-Z][^()\n]{1,40}?[*_]?\s*\(\s*\+?\d[\d .-]{7,}\d\s*\)"
)


def find_refs(text: str, default_country: str) -> list[CustomerRef]:
    """Every customer reference in free text: emails, then phone numbers, then account ids."""
    if "(" in text and ("to" in text or "vers" in text):
        text = _CALLED_LINE.sub(" ", text)
    refs = [CustomerRef("email", m.group(0).lower()) for m in _emails(text)]
    refs.extend(_phones(text, default_country))
    refs.extend(_account(m.group(1)) for m in _accounts(text))
    led = _only_at(_LED_ID, text, ("ref",)) if text.isascii() else _LED_ID.finditer(text)
    refs.extend(CustomerRef("account", m.group(1).upper()) for m in led)
    return list(dict.fromkeys(refs))


def _emails(text: str) -> Iterator[re.Match[str]]:
    return EMAIL_PATTERN.finditer(text) if "@" in text else iter(())


# What each of `_REF_WORDS` starts with, lowercase: every match of the account pattern starts
# with one of them.
_REF_STEMS = (
    "acc",
    "compte",
    "contra",
    "client",
    "cust",
    "abonn",
    "memb",
    "subscri",
    "lign",
    "line",
    "dossier",
)


def _accounts(text: str) -> Iterator[re.Match[str]]:
    """`ACCOUNT_PATTERN.finditer(text)`; the expression (slow: its words tried at every position)
    is tried only where one of its words starts."""
    if not text.isascii():
        return ACCOUNT_PATTERN.finditer(text)  # ignoring case outside ASCII: the expression's own
    return _only_at(ACCOUNT_PATTERN, text, _REF_STEMS)


def _only_at(
    pattern: re.Pattern[str], text: str, stems: tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for an ASCII text and a pattern (ignoring case) whose every match
    starts with one of `stems`: tried at those places alone, leftmost first, never overlapping."""
    lowered = text.lower()
    starts: set[int] = set()
    for stem in stems:
        at = lowered.find(stem)
        while at >= 0:
            starts.add(at)
            at = lowered.find(stem, at + 1)
    end = 0
    for start in sorted(starts):
        if start < end:
            continue
        found = pattern.match(text, start)
        if found is not None:
            yield found
            end = found.end()


def find_ref(text: str, default_country: str) -> CustomerRef | None:
    """The first customer reference in free text (see find_refs)."""
    refs = find_refs(text, default_country)
    return refs[0] if refs else None
