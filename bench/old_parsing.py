"""The intake parser as it was before issue 16, kept only so bench_parse.py can measure both."""
# ruff: noqa

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

MAX_VERBATIM_CHARS = 20_000

_SLACK_LINK = re.compile(r"<(?:mailto:|tel:)?([^<>|]+)\|([^<>]+)>|<(?:mailto:|tel:)([^<>|]+)>")
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
ACCOUNT_PATTERN = re.compile(
    r"\b(?:account|acct|compte|contrat|contract|client|customer|abonn[eé])\s*"
    r"(?:n[°o]\.?|#|id|:|number|num[eé]ro)?\s*[:#]?\s*([A-Z]{0,4}-?\d[A-Z0-9-]{3,})\b",
    re.IGNORECASE,
)
_INLINE_SCORE = re.compile(r"\b(?:NPS|CSAT)\s*(?:score)?\s*[:=]?\s*(\d{1,2})\b", re.IGNORECASE)
_HEADER = re.compile(r"^\s*[*_]*([A-Za-zÀ-ÿ' ]{2,30}?)[*_]*\s*:\s*(.+?)\s*$")

# Header names survey tools and people use, in English and French, folded to ASCII lowercase.
_KEYS = {
    "customer": "ref",
    "client": "ref",
    "account": "ref",
    "compte": "ref",
    "customer id": "ref",
    "reference": "ref",
    "ref": "ref",
    "email": "ref",
    "e-mail": "ref",
    "mail": "ref",
    "phone": "ref",
    "telephone": "ref",
    "tel": "ref",
    "mobile": "ref",
    "status": "status",
    "statut": "status",
    "channel": "channel",
    "canal": "channel",
    "via": "channel",
    "score": "score",
    "nps": "score",
    "note": "score",
    "csat": "score",
    "consent": "consent",
    "consentement": "consent",
    "forward": "consent",
    "source": "source",
    "survey": "source",
    "enquete": "source",
    "institut": "source",
    "churn date": "churned_on",
    "churned": "churned_on",
    "resiliation": "churned_on",
    "date de resiliation": "churned_on",
    "left on": "churned_on",
    "verbatim": "text",
    "comment": "text",
    "commentaire": "text",
    "answer": "text",
    "reponse": "text",
    "feedback": "text",
    "message": "text",
}
_FORMER = {
    "former",
    "ex",
    "churned",
    "left",
    "cancelled",
    "canceled",
    "ancien",
    "ancienne",
    "resilie",
    "resiliee",
    "parti",
    "partie",
    "ex-client",
    "former customer",
}
_CURRENT = {"current", "active", "subscriber", "actuel", "actuelle", "abonne", "abonnee", "client"}
_CHANNELS = {
    "web": "web",
    "online": "web",
    "internet": "web",
    "phone": "phone",
    "telephone": "phone",
    "call": "phone",
    "appel": "phone",
    "email": "email",
    "mail": "email",
    "e-mail": "email",
    "chat": "chat",
    "sms": "chat",
    "app": "web",
}
_YES = {"yes", "y", "true", "oui", "o", "1", "ok", "granted", "accepted"}
_NO = {"no", "n", "false", "non", "0", "refused", "declined", "refuse"}


