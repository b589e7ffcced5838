"""Survey tools' webhooks: find the connector, check its secret on the raw bytes, read the tool's
payload, and hand the verdict to the same intake as every other source. SurveyMonkey's
callbacks are recorded and their responses fetched by the background pass (`process_fetches`).

Every answer is 2xx or 4xx/503 with a JSON `error` naming what was wrong (tools show it to
their admin); a Typeform delivery never gets 404 or 410 (Typeform would disable the hook)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.connectors
from bot.classification.offline import OfflineClassifier
from bot.intake.connectors import delighted, mapped, surveymonkey, typeform
from bot.intake.connectors.common import (
    MAX_BODY_BYTES,
    Delivery,
    Ignored,
    Refused,
    to_input,
)
from bot.intake.connectors.config import ConnectorConfig
from bot.intake.connectors.store import Stored, store, version_of
from bot.intake.verdict_input import VerdictInput
from bot.runtime.clock import Clock
from bot.runtime.settings import Settings
from storage.db import transaction

log = logging.getLogger(__name__)

LABELS = {"typeform": "Typeform", "surveymonkey": "SurveyMonkey", "delighted": "Delighted"}
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 12  # about 1 h 8 min of backoff (1, 2, 4 ... 2048 s, capped at 1 h)


@dataclass(frozen=True)
class ConnectorResponse:
    """HTTP status and JSON body to answer a tool with."""

    status: int
    body: dict[str, Any]


Loads = Callable[[bytes], Any]


def find(settings: Settings, name: str, mapped_route: bool) -> ConnectorConfig:
    """The configured connector behind a URL, or a refusal (503 for a tool's own route: the
    delivery is retried once the team configures it; 404 for an unknown mapped name)."""
    config = settings.team.connectors.get(name)
    if mapped_route:
        if config is None or config.kind != "mapped":
            raise Refused(404, f"no mapped connector named {name[:40]!r}")
    elif config is None:
        raise Refused(503, f"the {name} connector is not configured (connectors.{name})")
    return config


def _secret(settings: Settings, name: str, config: ConnectorConfig) -> str:
    secret = settings.secrets.get(config.secret_env or "")
    if not secret:
        raise Refused(
            503, f"connector {name} has no secret: set secret_env and that environment variable"
        )
    return secret


def _body_data(config: ConnectorConfig, headers: dict[str, str], body: bytes, loads: Loads) -> Any:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if config.kind == "mapped" and content_type == "application/x-www-form-urlencoded":
        return mapped.form(body)
    if config.kind == "mapped" and content_type.startswith("multipart/"):
        raise Refused(415, "multipart bodies are not read: send JSON or a form-encoded body")
    return loads(body)


def handle(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    settings: Settings,
    clock: Clock,
    name: str,
    headers: dict[str, str],
    body: bytes,
    loads: Loads,
    *,
    mapped_route: bool = False,
) -> ConnectorResponse:
    """Answer one delivery; `headers` keys are lowercase; `loads` is the bounded JSON parser."""
    try:
        config = find(settings, name, mapped_route)
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
        secret = _secret(settings, name, config)
        verify(config, secret, headers, body)
        data = _body_data(config, headers, body, loads)
        return _deliver(factory, classifier, settings, clock, name, config, data)
    except Ignored as ignored:
        return ConnectorResponse(200, {"outcome": "ignored", "reason": ignored.reason})
    except Refused as refused:
        log.warning(
            "connector %s refused a delivery: %s (HTTP %d)",
            name[:40],
            refused.reason,
            refused.status,
        )
        return ConnectorResponse(refused.status, {"error": refused.reason})


def verify(config: ConnectorConfig, secret: str, headers: dict[str, str], body: bytes) -> None:
    """The tool's own authentication over the raw bytes, before anything is parsed."""
    if config.kind == "typeform":
        typeform.verify(secret, headers, body)
    elif config.kind == "delighted":
        delighted.verify(secret, headers, body)
    elif config.kind == "surveymonkey":
        surveymonkey.verify(config, secret, headers, body)
    else:
        mapped.verify(config, secret, headers, body)


def read(name: str, config: ConnectorConfig, data: Any) -> tuple[Delivery, dict[str, str]]:
    """The delivery a (verified) payload carries, with the pins a mapping adds."""
    if config.kind == "typeform":
        return typeform.read(data), {}
    if config.kind == "delighted":
        return delighted.read(data), {}
    return mapped.read(name, config, data)


def _deliver(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    settings: Settings,
    clock: Clock,
    name: str,
    config: ConnectorConfig,
    data: Any,
) -> ConnectorResponse:
    if config.kind == "surveymonkey":
        callback = surveymonkey.read_callback(data)
        with transaction(factory) as session:
            new = storage.connectors.record_fetch(
                session,
                callback.key,
                name,
                {
                    "survey_id": callback.survey_id,
                    "response_id": callback.response_id,
                    "event_id": callback.event_id,
                },
                clock.now(),
            )
        return ConnectorResponse(202, {"outcome": "queued" if new else "duplicate"})
    delivery, pins = read(name, config, data)
    stored = ingest(factory, classifier, settings, clock, name, config, delivery, pins)
    return ConnectorResponse(200, stored.body())


