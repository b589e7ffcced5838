"""Survey tools push straight to the bot (issue 20): Typeform, SurveyMonkey, Delighted and mapped
webhooks, over real HTTP, with the payloads of tests/data/connectors/ (built from each tool's
public documentation, sources in that folder's README.md) signed as each tool signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.runtime.settings import load_team_config
from storage.models import Case, ConnectorFetch, Verdict
from tests.conftest import Harness, block_text
from tests.support import wait_until
from tests.surveymonkey_server import SurveyMonkeyStandIn

DATA = Path(__file__).resolve().parent / "data" / "connectors"
MANIFESTS = {
    tool: json.loads((DATA / tool / "manifest.json").read_text(encoding="utf-8"))
    for tool in ("typeform", "surveymonkey", "delighted", "mapped")
}
SM_TOKEN = "sm-test-access-token"
ENV = {
    "TYPEFORM_SECRET": MANIFESTS["typeform"]["signature"]["test_secret"],
    "DELIGHTED_API_KEY": MANIFESTS["delighted"]["signature"]["test_key"],
    "SURVEYMONKEY_API_SECRET": MANIFESTS["surveymonkey"]["signature"]["test_api_secret"],
    "SURVEYMONKEY_TOKEN": SM_TOKEN,
    "QUALTRICS_TOKEN": MANIFESTS["mapped"]["bearer_token_for_tests"],
    "GFORMS_SECRET": MANIFESTS["mapped"]["cases"][2]["signature"]["test_secret"],
}


def connectors(api_url: str = "http://127.0.0.1:9/v3") -> dict[str, Any]:
    """The team config's connectors, as docs/connectors.md shows them."""
    return {
        "typeform": {"secret_env": "TYPEFORM_SECRET", "source": "Typeform exit survey"},
        "delighted": {"secret_env": "DELIGHTED_API_KEY"},
        "surveymonkey": {
            "secret_env": "SURVEYMONKEY_API_SECRET",
            "api_key": MANIFESTS["surveymonkey"]["signature"]["test_api_key"],
            "token_env": "SURVEYMONKEY_TOKEN",
            "api_url": api_url,
        },
        "qualtrics": {
            "type": "mapped",
            "auth": "bearer",
            "secret_env": "QUALTRICS_TOKEN",
            "source": "Qualtrics",
            "by_title": False,
            "fields": {
                "id": "response_id",
                "customer": "customer_id",
                "email": "email",
                "score": "nps",
                "text": {"path": ["comment", "reason"]},
                "status": {"path": "still_customer", "map": {"1": "current", "2": "former"}},
                "consent": {"path": "consent", "map": {"1": "yes", "2": "no"}},
            },
        },
        "google-forms": {
            "type": "mapped",
            "secret_env": "GFORMS_SECRET",
            "signature_header": "X-Signature",
            "fields": {"id": "responseId", "received_at": "timestamp"},
        },
    }


@pytest.fixture
def start(make_bot: Callable[..., Harness]) -> Callable[..., Harness]:
    def run(api_url: str = "http://127.0.0.1:9/v3") -> Harness:
        return make_bot(env=ENV, connectors=connectors(api_url))

    return run


def case(tool: str, case_id: str) -> dict[str, Any]:
    return next(c for c in MANIFESTS[tool]["cases"] if c["id"] == case_id)


def body_of(tool: str, entry: dict[str, Any]) -> bytes:
    raw = (DATA / tool / entry["file"]).read_bytes()
    if tool == "mapped" and entry["file"].endswith("form_encoded.json"):
        raw = json.loads(raw)["raw_body"].encode()
    assert hashlib.sha256(raw).hexdigest() == entry["body_sha256"]  # exact bytes, never reformatted
    return raw


