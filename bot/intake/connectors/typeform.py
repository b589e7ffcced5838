"""Typeform's `form_response` webhook: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the
raw body>` (the final LF included), questions in `definition.fields`, answers typed, hidden
fields as references. A verdict is keyed on (form_id, token): `token` is the response id.

Typeform disables a webhook on a 404 or 410, so a payload it sent is never answered with
either: a wrong one gets 400, 401 or 422 naming what was wrong."""

from __future__ import annotations

from typing import Any

from bot.intake.connectors.common import (
    Answer,
    Delivery,
    Ignored,
    Refused,
    check_base64,
    ident,
    iso_time,
    items,
    obj,
    sub,
)

SIGNATURE_HEADER = "typeform-signature"
# answer type -> the kind the reader understands (url and file_url answers are not verdicts)
_KINDS = {
    "text": "text",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "email": "email",
    "phone_number": "phone",
    "choice": "choice",
    "choices": "choice",
}


def verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    """The signature over the raw bytes, or a 401."""
    check_base64(headers.get(SIGNATURE_HEADER), secret, body, "sha256", "sha256=")


def _value(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other")
    if kind == "choices" and isinstance(value, dict):
        labels: list[Any] = value["labels"] if isinstance(value.get("labels"), list) else []
        other = [value["other"]] if isinstance(value.get("other"), str) else []
        return [str(v) for v in [*labels, *other] if isinstance(v, str | int)]
    if isinstance(value, str | int | float | bool):
        return value
    return None


def read(data: Any) -> Delivery:
    """The delivery a `form_response` carries, or a 422 / Ignored."""
    data = obj(data, "body")
    if data.get("event_type") != "form_response":
        if isinstance(data.get("event_type"), str):
            raise Ignored(f"event_type {str(data['event_type'])[:40]!r} carries no verdict")
        raise Refused(422, "event_type is missing (expected form_response)")
    response = obj(data.get("form_response"), "form_response")
    form_id = ident(response, "form_id", "form_response")
    token = ident(response, "token", "form_response")
    if token == str(data.get("event_id")):
        # "Send test request" in Typeform: placeholder answers; nothing is stored.
        raise Ignored("Typeform test request received: the connector works (nothing stored)")
    definition = response.get("definition")
    fields = items(definition.get("fields") if isinstance(definition, dict) else None, "fields")
    titles = {str(f.get("id")): f for f in fields}
    answers: list[Answer] = []
    for answer in items(response.get("answers"), "form_response.answers"):
        ref = sub(answer, "field")
        question = titles.get(str(ref.get("id")), {})
        title = question.get("title")
        keys = tuple(str(k) for k in (ref.get("id"), ref.get("ref")) if isinstance(k, str))
        kind = _KINDS.get(str(answer.get("type")), "other")
        if kind == "number" and question.get("type") not in (
            None,
            "opinion_scale",
            "rating",
            "nps",
        ):
            kind = "other"  # a number question that is not a scale is not the score
        answers.append(Answer(title if isinstance(title, str) else "", _value(answer), keys, kind))
    hidden = response.get("hidden")
    for key, value in hidden.items() if isinstance(hidden, dict) else ():
        if isinstance(value, str | int) and not isinstance(value, bool):
            answers.append(Answer(str(key), str(value), (str(key),), "hidden"))
    return Delivery(
        key=f"typeform:{form_id}:{token}",
        answers=answers,
        received_at=iso_time(response.get("submitted_at")),
    )