def ingest(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    settings: Settings,
    clock: Clock,
    name: str,
    config: ConnectorConfig,
    delivery: Delivery,
    pins: dict[str, str] | None = None,
) -> Stored:
    """A delivery read into a verdict and stored (or its earlier verdict updated)."""
    team = settings.team
    item = _verdict_input(settings, name, config, delivery, pins)
    stored = store(factory, classifier, team, clock.now(), item, version_of(delivery.version))
    log.info("connector %s: %s (verdict %s)", name, stored.outcome, stored.verdict_id)
    return stored


def process_fetches(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    settings: Settings,
    clock: Clock,
    limit: int = 20,
) -> int:
    """Fetch due SurveyMonkey responses and ingest them; failures back off and are retried."""
    with factory() as session:
        ids = storage.connectors.due_fetch_ids(session, clock.now(), limit)
    done = 0
    for fetch_id in ids:
        now = clock.now()
        with transaction(factory) as session:
            if not storage.connectors.lease_fetch(session, fetch_id, now, now + LEASE):
                continue
            row = storage.connectors.get_fetch(session, fetch_id)
            assert row is not None
            name, payload, attempts = row.connector, dict(row.payload), row.attempts
        try:
            _fetch_one(factory, classifier, settings, clock, name, payload)
        except surveymonkey.FetchError as exc:
            _retry(factory, fetch_id, name, attempts, exc, clock.now())
            continue
        except Exception as exc:  # one bad response must not stop the others; it is retried
            _retry(
                factory,
                fetch_id,
                name,
                attempts,
                surveymonkey.FetchError(type(exc).__name__),
                clock.now(),
            )
            continue
        with transaction(factory) as session:
            storage.connectors.finish_fetch(session, fetch_id, "done", clock.now(), None)
        done += 1
    return done


def _fetch_one(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    settings: Settings,
    clock: Clock,
    name: str,
    payload: dict[str, Any],
) -> None:
    config = settings.team.connectors.get(name)
    if config is None or config.kind != "surveymonkey":
        raise surveymonkey.FetchError(f"connector {name} is no longer configured")
    token = settings.secrets.get(config.token_env or "")
    if not token:
        raise surveymonkey.FetchError(f"connector {name}: token_env is not set")
    callback = surveymonkey.Callback(
        str(payload["survey_id"]), str(payload["response_id"]), str(payload["event_id"])
    )
    response = surveymonkey.get_response(config, token, callback)
    key = surveymonkey.survey_key(name, callback.survey_id)
    with factory() as session:
        survey = storage.connectors.cached_document(session, key)
    if survey is None or surveymonkey.outdated(survey, response):
        # One call per survey, shared by every process; fetched again once it was edited.
        survey = surveymonkey.get_survey(config, token, callback.survey_id)
        with transaction(factory) as session:
            storage.connectors.cache_document(session, key, name, survey, clock.now())
    delivery = surveymonkey.delivery(callback, survey, response)
    ingest(factory, classifier, settings, clock, name, config, delivery)


def _retry(
    factory: sessionmaker[Session],
    fetch_id: int,
    name: str,
    attempts: int,
    exc: surveymonkey.FetchError,
    now: datetime,
) -> None:
    with transaction(factory) as session:
        if exc.permanent or attempts >= MAX_ATTEMPTS:
            storage.connectors.finish_fetch(session, fetch_id, "failed", now, str(exc))
            # Ids and the HTTP status only (no answer, e-mail or phone); the metric
            # triage_connector_fetches_set_aside counts these rows for an alert.
            log.error(
                "connector %s: fetch %s set aside after %s attempt(s): %s%s",
                name,
                fetch_id,
                attempts,
                exc,
                " (check the token and its scopes, and the survey id)" if exc.permanent else "",
            )
            return
        wait = min(
            3600.0, exc.retry_after if exc.retry_after is not None else 2.0 ** (attempts - 1)
        )
        storage.connectors.retry_fetch(session, fetch_id, now + timedelta(seconds=wait), str(exc))
        log.warning(
            "connector %s: fetch %s failed (attempt %s), retry in %ss: %s",
            name,
            fetch_id,
            attempts,
            wait,
            exc,
        )


def dry_run(settings: Settings, name: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What a delivery would store, through the same checks and readers, storing nothing."""
    mapped_route = name not in LABELS
    config = find(settings, name, mapped_route)
    verify(config, _secret(settings, name, config), headers, body)
    data = _body_data(config, headers, body, json.loads)
    if config.kind == "surveymonkey":
        callback = surveymonkey.read_callback(data)
        token = settings.secrets.get(config.token_env or "")
        if not token:
            raise Refused(503, f"{config.token_env or 'token_env'} is not set: cannot fetch")
        delivery, pins = surveymonkey.fetch(config, token, callback), dict[str, str]()
    else:
        delivery, pins = read(name, config, data)
    item = _verdict_input(settings, name, config, delivery, pins)
    return {
        "key": item.key,
        "references": [ref.key for ref in item.refs],
        "status": item.status,
        "churned_on": item.churned_on,
        "consent": item.consent,
        "score": item.score,
        "scale": item.scale,
        "channel": item.channel,
        "source": item.origin,
        "received_at": item.received_at.isoformat() if item.received_at else None,
        "text": item.text,
    }


def _verdict_input(
    settings: Settings,
    name: str,
    config: ConnectorConfig,
    delivery: Delivery,
    pins: dict[str, str] | None,
) -> VerdictInput:
    """A delivery read as a verdict, with the team's country and vocabularies."""
    team = settings.team
    return to_input(
        delivery,
        config,
        LABELS.get(config.kind, name),
        team.default_country,
        team.intake.vocabulary,
        pins,
    )