def post(
    bot: Harness, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        bot.server.url + path, data=body if method == "POST" else None, method=method
    )
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def deliver(
    bot: Harness, tool: str, case_id: str, **header_overrides: str
) -> tuple[int, dict[str, Any]]:
    entry = case(tool, case_id)
    path = MANIFESTS[tool]["endpoint"].split()[1]
    if tool == "mapped":
        path = "/webhooks/mapped/" + (
            "qualtrics" if entry["tool"] == "qualtrics" else "google-forms"
        )
    return post(bot, path, body_of(tool, entry), {**entry["headers"], **header_overrides})


def verdicts(bot: Harness) -> list[Verdict]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Verdict).order_by(Verdict.id)))


def open_cases(bot: Harness) -> list[Case]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Case)))


def test_typeform_verdict_and_redelivery(start: Callable[..., Harness]) -> None:
    """typeform-01 then typeform-04 (byte-identical redelivery): one verdict, one case."""
    bot = start()
    status, answer = deliver(bot, "typeform", "typeform-01")
    assert status == 200 and answer["outcome"] == "opened", answer
    status, again = deliver(bot, "typeform", "typeform-04")
    assert status == 200 and again["outcome"] == "duplicate"
    assert again["verdict_id"] == answer["verdict_id"]
    [verdict] = verdicts(bot)
    assert verdict.source_key == "typeform:Xq7LpQ2a:7wq0c2m8y5rk1tbn4d9xzj6vhe3pa2uf"
    assert "price went up twice in one year" in verdict.text
    assert "May we contact you" not in verdict.text
    assert verdict.score == 3 and verdict.consent and verdict.consent_stated
    assert verdict.origin == "Typeform exit survey"
    bot.wait_idle()
    assert len(bot.cards()) == 1


def test_typeform_test_request_and_bad_payloads_never_404(start: Callable[..., Harness]) -> None:
    """typeform-05 ("Send test request"): 200, nothing stored. A payload Typeform could not have
    meant gets 400/422 naming the problem, never 404/410 (Typeform would disable the webhook)."""
    bot = start()
    status, answer = deliver(bot, "typeform", "typeform-05")
    assert status == 200 and answer["outcome"] == "ignored"
    secret = ENV["TYPEFORM_SECRET"].encode()
    for body, expected in ((b"{not json", 400), (b'{"event_type":"form_response"}', 422)):
        signature = "sha256=" + base64.b64encode(hmac.new(secret, body, "sha256").digest()).decode()
        status, answer = post(bot, "/webhooks/typeform", body, {"Typeform-Signature": signature})
        assert status == expected and answer["error"], answer
    assert verdicts(bot) == []


@pytest.mark.parametrize(
    ("tool", "case_id", "header", "bad"),
    [
        # manifests' stale_signature: signed with a secret since rotated (no tool signs a time)
        ("typeform", "typeform-01", "Typeform-Signature", "stale"),
        ("typeform", "typeform-01", "Typeform-Signature", "no_lf"),
        ("delighted", "delighted-02", "X-Delighted-Webhook-Signature", "stale"),
        ("surveymonkey", "surveymonkey-01", "Sm-Signature", "stale"),
        ("typeform", "typeform-01", "Typeform-Signature", "sha256=garbage\u00e9"),
    ],
)
def test_bad_and_stale_signatures_store_nothing(
    start: Callable[..., Harness], tool: str, case_id: str, header: str, bad: str
) -> None:
    bot = start()
    entry = case(tool, case_id)
    if bad == "stale":
        value = entry["stale_signature"][header]
    elif bad == "no_lf":  # typeform-01: HMAC of the body without its final LF must not verify
        value = entry["signature_without_trailing_newline"][header]
    else:
        value = bad
    status, answer = deliver(bot, tool, case_id, **{header: value.encode().decode("latin-1")})
    assert status == 401 and "signature" in answer["error"]
    assert verdicts(bot) == []
    with bot.rt.factory() as session:
        assert session.scalars(select(ConnectorFetch)).first() is None


