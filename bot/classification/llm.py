"""LLM classifier: the official openai SDK, Chat Completions with a strict JSON-schema output.

Any OpenAI-compatible server works (`OPENAI_BASE_URL`: Azure, vLLM, Ollama). Before anything
leaves, the verbatim is masked (bot/masking.py); it travels JSON-encoded inside delimiters in the
user message, as data. The answer is validated against the taxonomy: an id outside it, a missing
or extra field, or a value out of range is malformed output, never a label. Every fault ends in
one exception type, `LLMError`, so the caller keeps the offline result and tries again later.
"""

from __future__ import annotations

import json
import logging
import re
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import openai
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from bot.classification import field_reading
from bot.classification.field_reading import FieldRequest, FieldsRead
from bot.classification.offline import Classification
from bot.classification.sentiment import score_sentiment
from bot.classification.taxonomy import Taxonomy
from bot.classification.text import fold
from bot.privacy.masking import mask, text_hash
from bot.runtime import metrics
from bot.runtime.settings import ModelPrice, Settings

__all__ = [
    "BACKEND",
    "DEFAULT_PROMPT",
    "LLMClassifier",
    "LLMError",
    "PromptTemplate",
    "load_prompt",
    "response_schema",
]

log = logging.getLogger(__name__)

BACKEND = "llm"
DEFAULT_PROMPT = "classify.v1"
# The prompt with the team's most similar labelled examples, used when there are some.
EXAMPLES_PROMPT = "classify.v2"
# classify.v2 plus the reading of the fields the parser left unknown (issue 16, item 9): used
# only when fields are requested.
FIELDS_PROMPT = "classify.v3"
MAX_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 600
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
# The head of a very long verbatim is enough to classify it, and it bounds the cost of one call.
MAX_LLM_CHARS = 8000
MAX_SECONDARY = 3
MAX_FACTS = 8
MAX_CUES = 8
MAX_FIELD_CHARS = 1200
_MEMORY_CACHE_SIZE = 2048
_LANGUAGE_NAMES = {"en": "English", "fr": "French"}
_SENTIMENTS = ("negative", "neutral", "positive")
_SEVERITIES = ("low", "medium", "high")
_LANG_CODE = re.compile(r"^(?:[a-z]{2,3}|und)$")
# Text addressed to the classifier rather than to the company. The model is told to ignore it;
# when it shows up anyway, the result's confidence is capped so a person checks the reason.
_INSTRUCTION_LIKE = re.compile(
    r"\b(?:ignore|disregard|forget|oublie[zr]?|ignore[zr]?)\b[^.\n]{0,40}\b(?:instruction|prompt|consigne|regle|rule)s?\b"
    r"|\b(?:system prompt|prompt systeme|you are now|tu es maintenant|vous etes maintenant)\b"
    r"|\b(?:answer|respond|reply|classify (?:this|it) as|reponds?|repondez|classe[zr]?)\b[^.\n]{0,40}\b(?:confidence|confiance)\b"
)
_INSTRUCTION_FACT = {
    "en": "The verdict contains instructions addressed to the classifier; they were ignored. Check the reason by hand.",
    "fr": "Le verbatim contient des instructions adressées au classifieur ; elles ont été ignorées. Vérifier le motif à la main.",
}


