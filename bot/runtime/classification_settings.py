"""The team config's `classification:` section: review threshold, LLM timeouts and retries,
concurrency and model prices (its own module to keep settings.py readable; re-exported there)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelPrice(BaseModel):
    """What one model costs, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class ClassificationConfig(BaseModel):
    """How verdicts are classified."""

    model_config = ConfigDict(extra="forbid")
    review_threshold: float = Field(default=0.45, ge=0, le=1)
    llm_timeout_seconds: float = Field(default=20, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