def test_consent_refusal_is_statistics_only(start: Callable[..., Harness]) -> None:
    """typeform-02 (French, consent refused) and mapped-qualtrics-02 (recode "2" = no)."""
    bot = start()
    status, answer = deliver(bot, "typeform", "typeform-02")
    assert status == 200 and answer["outcome"] == "no_consent" and answer["case_id"] is None
    status, answer = deliver(bot, "mapped", "mapped-qualtrics-02")
    assert status == 200 and answer["outcome"] == "no_consent"
    stored = verdicts(bot)
    assert len(stored) == 2 and all(not v.consent and v.case_id is None for v in stored)
    assert "+33639980214" not in stored[0].text and "Trois coupures" in stored[0].text
    assert open_cases(bot) == []


def test_delighted_created_then_updated(start: Callable[..., Harness]) -> None:
    """delighted-01 (.created, score only), -02 (.updated: comment and consent arrive), -05
    (redelivery of -02): one verdict, the comment added, the card refreshed."""
    bot = start()
    status, first = deliver(bot, "delighted", "delighted-01")
    assert status == 200 and first["outcome"] == "opened"
    bot.wait_idle()
    status, second = deliver(bot, "delighted", "delighted-02")
    assert status == 200 and second["outcome"] == "updated"
    assert second["verdict_id"] == first["verdict_id"]
    status, third = deliver(bot, "delighted", "delighted-05")
    assert status == 200 and third["outcome"] == "duplicate"
    [verdict] = verdicts(bot)
    assert "billed for a router I had already sent back" in verdict.text
    assert verdict.consent and verdict.consent_stated and verdict.score == 2
    bot.wait_idle()
    [card] = bot.cards()  # the same card, refreshed in place with the comment
    assert "router" in block_text(card)


def test_surveymonkey_fetch_fails_then_succeeds(start: Callable[..., Harness]) -> None:
    """surveymonkey-01 acked at once; the stand-in API answers 500 then 429 (its documented
    error bodies) then the response: one verdict, later; surveymonkey-04 (redelivery) changes
    nothing. The HEAD check SurveyMonkey makes on creation gets 200."""
    with SurveyMonkeyStandIn(SM_TOKEN) as api:
        bot = start(api.url)
        status, _ = post(bot, "/webhooks/surveymonkey", b"", {}, method="HEAD")
        assert status == 200
        api.failures.extend([500, 429])
        status, answer = deliver(bot, "surveymonkey", "surveymonkey-01")
        assert status == 202 and answer["outcome"] == "queued"
        found = wait_until(lambda: verdicts(bot), timeout=30)
        [verdict] = found
        assert verdict.source_key == "surveymonkey:518204377:114582307741"
        assert "Two price increases" in verdict.text and verdict.score == 2 and verdict.consent
        status, again = deliver(bot, "surveymonkey", "surveymonkey-04")
        assert status == 202 and again["outcome"] == "duplicate"
        assert len(verdicts(bot)) == 1
        # two failed attempts, then the response and its survey's details; the redelivery
        # fetches nothing
        response = "/v3/surveys/518204377/responses/114582307741/details"
        assert api.requests == [response] * 3 + ["/v3/surveys/518204377/details"]


def test_mapped_connectors(start: Callable[..., Harness]) -> None:
    """mapped-qualtrics-01 (JSON, bearer token, recodes) and mapped-google-forms-01
    (form-encoded, HMAC header, titles read by meaning, a value with '&')."""
    bot = start()
    status, answer = deliver(bot, "mapped", "mapped-qualtrics-01")
    assert status == 200 and answer["outcome"] == "opened", answer
    status, answer = deliver(bot, "mapped", "mapped-google-forms-01")
    assert status == 200 and answer["outcome"] == "opened", answer
    qualtrics, forms = verdicts(bot)
    assert qualtrics.score == 4 and qualtrics.consent and "Three outages" in qualtrics.text
    assert qualtrics.source_key == "mapped:qualtrics:R_3qZ8vYw2LmT5kPa"
    assert forms.score == 3 and forms.consent and "Je déménage à Lyon & votre offre" in forms.text
    status, again = deliver(bot, "mapped", "mapped-google-forms-01")
    assert again["outcome"] == "duplicate"
    status, answer = deliver(bot, "mapped", "mapped-qualtrics-01", Authorization="Bearer wrong")
    assert status == 401
    status, _ = post(bot, "/webhooks/mapped/unknown", b"{}", {})
    assert status == 404


