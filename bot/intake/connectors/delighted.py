"""Delighted's `survey_response.created` and `.updated` webhooks: `X-Delighted-Webhook-Signature:
sha256=<hex HMAC-SHA256 of the raw body, keyed with the project's private API key>`. The
verdict is keyed on the survey response id; `.updated` (where the comment usually arrives)
updates it when its `updated_at` is newer, and creates it if `.created` never came."""

from __future__ import annotations

from typing import Any

from bot.intake.connectors.common import (
    Answer,
    Delivery,
    check_hex,
    event_type,
    ident,
    items,
    obj,
    sub,
)
from bot.intake.connectors.store import version_of

SIGNATURE_HEADER = "x-delighted-webhook-signature"
EVENTS = ("survey_response.created", "survey_response.updated")
# Delighted's survey types whose score the bot's scales hold (others: the score is left out).
_SCALES = {"nps": "nps", "enps": "nps", "csat": "csat", "five_star": "csat", "smileys": "csat"}


def verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    """The signature over the raw bytes, or a 401."""
    check_hex(headers.get(SIGNATURE_HEADER), secret, body)


def _unix(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _answer(item: dict[str, Any]) -> Answer | None:
    question = sub(item, "question")
    value = sub(item, "value")
    title = str(question.get("text") or "")
    keys = tuple(str(k) for k in (question.get("id"), item.get("id")) if isinstance(k, str | int))
    if isinstance(value.get("free_response"), str):
        return Answer(title, value["free_response"], keys, "text")
    if isinstance(value.get("scale"), int | float) and not isinstance(value.get("scale"), bool):
        return Answer(title, value["scale"], keys, "number")
    one = value.get("select_one")
    if isinstance(one, dict) and isinstance(one.get("text"), str):
        return Answer(title, one["text"], keys, "choice")
    many = value.get("select_many")
    if isinstance(many, list):
        texts = [
            str(m["text"]) for m in many if isinstance(m, dict) and isinstance(m.get("text"), str)
        ]
        return Answer(title, texts, keys, "choice")
    return None


def read(data: Any) -> Delivery:
    """The delivery a survey_response event carries, or a 422 / Ignored."""
    data = obj(data, "body")
    event_type(data, EVENTS)
    response = obj(data.get("event_data"), "event_data")
    response_id = ident(response, "id", "event_data")
    person = sub(response, "person")
    refs = [str(person["email"])] if isinstance(person.get("email"), str) else []
    answers: list[Answer] = []
    if isinstance(response.get("comment"), str):
        answers.append(Answer("Comment", response["comment"], ("comment",), "text"))
    for item in items(response.get("additional_answers"), "event_data.additional_answers"):
        answer = _answer(item)
        if answer is not None:
            answers.append(answer)
    properties = response.get("person_properties")
    for key, value in properties.items() if isinstance(properties, dict) else ():
        if isinstance(value, str | int) and not isinstance(value, bool):
            answers.append(Answer(str(key), str(value), (str(key),), "hidden"))
    score = response.get("score")
    scale = _SCALES.get(str(response.get("survey_type") or "nps"))
    valid = isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 10
    created = version_of(_unix(response.get("created_at")))
    return Delivery(
        key=f"delighted:{response_id}",
        answers=answers,
        refs=refs,
        received_at=created,
        score=score if valid and scale else None,
        scale=scale if valid else None,
        version=_unix(response.get("updated_at")),
    )
