"""SurveyMonkey's `response_completed` webhook. The callback carries ids only and is signed with
`Sm-Signature: <base64 HMAC-SHA1 of the raw body, keyed "api_key&api_secret">`; the bot acks it
at once and the background pass fetches the response and its survey's questions from the API
(`api_url`, bearer token from `token_env`), retrying with backoff. A verdict is keyed on
(survey_id, response id)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bot.intake.connectors.common import (
    Answer,
    Delivery,
    Ignored,
    check_base64,
    event_type,
    ident,
    iso_time,
    obj,
    sub,
)
from bot.intake.connectors.config import ConnectorConfig

SIGNATURE_HEADER = "sm-signature"
EVENTS = ("response_completed", "response_updated")
TIMEOUT_SECONDS = 20
MAX_ANSWER_BYTES = 5_000_000
_US_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")


def verify(config: ConnectorConfig, secret: str, headers: dict[str, str], body: bytes) -> None:
    """The signature over the raw bytes, keyed with the configured api_key (never the
    `Sm-Apikey` header: trusting it would let a sender choose half of the key)."""
    check_base64(headers.get(SIGNATURE_HEADER), f"{config.api_key}&{secret}", body, "sha1", "")


@dataclass(frozen=True)
class Callback:
    """What the webhook says: which response to fetch."""

    survey_id: str
    response_id: str
    event_id: str

    @property
    def key(self) -> str:
        return f"surveymonkey:{self.survey_id}:{self.response_id}"


def read_callback(data: Any) -> Callback:
    """The ids of a callback, or a 422 / Ignored."""
    data = obj(data, "body")
    event_type(data, EVENTS)
    if data.get("object_type", "response") != "response":
        raise Ignored("object_type is not a response")
    resources = obj(data.get("resources"), "resources")
    return Callback(
        ident(resources, "survey_id", "resources"),
        ident(data, "object_id", "body"),
        ident(data, "event_id", "body"),
    )


class FetchError(Exception):
    """The API did not answer usefully; `permanent` when retrying cannot help (401, 403, 404)."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent, self.retry_after = permanent, retry_after


def get(base: str, path: str, token: str) -> dict[str, Any]:
    """GET one API document as JSON; FetchError on any failure."""
    request = urllib.request.Request(
        f"{base}{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data = json.loads(response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        after = exc.headers.get("Retry-After") if exc.headers else None
        wait = float(after) if after and after.isdigit() else None
        raise FetchError(
            f"GET {path}: HTTP {exc.code}", exc.code in (400, 401, 403, 404, 410), wait
        ) from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"GET {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise FetchError(f"GET {path}: not a JSON object", permanent=True)
    return data


def get_survey(config: ConnectorConfig, token: str, survey_id: str) -> dict[str, Any]:
    """A survey's questions and choices (SurveyMonkey: "Cache these values on your end")."""
    return get(config.api_url, f"/surveys/{survey_id}/details", token)


def get_response(config: ConnectorConfig, token: str, callback: Callback) -> dict[str, Any]:
    """One response's answers, by ids."""
    path = f"/surveys/{callback.survey_id}/responses/{callback.response_id}/details"
    return get(config.api_url, path, token)


def fetch(config: ConnectorConfig, token: str, callback: Callback) -> Delivery:
    """The response with its questions' titles, from the API (no cache: `triage connectors test`)."""
    survey = get_survey(config, token, callback.survey_id)
    return delivery(callback, survey, get_response(config, token, callback))


def survey_key(name: str, survey_id: str) -> str:
    """Where a survey's details are cached (in the fetch table, shared by every process)."""
    return f"survey:{name}:{survey_id}"


def outdated(survey: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether a response answers a question the cached survey lacks (the survey was edited)."""
    known = _questions(survey)
    for page in response.get("pages") or []:
        for given in (page.get("questions") or []) if isinstance(page, dict) else []:
            if not isinstance(given, dict):
                continue
            question = known.get(str(given.get("id")))
            if question is None:
                return True
            options = _options(question)
            for part in given.get("answers") or []:
                for field in ("choice_id", "row_id", "other_id"):
                    if isinstance(part, dict) and field in part and str(part[field]) not in options:
                        return True
    return False


def _questions(survey: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in survey.get("pages") or []:
        for question in (page.get("questions") or []) if isinstance(page, dict) else []:
            if isinstance(question, dict):
                found[str(question.get("id"))] = question
    return found


def _title(question: dict[str, Any]) -> str:
    headings = question.get("headings") or [{}]
    first = headings[0] if isinstance(headings, list) and isinstance(headings[0], dict) else {}
    return str(first.get("heading") or "")


def _options(question: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answers = sub(question, "answers")
    out: dict[str, dict[str, Any]] = {}
    for group in ("choices", "rows"):
        for option in answers.get(group) or []:
            if isinstance(option, dict):
                out[str(option.get("id"))] = option
    other = answers.get("other")
    if isinstance(other, dict):
        out[str(other.get("id"))] = other
    return out


def _answer(question: dict[str, Any], given: list[dict[str, Any]]) -> Answer:
    family = question.get("family")
    options = _options(question)
    values: list[Any] = []
    kind = "choice"
    for part in given:
        if "choice_id" in part:
            option = options.get(str(part["choice_id"]), {})
            if family == "matrix" and isinstance(option.get("weight"), int | float):
                values.append(option["weight"])  # a rating/NPS row: the chosen number
                kind = "number"
            else:
                values.append(option.get("text"))
        elif isinstance(part.get("text"), str):
            text = part["text"]
            if family == "datetime":
                us = _US_DATE.match(text)
                validation = question.get("validation") or {}
                if us and isinstance(validation, dict) and validation.get("type") == "date_us":
                    text = f"{us.group(3)}-{int(us.group(1)):02d}-{int(us.group(2)):02d}"
                kind = "date"
            elif family == "open_ended" or "other_id" in part:
                kind = "text" if family == "open_ended" else "choice"
            values.append(text)
    values = [v for v in values if v not in (None, "")]
    value: Any = values[0] if len(values) == 1 else (values or None)
    return Answer(_title(question), value, (str(question.get("id")),), kind)


def delivery(callback: Callback, survey: dict[str, Any], response: dict[str, Any]) -> Delivery:
    """The answers of a response, titled from its survey's questions."""
    questions = _questions(survey)
    answers: list[Answer] = []
    for page in response.get("pages") or []:
        for given in (page.get("questions") or []) if isinstance(page, dict) else []:
            if not isinstance(given, dict):
                continue
            question = questions.get(str(given.get("id")), {"id": given.get("id")})
            parts = [p for p in given.get("answers") or [] if isinstance(p, dict)]
            answers.append(_answer(question, parts))
    variables = response.get("custom_variables")
    for key, value in variables.items() if isinstance(variables, dict) else ():
        if isinstance(value, str | int) and str(value).strip():
            answers.append(Answer(str(key), str(value), (str(key),), "hidden"))
    refs = [str(response["email_address"])] if response.get("email_address") else []
    recipient = str(response.get("recipient_id") or "")
    return Delivery(
        key=callback.key,
        answers=answers,
        refs=refs,
        received_at=iso_time(response.get("date_modified")),
        channel="email" if recipient not in ("", "0") else None,
    )