def test_config_check_lists_connectors(tmp_path: Path) -> None:
    import yaml

    from bot.intake.connectors.config import describe

    path = tmp_path / "triage.yaml"
    path.write_text(
        yaml.safe_dump(
            {"channels": {"intake": "C0INTAKE", "triage": "C0TRIAGE"}, "connectors": connectors()}
        )
    )
    team = load_team_config(path)
    lines = "\n".join(describe(team.connectors, {"TYPEFORM_SECRET": "x"}))
    assert "POST /webhooks/typeform" in lines and "/webhooks/mapped/qualtrics" in lines
    assert "QUALTRICS_TOKEN not set" in lines


ENDPOINTS = ["typeform", "delighted", "surveymonkey", "mapped/qualtrics", "mapped/google-forms"]


def _signed(endpoint: str, body: bytes) -> dict[str, str]:
    if endpoint == "typeform":
        digest = hmac.new(ENV["TYPEFORM_SECRET"].encode(), body, "sha256").digest()
        return {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}
    if endpoint == "delighted":
        digest = hmac.new(ENV["DELIGHTED_API_KEY"].encode(), body, "sha256").digest()
        return {"X-Delighted-Webhook-Signature": "sha256=" + digest.hex()}
    if endpoint == "surveymonkey":
        key = MANIFESTS["surveymonkey"]["signature"]["test_api_key"]
        digest = hmac.new(f"{key}&{ENV['SURVEYMONKEY_API_SECRET']}".encode(), body, "sha1").digest()
        return {"Sm-Signature": base64.b64encode(digest).decode()}
    if endpoint == "mapped/qualtrics":
        return {"Authorization": "Bearer " + ENV["QUALTRICS_TOKEN"]}
    digest = hmac.new(ENV["GFORMS_SECRET"].encode(), body, "sha256").hexdigest()
    return {"X-Signature": "sha256=" + digest, "Content-Type": "application/x-www-form-urlencoded"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event_type",
                    "form_response",
                    "event_data",
                    "answers",
                    "definition",
                    "fields",
                    "hidden",
                    "id",
                    "token",
                    "form_id",
                    "resources",
                    "object_id",
                    "event_id",
                    "survey_id",
                    "comment",
                    "score",
                    "person",
                    "additional_answers",
                    "response_id",
                    "consent",
                    "nps",
                    "customer_id",
                    "text",
                    "field",
                    "type",
                    "choice",
                    "choices",
                ]
            )
            | st.text(max_size=10),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
_EVENTS = st.sampled_from(
    ["form_response", "survey_response.created", "survey_response.updated", "response_completed"]
)


def test_any_body_gets_2xx_or_4xx(start: Callable[..., Harness]) -> None:
    """Any body, signed or not, to any connector endpoint: 2xx or 4xx, never a 500."""
    bot = start()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        endpoint=st.sampled_from(ENDPOINTS),
        data=_JSON,
        event=_EVENTS,
        raw=st.binary(max_size=200),
        shape=st.sampled_from(["json", "event", "raw"]),
        sign=st.booleans(),
    )
    def check(endpoint: str, data: Any, event: str, raw: bytes, shape: str, sign: bool) -> None:
        if shape == "event":
            data = {
                "event_type": event,
                "form_response": data,
                "event_data": data,
                "resources": data,
                "object_id": data,
                "event_id": "1",
            }
        body = raw if shape == "raw" else json.dumps(data).encode()
        headers = _signed(endpoint, body) if sign else {}
        status, _ = post(bot, "/webhooks/" + endpoint, body, headers)
        assert 200 <= status < 300 or 400 <= status < 500, status

    check()
