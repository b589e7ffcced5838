"""Any other tool (Qualtrics workflows, Medallia, Google Forms scripts, Zapier): its JSON or
form-encoded body is read through the team's mapping (dotted paths, defaults, value maps such
as `"1": yes`); the other top-level keys are read as question titles, by meaning. The tool
authenticates with an HMAC header (`sha256=<hex>` of the raw body) or a bearer token.

Jotform can neither sign nor add a header, so it cannot be authenticated and is not accepted
(see docs/connectors.md: route it through Zapier or a script that signs)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from bot.intake.connectors.common import (
    Answer,
    Delivery,
    Refused,
    check_bearer,
    check_hex,
    iso_time,
)
from bot.intake.connectors.config import ConnectorConfig, MappedField

MAX_FIELDS = 500


def verify(config: ConnectorConfig, secret: str, headers: dict[str, str], body: bytes) -> None:
    """HMAC header or bearer token, as configured; else a 401."""
    if config.auth == "bearer":
        check_bearer(headers.get("authorization"), secret)
    else:
        check_hex(headers.get(config.signature_header.lower()), secret, body)


def form(body: bytes) -> dict[str, Any]:
    """A form-encoded body as an object (a field sent twice: a list), or a 400."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "form body is not UTF-8 or has too many fields") from None
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (`answers.0.text`); a key with dots is found whole first."""
    if isinstance(data, dict) and path in data:
        return data[path]
    head, _, rest = path.partition(".")
    if isinstance(data, dict):
        found = data.get(head)
    elif isinstance(data, list) and head.isdigit() and int(head) < len(data):
        found = data[int(head)]
    else:
        return None
    return lookup(found, rest) if rest else found


def _mapped(data: Any, spec: MappedField) -> Any:
    paths = [spec.path] if isinstance(spec.path, str) else list(spec.path or [])
    found = [v for v in (lookup(data, p) for p in paths) if v not in (None, "", [])]
    value: Any = found[0] if len(found) == 1 else ("\n\n".join(map(str, found)) if found else None)
    if value is None:
        return spec.default
    if spec.map and not isinstance(value, dict | list):
        key = str(value).lower() if isinstance(value, bool) else str(value)
        value = spec.map.get(key, spec.map.get(key.strip(), value))
    return value


def _kind(name: str, value: Any) -> str:
    if name in ("customer", "email", "phone"):
        return "hidden"
    if name == "text":
        return "text"
    if isinstance(value, bool):
        return "boolean"
    return "choice"


def read(name: str, config: ConnectorConfig, data: Any) -> tuple[Delivery, dict[str, str]]:
    """The delivery and the pins its mapped fields need, or a 422."""
    if not isinstance(data, dict):
        raise Refused(422, "body is not a JSON object or a form")
    answers: list[Answer] = []
    pins: dict[str, str] = {}
    used: set[str] = set()
    for field in config.fields:
        spec = config.mapped(field)
        assert spec is not None
        for path in [spec.path] if isinstance(spec.path, str) else list(spec.path or []):
            used.add(path if path in data else path.split(".")[0])
        if field in ("id", "received_at", "ignore"):
            continue
        value = _mapped(data, spec)
        if value is None:
            continue
        pins[f"={field}"] = field
        answers.append(Answer(field, value, (f"={field}",), _kind(field, value)))
    if config.by_title:
        for key, value in data.items():
            if key in used or not isinstance(value, str | int | float | bool) or not str(key):
                continue
            text = str(value).strip()
            # Unmatched titles: a bare number may be the score, a sentence the verbatim.
            kind = (
                "number"
                if text.isdigit() and len(text) <= 2
                else ("text" if len(text.split()) >= 4 else "choice")
            )
            answers.append(Answer(str(key), value, (str(key),), kind))
    id_spec = config.mapped("id")
    raw_id = _mapped(data, id_spec) if id_spec is not None else None
    if id_spec is not None and (raw_id is None or isinstance(raw_id, dict | list)):
        raise Refused(422, f"the response id ({id_spec.path}) is missing from the body")
    key = f"mapped:{name}:{str(raw_id)[:200]}" if raw_id is not None else ""
    when = config.mapped("received_at")
    received_at = iso_time(_mapped(data, when)) if when is not None else None
    return Delivery(key=key, answers=answers, received_at=received_at), pins
