"""The churn-reason taxonomy: pydantic models and a loader with one-line, human-readable errors.

The taxonomy is data (`prompts/taxonomy.yaml`), so a team can add or rename reasons without a
code change; this module only checks that the file is sound before anything relies on it.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator

from bot.slack.i18n import t

__all__ = [
    "DEFAULT_TAXONOMY_PATH",
    "OTHER_REASON_ID",
    "Reason",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
]

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parents[2] / "prompts" / "taxonomy.yaml"
OTHER_REASON_ID = "other"
REQUIRED_LABEL_LANGUAGES = ("en", "fr")

_ID_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message is one line naming the file and field."""


def _lang_key(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _LANG_RE.match(value.strip().lower()):
        raise ValueError(f"{field} language {value!r} is not an ISO 639-1 code like 'en' or 'fr'")
    return value.strip().lower()


class Reason(BaseModel):
    """One churn reason: a stable id, labels per language, and matching hints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    labels: dict[str, str]
    description: str = ""
    keywords: dict[str, list[str]] = {}
    examples: list[str] = []

    @field_validator("id", mode="before")
    @classmethod
    def _check_id(cls, value: Any) -> Any:
        if isinstance(value, str) and not _ID_RE.match(value):
            raise ValueError(
                f"bad reason id {value!r}: use lowercase snake_case like 'price_billing'"
            )
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _check_labels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        labels: dict[str, Any] = {}
        for lang, label in value.items():
            key = _lang_key(lang, "label")
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"label for {key!r} must be a non-empty string")
            labels[key] = label.strip()
        missing = [lang for lang in REQUIRED_LABEL_LANGUAGES if lang not in labels]
        if missing:
            raise ValueError(f"missing {' and '.join(repr(m) for m in missing)} label")
        return labels

    @field_validator("keywords", mode="before")
    @classmethod
    def _check_keywords(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        keywords: dict[str, Any] = {}
        for lang, words in value.items():
            key = _lang_key(lang, "keyword")
            if words is None:
                words = []
            if not isinstance(words, list):
                raise ValueError(f"keywords for {key!r} must be a list of strings")
            cleaned: list[str] = []
            for word in words:
                # YAML turns bare `4g`-like words into strings but `2024` into an int.
                if isinstance(word, bool) or not isinstance(word, str | int | float):
                    raise ValueError(f"keyword {word!r} for {key!r} must be a string")
                text = str(word).strip()
                if not text or text == "*":
                    raise ValueError(f"empty keyword for {key!r}")
                cleaned.append(text)
            keywords[key] = cleaned
        return keywords

    @field_validator("examples", mode="before")
    @classmethod
    def _check_examples(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list):
            for i, example in enumerate(value):
                if not isinstance(example, str) or not example.strip():
                    raise ValueError(f"example {i} must be a non-empty string")
        return value

    def label(self, lang: str = "en") -> str:
        """The label in `lang` (e.g. "fr" or "fr-FR"), falling back to English."""
        return self.labels.get(_base_language(lang)) or self.labels["en"]


class Taxonomy(BaseModel):
    """A versioned list of reasons, always including `other`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    reasons: list[Reason]
    _by_id: dict[str, Reason] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        # An unquoted `2026-11-01` is a date to YAML and `3` an int; a version is just a string.
        if isinstance(value, int | float | _dt.date) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not value.strip():
            raise ValueError("version must not be empty")
        return value.strip() if isinstance(value, str) else value

    @field_validator("reasons")
    @classmethod
    def _check_reasons(cls, reasons: list[Reason]) -> list[Reason]:
        if not reasons:
            raise ValueError("reasons: at least one reason is required")
        seen: set[str] = set()
        for i, reason in enumerate(reasons):
            if reason.id in seen:
                raise ValueError(f"reasons[{i}].id: duplicate reason id {reason.id!r}")
            seen.add(reason.id)
        if OTHER_REASON_ID not in seen:
            raise ValueError(
                f"reasons: no {OTHER_REASON_ID!r} reason; it is required as the fallback"
            )
        return reasons

    def model_post_init(self, context: Any, /) -> None:
        self._by_id = {r.id: r for r in self.reasons}

    def ids(self) -> list[str]:
        """Reason ids in file order."""
        return [r.id for r in self.reasons]

    def get(self, reason_id: str) -> Reason | None:
        """The reason with this id, or None."""
        return self._by_id.get(reason_id)

    def __contains__(self, reason_id: object) -> bool:
        return isinstance(reason_id, str) and self.get(reason_id) is not None

    def label(self, reason_id: str, lang: str = "en") -> str:
        """The label of a reason in `lang`, falling back to English, then to the id itself."""
        reason = self.get(reason_id)
        # Stored cases may carry ids from an older taxonomy version: show them as retired,
        # never drop or hide them (stats, digests and cards keep counting them).
        if reason is None:
            return t(_base_language(lang), "reason_retired", id=reason_id)
        return reason.label(lang)


def _base_language(lang: str | None) -> str:
    return (lang or "en").strip().lower().replace("_", "-").split("-")[0]


def _display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _format_validation_error(shown: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _format_loc(tuple(first["loc"]))
    msg = str(first["msg"])
    ctx = first.get("ctx") or {}
    if first["type"] == "value_error" and "error" in ctx:
        msg = str(ctx["error"])  # drop pydantic's "Value error, " prefix
    elif first["type"] == "missing":
        msg = "field required"
    elif first["type"] == "extra_forbidden":
        msg = "unknown field"
    # Validators that check across reasons put the precise location in their own message.
    text = msg if re.match(r"^reasons(\[\d+\])?[.:]", msg) or not loc else f"{loc}: {msg}"
    more = len(errors) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return " ".join(f"{shown}: {text}{suffix}".split())


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML file (default: the packaged `prompts/taxonomy.yaml`).

    Raises TaxonomyError with a one-line message naming the file and the offending field.
    """
    file = Path(path) if path is not None else DEFAULT_TAXONOMY_PATH
    shown = _display_path(file)
    try:
        raw_text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaxonomyError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise TaxonomyError(f"{shown}: is a directory, not a taxonomy file") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{shown}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TaxonomyError(f"{shown}: cannot read ({exc.strerror or exc})") from None

    try:
        data = yaml.safe_load(raw_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise TaxonomyError(f"{shown}: {where}YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{shown}: YAML syntax error: {' '.join(str(exc).split())}") from None

    if data is None:
        raise TaxonomyError(f"{shown}: file is empty; expected 'version' and 'reasons'")
    if not isinstance(data, dict):
        raise TaxonomyError(
            f"{shown}: expected a mapping with 'version' and 'reasons', got {type(data).__name__}"
        )
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(_format_validation_error(shown, exc)) from None
