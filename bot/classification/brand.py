"""The team's own brand and its competitors: names are the team's, never the shipped taxonomy's.

Customers name the company they write to (`@VodafoneUK`, "chez Orange"); that is no reason to
leave. So the team's own names, @handles, hashtags and URLs are taken out of the text before any
classifier reads it, and so is an addressee `@Something` at the start of a message. A configured
competitor is a cue for `competitor_offer`; any other company counts only in a switching context
("moving to", "parti chez"), which the taxonomy's keywords already express.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "COMPETITOR_REASON",
    "BrandConfig",
    "ClassifierTeamSettings",
    "competitor_terms",
    "neutralise",
]

COMPETITOR_REASON = "competitor_offer"

# An addressee at the very start: "@VodafoneUK @O2 my bill..." (several, comma or colon after).
_ADDRESSEE_RE = re.compile(r"^\s*(?:[@＠][\w.-]+[\s,:;]*)+")
# Switching phrases right before one of the team's own names: joining us is not leaving us.
_SWITCH = (
    r"(?:switch(?:ed|ing)?\s+to|mov(?:ed|ing|e)\s+to|went\s+(?:to|with)|go(?:ing)?\s+to|"
    r"join(?:ed|ing)?|signed(?:\s+up)?\s+with|left\s+for|came\s+to|with|at|"
    r"pass[ée]e?s?\s+chez|parti(?:e|s)?\s+chez|partir\s+chez|souscrit\s+chez|venu(?:e)?\s+chez|chez)"
)

# A greeted addressee at the start: "Dear Vodafone," "Bonjour Orange :" (names capitalised).
_GREETING_RE = re.compile(
    r"^\s*(?i:hi|hello|hey|dear|bonjour|bonsoir|salut|cher|ch[eè]re)\s+"
    r"[@＠]?[A-Z0-9][\w&'.-]*(?:\s+[A-Z][\w&'.-]*){0,2}\s*[,:!]"
)
# An @handle anywhere, with the switching phrase before it when there is one.
_HANDLE_RE = re.compile(rf"(\b{_SWITCH}\s+)?(?<![\w.+-])[@＠]([^\W_][\w.-]*)", re.IGNORECASE)


class BrandConfig(BaseModel):
    """`brand:` in the team's config: its own names and its competitors' (names, @handles,
    domains)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = []
    competitors: list[str] = []

    @field_validator("names", "competitors", mode="before")
    @classmethod
    def _check_names(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of names, @handles or domains")
        for i, name in enumerate(value):
            if not isinstance(name, str) or len(_core(name)) < 2:
                raise ValueError(f"entry {i} ({name!r}) must be a name of 2+ letters")
        return [name.strip() for name in value]


class ClassifierTeamSettings(BaseModel):
    """The team config's classifier keys (a base of `TeamConfig`): `brand:` and `taxonomy:`."""

    brand: BrandConfig = Field(default_factory=BrandConfig)  # own names, competitors' names
    taxonomy: str | None = None  # a team's own taxonomy file; default prompts/taxonomy.yaml


def _core(name: str) -> str:
    """`@Orange_FR` -> `Orange_FR`, `https://www.orange.fr/` -> `orange.fr`."""
    core = re.sub(r"^(?:https?://)?(?:www\.)?", "", name.strip().lstrip("@＠#"), flags=re.I)
    return core.rstrip("/")


def _own_patterns(names: list[str]) -> re.Pattern[str] | None:
    alternatives: list[str] = []
    for name in names:
        core = re.escape(_core(name)).replace(r"\ ", r"\s+")
        # The name as a word, a @handle or #hashtag starting with it, a URL or domain with it.
        alternatives.append(rf"(?:https?://)?(?:www\.)?[\w.-]*{core}\.[a-z]{{2,}}(?:/\S*)?")
        alternatives.append(rf"[@＠#]{core}[\w.-]*")
        alternatives.append(rf"(?<![\w@#]){core}(?!\w)")
    if not alternatives:
        return None
    own = "|".join(alternatives)
    return re.compile(rf"(?:\b{_SWITCH}\s+)?(?:{own})", re.IGNORECASE)


_CACHE: dict[tuple[str, ...], re.Pattern[str] | None] = {}


def neutralise(text: str, brand: BrandConfig | None) -> str:
    """The text with the addressee and the team's own names taken out (a space each).

    Without config, the company a customer writes to is recognised by its form: a leading
    `@Handle`, a greeting ("Dear Vodafone,"), or an `@handle` named outside a switching phrase
    (the only way a message names an organisation so a machine can tell). A configured
    competitor's handle, or one after "moving to", "parti chez"..., stays: it is a cue.
    """
    text = _ADDRESSEE_RE.sub(" ", text or "", count=1)
    text = _GREETING_RE.sub(" ", text, count=1)
    if "@" in text or "＠" in text:
        rivals = tuple(_core(c).lower() for c in brand.competitors) if brand is not None else ()

        def addressee(match: re.Match[str]) -> str:
            switching, handle = match.group(1), match.group(2).lower()
            keep = switching or any(handle.startswith(r) for r in rivals if r)
            return match.group(0) if keep else " "

        text = _HANDLE_RE.sub(addressee, text)
    names = tuple(brand.names) if brand is not None else ()
    if not names:
        return text
    if names not in _CACHE:
        _CACHE[names] = _own_patterns(list(names))
    pattern = _CACHE[names]
    return pattern.sub(" ", text) if pattern is not None else text


def competitor_terms(brand: BrandConfig | None) -> list[str]:
    """Keywords for `competitor_offer` from the configured competitors' names and handles."""
    if brand is None:
        return []
    terms: list[str] = []
    for name in brand.competitors:
        core = _core(name)
        terms.append(core.split(".")[0] if "." in core and " " not in core else core)
    return terms