def fold(value: str) -> str:
    """Lowercase ASCII fold, so `Téléphone` and `telephone` match."""
    decomposed = unicodedata.normalize("NFKD", value.replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


@dataclass(frozen=True)
class CustomerRef:
    """A normalised customer reference: `kind` is account, phone or email."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class ParsedVerdict:
    """What a message says about a verdict; None where it says nothing (never a guess)."""

    text: str
    customer: CustomerRef | None
    status: str | None
    channel: str | None
    score: int | None
    consent: bool | None
    source: str | None
    churned_on: str | None
    scale: str | None = None
    refs: tuple[CustomerRef, ...] = ()


def slack_to_plain(text: str) -> str:
    """Undo Slack's mrkdwn escaping and link syntax (`<mailto:a@b.c|a@b.c>` becomes `a@b.c`)."""

    def link(match: re.Match[str]) -> str:
        return match.group(2) or match.group(3) or match.group(1)

    return html.unescape(_SLACK_LINK.sub(link, text))


def normalise_ref(raw: str, default_country: str) -> CustomerRef | None:
    """Normalise one reference: email lowercased, phone to E.164, else an account id."""
    value = raw.strip().strip("<>").strip()
    if not value:
        return None
    email = EMAIL_PATTERN.fullmatch(value)
    if email:
        return CustomerRef("email", value.lower())
    digits = re.sub(r"[\s.()-]", "", value)
    if re.fullmatch(r"\+?\d{8,15}", digits):
        try:
            number = phonenumbers.parse(value, default_country)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return CustomerRef("phone", e164)
    account = re.sub(r"\s+", "", value).upper()
    if re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{2,63}", account):
        return CustomerRef("account", account)
    return None


def find_refs(text: str, default_country: str) -> list[CustomerRef]:
    """Every customer reference in free text: emails, then phone numbers, then account ids."""
    refs = [CustomerRef("email", m.group(0).lower()) for m in EMAIL_PATTERN.finditer(text)]
    for match in phonenumbers.PhoneNumberMatcher(text, default_country):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        refs.append(CustomerRef("phone", e164))
    refs.extend(CustomerRef("account", m.group(1).upper()) for m in ACCOUNT_PATTERN.finditer(text))
    return list(dict.fromkeys(refs))


def find_ref(text: str, default_country: str) -> CustomerRef | None:
    """The first customer reference in free text (see find_refs)."""
    refs = find_refs(text, default_country)
    return refs[0] if refs else None


# Prose cues, in English and French, matched on folded text. Only clear statements count:
# "I am cancelling at the end of my commitment" is not yet a former customer.
_PROSE_FORMER = re.compile(
    r"\b(former (customer|subscriber|client)|ex-(client|customer|abonne)|ancien(ne)? (client|abonne)"
    r"|no longer (a )?(customer|subscriber|client)|plus client|j'ai resilie|i (have )?(cancelled|canceled|left)"
    r"|since i (cancelled|canceled|left)|depuis (ma|sa) resiliation|a resilie|has (cancelled|canceled|left))\b"
)
_PROSE_CURRENT = re.compile(
    r"\b(current (customer|subscriber)|client actuel|toujours client|still (a )?(customer|subscriber))\b"
)
_PROSE_CHANNEL = [
    (
        "phone",
        re.compile(
            r"\b(phone survey|telephone survey|by phone|over the phone|phone interview|enquete telephonique|par telephone|entretien telephonique|appel)\b"
        ),
    ),
    (
        "web",
        re.compile(
            r"\b(web survey|online survey|web form|questionnaire (en ligne|web|internet)|sur internet|formulaire web)\b"
        ),
    ),
    ("email", re.compile(r"\b(by e-?mail|par (e-?mail|courriel)|email complaint|courriel)\b")),
    ("chat", re.compile(r"\b(live chat|by chat|par chat|via (le )?chat)\b")),
]
_PROSE_SOURCE = re.compile(
    r"\b((?:Institut|Institute|Cabinet|Agence|Agency)\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)"
)
_PROSE_CONSENT_YES = re.compile(
    r"\b(consent(s|ed)? to (forward|share|be contacted)|agreed to (forward|share|be contacted)"
    r"|accepte (que ses reponses soient transmises|d'etre recontacte|la transmission)|ok pour (transmettre|etre recontacte))\b"
)
_PROSE_CONSENT_NO = re.compile(
    r"\b(no consent|does not consent|did not consent|refused (forwarding|to be contacted)|do not forward"
    r"|refuse (la transmission|d'etre recontacte)|ne souhaite pas etre recontacte|pas de transmission)\b"
)


def _prose_status(folded: str) -> str | None:
    if _PROSE_FORMER.search(folded):
        return "former"
    if _PROSE_CURRENT.search(folded):
        return "current"
    return None


def _prose_channel(folded: str) -> str | None:
    found = [name for name, pattern in _PROSE_CHANNEL if pattern.search(folded)]
    return found[0] if len(found) == 1 else None  # two different cues: leave it unknown


def _prose_consent(folded: str) -> bool | None:
    if _PROSE_CONSENT_NO.search(folded):
        return False
    if _PROSE_CONSENT_YES.search(folded):
        return True
    return None


def _status(value: str) -> str | None:
    folded = fold(value)
    if folded in _FORMER or any(word in folded.split() for word in ("former", "ancien", "resilie")):
        return "former"
    if folded in _CURRENT:
        return "current"
    return None


def _score(value: str) -> int | None:
    match = re.match(r"^\s*(\d{1,2})(?:\s*/\s*(\d{1,2}))?", value)
    if not match:
        return None
    score = int(match.group(1))
    return score if 0 <= score <= 10 else None


def _scale(value: str) -> str:
    out_of = re.search(r"/\s*(\d{1,2})", value)
    return "csat" if out_of and out_of.group(1) == "5" else "nps"


def _consent(value: str) -> bool | None:
    folded = fold(value).rstrip(".!")
    if folded in _YES or folded.startswith(("yes", "oui")):
        return True
    if folded in _NO or folded.startswith(("no", "non")):
        return False
    return None


def _understood(key: str, value: str) -> bool:
    checks = {"score": _score, "consent": _consent, "status": _status}
    if key in checks:
        return checks[key](value) is not None
    if key == "channel":
        return fold(value) in _CHANNELS
    return True


def read_status(value: str) -> str | None:
    """A customer status given on its own (a file's column): "former", "current" or None."""
    return _status(value.strip()) or _prose_status(fold(value))


def read_channel(value: str) -> str | None:
    """A survey channel given on its own: "web", "phone", "email", "chat" or None."""
    return _CHANNELS.get(fold(value.strip())) or _prose_channel(fold(value))


def read_churn_date(value: str) -> str | None:
    """A churn date given on its own, as an ISO date, or None."""
    return _date(value.strip().strip('*_"“”«» '))


def parse_verdict(raw: str, default_country: str = "FR") -> ParsedVerdict:
    """Split `Key: value` header lines from the verbatim and read the customer reference."""
    text = slack_to_plain(raw)
    fields: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        key = _KEYS.get(fold(match.group(1))) if match else None
        if match and key and not _understood(key, match.group(2)):
            key = None  # "Note: call back later" is a sentence, not a score header
        if match and key and (key != "text" or "text" not in fields):
            fields.setdefault(key, match.group(2).strip().strip('*_"“”«» '))
        else:
            body.append(line)
    verbatim = "\n".join(body).strip()
    if "text" in fields:
        verbatim = (fields["text"] + ("\n" + verbatim if verbatim else "")).strip()
    verbatim = verbatim.strip('"“”«» \n')[:MAX_VERBATIM_CHARS]
    refs = find_refs(text, default_country)
    header_ref = normalise_ref(fields["ref"], default_country) if "ref" in fields else None
    if header_ref is not None:
        refs = [header_ref, *(r for r in refs if r != header_ref)]
    score = _score(fields["score"]) if "score" in fields else None
    scale = _scale(fields["score"]) if score is not None else None
    if score is None:
        inline = _INLINE_SCORE.search(text)
        if inline and int(inline.group(1)) <= 10:
            score = int(inline.group(1))
            scale = "csat" if inline.group(0).upper().startswith("CSAT") else "nps"
    folded = fold(text)
    channel_value = fold(fields.get("channel", ""))
    source = fields.get("source")
    if source is None:
        prose_source = _PROSE_SOURCE.search(text)
        source = prose_source.group(1) if prose_source else None
    return ParsedVerdict(
        text=verbatim,
        customer=refs[0] if refs else None,
        status=_status(fields["status"]) if "status" in fields else _prose_status(folded),
        channel=_CHANNELS.get(channel_value) if channel_value else _prose_channel(folded),
        score=score,
        consent=_consent(fields["consent"]) if "consent" in fields else _prose_consent(folded),
        source=source,
        churned_on=_date(fields["churned_on"]) if "churned_on" in fields else None,
        scale=scale,
        refs=tuple(refs),
    )


def _date(value: str) -> str | None:
    """An ISO date from `2026-07-02`, `02/07/2026` (day first, as in French) or `2 July 2026`."""
    value = value.strip()
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
    if iso:
        return "-".join(iso.groups())
    dmy = re.match(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$", value)
    if dmy:
        day, month, year = (int(x) for x in dmy.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None
