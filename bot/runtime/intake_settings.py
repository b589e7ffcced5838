"""The team config's intake sections: how unstated consent is treated, and which vocabulary
file the parser reads labels with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from bot.intake.parsing.vocabulary import VocabularyError, load_vocabulary


class ConsentConfig(BaseModel):
    """Unstated consent is never silently yes: `ask` (default) opens the case marked "Consent not
    stated" and asks for a check before a contact is logged; `open` opens it marked the same;
    `statistics_only` treats it as no."""

    model_config = ConfigDict(extra="forbid")
    when_unknown: Literal["ask", "open", "statistics_only"] = "ask"


class IntakeConfig(BaseModel):
    """The intake parser's label vocabularies (default: the bundled prompts/fields.yaml)."""

    model_config = ConfigDict(extra="forbid")
    vocabulary: str | None = None

    @field_validator("vocabulary")
    @classmethod
    def _loads(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                load_vocabulary(value)
            except VocabularyError as exc:
                raise ValueError(str(exc)) from None
        return value