class LLMError(Exception):
    """The LLM gave no usable answer. `transient`: worth retrying later (timeout, 429, 5xx...)."""

    def __init__(
        self, kind: str, message: str, *, transient: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt file: the system and user message templates."""

    version: str
    system: string.Template
    user: string.Template


def load_prompt(name: str = DEFAULT_PROMPT, directory: Path = PROMPTS_DIR) -> PromptTemplate:
    """Read `prompts/<name>.md`: the text after `<!-- system -->` and after `<!-- user -->`."""
    path = directory / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    try:
        _, rest = text.split("<!-- system -->", 1)
        system, user = rest.split("<!-- user -->", 1)
    except ValueError:
        raise ValueError(f"{path}: needs a <!-- system --> and a <!-- user --> section") from None
    return PromptTemplate(name, string.Template(system.strip()), string.Template(user.strip()))


def response_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """The strict JSON schema of an answer; reason fields are enums of the taxonomy's ids."""
    ids = taxonomy.ids()
    properties: dict[str, Any] = {
        "primary_reason": {"type": "string", "enum": ids},
        "secondary_reasons": {"type": "array", "items": {"type": "string", "enum": ids}},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "sentiment": {"type": "string", "enum": list(_SENTIMENTS)},
        "severity": {"type": "string", "enum": list(_SEVERITIES)},
        "language": {"type": "string"},
        "summary": {"type": "string"},
        "suggested_action": {"type": "string"},
        "facts": {"type": "array", "items": {"type": "string"}},
        "cues": {"type": "array", "items": {"type": "string"}},
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _reasons_block(taxonomy: Taxonomy) -> str:
    lines = []
    for reason in taxonomy.reasons:
        labels = " / ".join(dict.fromkeys(reason.labels[lang] for lang in ("en", "fr")))
        line = f"- {reason.id}: {labels}. {reason.description}".rstrip()
        examples = "; ".join(json.dumps(e, ensure_ascii=False) for e in reason.examples[:2])
        lines.append(line + (f" Examples: {examples}" if examples else ""))
    return "\n".join(lines)


def _verdict_json(masked: str) -> str:
    # JSON keeps the verbatim one string; escaping <, > and & means no text can close the
    # <verdict> markers and pass for the prompt's own words.
    data = json.dumps({"text": masked}, ensure_ascii=False)
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _examples_json(examples: list[tuple[str, str]]) -> str:
    data = json.dumps([{"text": t, "reason": r} for t, r in examples], ensure_ascii=False)
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cost(prices: dict[str, ModelPrice], model: str, prompt: int, completion: int) -> float:
    price = prices.get(model)
    if price is None:
        return 0.0
    return round(
        (prompt * price.input_per_million + completion * price.output_per_million) / 1e6, 8
    )


def _text_list(value: Any, limit: int, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} is not a list of strings")
    items = [" ".join(v.split())[:MAX_FIELD_CHARS] for v in value if v.strip()]
    return tuple(dict.fromkeys(items))[:limit]


def _text(value: Any, name: str, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{name} is empty")
    return value[:MAX_FIELD_CHARS]


class LLMClassifier:
    """Classifies verbatims with an OpenAI-compatible chat model; see the module docstring."""

    backend = BACKEND

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        team_language: str = "en",
        timeout: float = 20.0,
        max_retries: int = 2,
        prices: dict[str, ModelPrice] | None = None,
        default_country: str = "FR",
        prompt: str = DEFAULT_PROMPT,
        examples_prompt: str = EXAMPLES_PROMPT,
        fields_prompt: str = FIELDS_PROMPT,
    ) -> None:
        self.taxonomy = taxonomy
        self.model = model
        self.team_language = team_language if team_language in _LANGUAGE_NAMES else "en"
        self.default_country = default_country
        self.prices = dict(prices or {})
        self.timeout = timeout
        self.max_retries = max_retries
        self.template = load_prompt(prompt)
        self.prompt_version = self.template.version
        self.schema = response_schema(taxonomy)
        self._ids = frozenset(taxonomy.ids())
        self._system = self.template.system.substitute(
            team_language=_LANGUAGE_NAMES[self.team_language], reasons=_reasons_block(taxonomy)
        )
        self.examples_template = load_prompt(examples_prompt)
        self._examples_system = self.examples_template.system.substitute(
            team_language=_LANGUAGE_NAMES[self.team_language], reasons=_reasons_block(taxonomy)
        )
        self.fields_template = load_prompt(fields_prompt)
        self._fields_system = self.fields_template.system.substitute(
            team_language=_LANGUAGE_NAMES[self.team_language], reasons=_reasons_block(taxonomy)
        )
        # The team's labelled examples most like a text (set by the app factory to the learned
        # model's retrieval); None or nothing similar: the prompt without examples.
        self.similar: Callable[[str], list[tuple[str, str]]] | None = None
        # The SDK retries 429 and 5xx itself, honouring Retry-After (up to two minutes), with
        # exponential backoff otherwise; its defaults (600 s, 2 retries) are too long for us.
        self.client = OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._memory: OrderedDict[str, Classification] = OrderedDict()
        self._in_flight: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        if model not in self.prices:
            log.warning("no price for model %s in classification.prices: cost recorded as 0", model)

    @classmethod
    def from_settings(cls, settings: Settings, taxonomy: Taxonomy) -> LLMClassifier:
        """The classifier the settings describe (OPENAI_* and the team's classification section)."""
        if not settings.openai_api_key:
            raise ValueError("OPENAI_API_KEY is not set")
        config = settings.team.classification
        return cls(
            taxonomy,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            team_language=settings.team.language,
            timeout=config.llm_timeout_seconds,
            max_retries=config.llm_max_retries,
            prices=config.prices,
            default_country=settings.team.default_country,
        )

    @property
    def worst_case_seconds(self) -> float:
        """How long one call may take with every retry (a Retry-After is honoured up to 120 s)."""
        return self.timeout * (self.max_retries + 1) + 120.0 * self.max_retries + 30.0

    def prepare(self, text: str) -> tuple[str, str]:
        """The masked verbatim as it would be sent, and its cache key."""
        masked = mask((text or "")[:MAX_LLM_CHARS], self.default_country)
        return masked, text_hash(masked)

    def examples_for(self, masked: str) -> list[tuple[str, str]]:
        """Up to MAX_EXAMPLES of the team's labelled examples most like this masked verbatim,
        masked like it; [] without a source or when retrieval fails (the call goes on without)."""
        if self.similar is None:
            return []
        try:
            found = self.similar(masked)
        except Exception as exc:  # retrieval is a help, never a reason to lose the call
            log.warning("similar examples not retrieved: %s", type(exc).__name__)
            return []
        out = []
        for text, reason in found[:MAX_EXAMPLES]:
            if reason in self._ids and text.strip():
                out.append((mask(text[:MAX_EXAMPLE_CHARS], self.default_country), reason))
        return out

    def prompt_version_for(self, masked: str) -> str:
        """The prompt version a call for this masked verbatim uses now."""
        return self.examples_template.version if self.examples_for(masked) else self.prompt_version

    def messages(
        self, masked: str, examples: list[tuple[str, str]] | None = None
    ) -> list[ChatCompletionMessageParam]:
        """The chat messages for one masked verbatim: fixed instructions, then the data (the
        team's similar examples first, when there are some)."""
        if examples:
            user = self.examples_template.user.substitute(
                examples=_examples_json(examples), verdict=_verdict_json(masked)
            )
            system = self._examples_system
        else:
            user = self.template.user.substitute(verdict=_verdict_json(masked))
            system = self._system
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def response_format(self, fields: tuple[str, ...] = ()) -> ResponseFormatJSONSchema:
        """The strict structured-output request: the answer must match the schema exactly; with
        `fields`, it also holds a `read` object with those fields (and only then)."""
        schema = self.schema
        if fields:
            properties = {**schema["properties"], "read": field_reading.schema_part(fields)}
            schema = {**schema, "properties": properties, "required": list(properties)}
        return {
            "type": "json_schema",
            "json_schema": {"name": "verdict_classification", "strict": True, "schema": schema},
        }

    def fields_messages(
        self, masked: str, message: str, fields: tuple[str, ...], examples: list[tuple[str, str]]
    ) -> list[ChatCompletionMessageParam]:
        """The chat messages of a call that also reads fields (classify.v3)."""
        user = self.fields_template.user.substitute(
            examples=_examples_json(examples),
            verdict=_verdict_json(masked),
            message=_verdict_json(message),
            fields=", ".join(fields),
        )
        return [
            {"role": "system", "content": self._fields_system},
            {"role": "user", "content": user},
        ]

    def classify_and_read(
        self, text: str, request: FieldRequest, *, score: int | None = None
    ) -> tuple[Classification, FieldsRead]:
        """Classify one verbatim and read the requested fields from its whole message, in one
        call (never cached: the fields belong to this message). Raises LLMError."""
        masked, key = self.prepare(text)
        message, table = field_reading.pseudonymise(request.message, self.default_country)
        examples = self.examples_for(masked or message)
        # With no verbatim, the message is what is classified.
        result, read = self._call(
            masked or message, key, examples, fields=request.fields, fields_message=message
        )
        fields = field_reading.check(read, request, table, self.default_country)
        return self.with_score(result, score, None), fields

    def classify(
        self, text: str, *, score: int | None = None, scale: str | None = None
    ) -> Classification:
        """Classify one verbatim; raises LLMError. A verbatim seen before costs no second call."""
        masked, key = self.prepare(text)
        examples = self.examples_for(masked)
        # Remembered per prompt: once the team has similar examples, the verbatim is asked again.
        key = f"{EXAMPLES_PROMPT}:{key}" if examples else key
        with self._lock:
            cached = self._memory.get(key)
            waiting = self._in_flight.get(key) if cached is None else None
            if cached is None and waiting is None:
                self._in_flight[key] = threading.Event()  # this thread asks; others wait
        if waiting is not None:
            # The same verbatim is being asked right now (a batch, several jobs): share it.
            waiting.wait(self.worst_case_seconds)
            with self._lock:
                cached = self._memory.get(key)
        if cached is not None:
            result = replace(cached, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        elif waiting is not None:
            result = self._call(masked, key, examples)  # the first asker failed: try ourselves
        else:
            try:
                result = self._call(masked, key, examples)
                with self._lock:
                    self._memory[key] = result
                    while len(self._memory) > _MEMORY_CACHE_SIZE:
                        self._memory.popitem(last=False)
            finally:
                with self._lock:
                    self._in_flight.pop(key).set()
        return self.with_score(result, score, scale)

    @staticmethod
    def with_score(result: Classification, score: int | None, scale: str | None) -> Classification:
        """The customer's own rating decides the sentiment when there is one (as offline)."""
        rated = score_sentiment(score, scale)
        return replace(result, sentiment=rated) if rated else result

    def close(self) -> None:
        """Release the HTTP connections."""
        self.client.close()

    # ----------------------------------------------------------------------- the call

    def _call(
        self,
        masked: str,
        key: str,
        examples: list[tuple[str, str]],
        *,
        fields: tuple[str, ...] = (),
        fields_message: str = "",
    ) -> Any:
        """One call: the Classification, or with `fields` (Classification, the raw `read`)."""
        started = time.perf_counter()
        messages = (
            self.fields_messages(masked, fields_message, fields, examples)
            if fields
            else self.messages(masked, examples)
        )
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                response_format=self.response_format(fields),
            )
        except openai.APITimeoutError as exc:
            raise LLMError("timeout", str(exc), transient=True) from exc
        except openai.APIConnectionError as exc:
            raise LLMError("unreachable", str(exc), transient=True) from exc
        except openai.RateLimitError as exc:
            raise LLMError(
                "rate_limited", str(exc), transient=True, retry_after=_retry_after(exc)
            ) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            # A key can be fixed without a restart of the queue: keep the jobs, retry later.
            raise LLMError("unauthorised", str(exc), transient=True) from exc
        except openai.APIStatusError as exc:
            transient = exc.status_code >= 500 or exc.status_code in (408, 409)
            kind = "server_error" if transient else "rejected"
            raise LLMError(
                kind,
                f"HTTP {exc.status_code}: {exc}",
                transient=transient,
                retry_after=_retry_after(exc),
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise LLMError("malformed", str(exc), transient=False) from exc
        except openai.OpenAIError as exc:
            raise LLMError("unreachable", str(exc), transient=True) from exc
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # An HTTP 200 whose body is not JSON (a proxy's HTML page, an empty body): the
            # server answered, wrongly; asking again the same way is unlikely to help.
            raise LLMError(
                "malformed",
                f"the answer's body is not JSON ({type(exc).__name__})",
                transient=False,
            ) from exc

        # The SDK builds its objects without validation: a 200 whose JSON is not a completion
        # (`null`, a list, `"choices": "x"`) must not reach an AttributeError.
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices or not hasattr(choices[0], "message"):
            raise LLMError("malformed", "no choices in the answer", transient=False)
        choice = response.choices[0]
        message = choice.message
        if getattr(message, "refusal", None) or choice.finish_reason == "content_filter":
            raise LLMError(
                "refusal", str(message.refusal or "content filter")[:300], transient=False
            )
        if choice.finish_reason == "length":
            raise LLMError("malformed", "the answer was cut off (length)", transient=False)
        usage = getattr(response, "usage", None)
        try:
            prompt_tokens = int(usage.prompt_tokens) if usage else 0
            completion_tokens = int(usage.completion_tokens) if usage else 0
        except (AttributeError, TypeError, ValueError):
            prompt_tokens = completion_tokens = 0  # usage is bookkeeping: not worth a failure
        cost = _cost(self.prices, self.model, prompt_tokens, completion_tokens)
        metrics.LLM_SECONDS.labels(self.model).observe(time.perf_counter() - started)
        metrics.LLM_TOKENS.labels(self.model, "prompt").inc(prompt_tokens)
        metrics.LLM_TOKENS.labels(self.model, "completion").inc(completion_tokens)
        metrics.LLM_COST.labels(self.model).inc(cost)
        read: Any = None
        try:
            data = json.loads(message.content or "")
            if fields:
                if not isinstance(data, dict) or "read" not in data:
                    raise ValueError("the answer has no `read` object")
                data = dict(data)
                read = data.pop("read")
            result = self._validate(data, masked)
            if fields:
                result = replace(result, prompt_version=self.fields_template.version)
            elif examples:
                result = replace(result, prompt_version=self.examples_template.version)
        except (ValueError, TypeError) as exc:
            raise LLMError("malformed", str(exc)[:300], transient=False) from exc
        result = replace(
            result,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            text_hash=key.rsplit(":", 1)[-1],
        )
        return (result, read) if fields else result

    def _validate(self, data: Any, masked: str) -> Classification:
        """The answer as a Classification, or ValueError: only the schema's shape and ids pass."""
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        expected = set(self.schema["properties"])
        if set(data) != expected:
            extra, missing = set(data) - expected, expected - set(data)
            raise ValueError(
                f"fields differ from the schema (extra {sorted(extra)}, missing {sorted(missing)})"
            )
        primary = data["primary_reason"]
        if primary not in self._ids:
            raise ValueError(f"primary_reason {primary!r} is not in the taxonomy")
        secondary = data["secondary_reasons"]
        if not isinstance(secondary, list) or any(r not in self._ids for r in secondary):
            raise ValueError(f"secondary_reasons {secondary!r} are not all in the taxonomy")
        confidence = data["confidence"]
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ValueError("confidence is not a number")
        if not 0 <= confidence <= 1:
            raise ValueError(f"confidence {confidence} is not between 0 and 1")
        if data["sentiment"] not in _SENTIMENTS:
            raise ValueError(f"sentiment {data['sentiment']!r} is not one of {_SENTIMENTS}")
        if data["severity"] not in _SEVERITIES:
            raise ValueError(f"severity {data['severity']!r} is not one of {_SEVERITIES}")
        language = _text(data["language"], "language").lower().replace("_", "-").split("-")[0]
        if not _LANG_CODE.match(language):
            raise ValueError(f"language {data['language']!r} is not an ISO 639-1 code")
        facts = _text_list(data["facts"], MAX_FACTS, "facts")
        cues = _text_list(data["cues"], MAX_CUES, "cues")
        confidence = float(confidence)
        if _INSTRUCTION_LIKE.search(fold(masked)):
            confidence = min(confidence, 0.3)
            facts = (_INSTRUCTION_FACT[self.team_language], *facts)[:MAX_FACTS]
        return Classification(
            primary_reason=primary,
            secondary_reasons=tuple(dict.fromkeys(r for r in secondary if r != primary))[
                :MAX_SECONDARY
            ],
            confidence=round(confidence, 3),
            sentiment=data["sentiment"],
            severity=data["severity"],
            language=language,
            summary=_text(data["summary"], "summary"),
            suggested_action=_text(data["suggested_action"], "suggested_action", required=False),
            backend=BACKEND,
            model=self.model,
            prompt_version=self.prompt_version,
            taxonomy_version=self.taxonomy.version,
            provisional=False,
            cues=cues,
            facts=facts,
        )


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
