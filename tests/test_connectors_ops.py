"""Survey-tool connectors as an operator runs them (issue 20, second part): `triage connectors
test`, SurveyMonkey fetches set aside and visible, survey details fetched once per survey, and
consent stated in a Delighted update. Real HTTP, payloads from tests/data/connectors/."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, func, select, update

from bot.intake.connectors.service import MAX_ATTEMPTS
from storage.models import Case, ConnectorFetch, Verdict
from tests.conftest import Harness, team_config
from tests.support import ROOT, bot_command, bot_env, wait_until
from tests.surveymonkey_server import SurveyMonkeyStandIn
from tests.test_connectors import (
    DATA,
    ENV,
    SM_TOKEN,
    case,
    connectors,
    deliver,
    open_cases,
    post,
    verdicts,
)

# --- triage connectors test NAME FILE [--url URL] ----------------------------------------------


def triage(tmp_path: Path, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "triage.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(team_config(connectors=connectors())), encoding="utf-8")
    env = {**ENV, "TRIAGE_CONFIG": str(config), "DATABASE_URL": database_url}
    return subprocess.run(
        bot_command("connectors", "test", *args),
        capture_output=True,
        text=True,
        env=bot_env(**env),
        cwd=ROOT,
        timeout=60,
    )


def count_verdicts(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Verdict)) or 0)
    finally:
        engine.dispose()


def test_connectors_test_prints_what_would_be_stored_and_stores_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """typeform-01 and the Google Forms envelope (form-encoded), signed by the command itself."""
    result = triage(
        tmp_path,
        "typeform",
        str(DATA / "typeform" / case("typeform", "typeform-01")["file"]),
        database_url=database_url,
    )
    assert result.returncode == 0, result.stderr
    would = json.loads(result.stdout)["would_store"]
    assert would["key"] == "typeform:Xq7LpQ2a:7wq0c2m8y5rk1tbn4d9xzj6vhe3pa2uf"
    assert would["consent"] is True and would["score"] == 3
    assert "price went up twice in one year" in would["text"]
    assert would["source"] == "Typeform exit survey"
    forms = DATA / "mapped" / "google_forms_apps_script_form_encoded.json"
    result = triage(tmp_path, "google-forms", str(forms), database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "Je déménage à Lyon & votre offre" in json.loads(result.stdout)["would_store"]["text"]
    assert count_verdicts(database_url) == 0


@pytest.mark.parametrize(
    ("name", "file", "config", "line"),
    [
        ("nosuch", "typeform/01", None, "nosuch: no mapped connector named 'nosuch'"),
        ("typeform", "missing.json", None, "missing.json: cannot read"),
        # the mapping's id path is not in this payload: refused as the bot would refuse it
        (
            "qualtrics",
            "typeform/01",
            None,
            "qualtrics: refused (HTTP 422): the response id (response_id) is missing",
        ),
        # a mapping that names a field verdicts do not have: the config itself is refused
        ("qualtrics", "typeform/01", {"fields": {"id": "x", "colour": "y"}}, "colour"),
    ],
)
def test_connectors_test_bad_input_one_line_exit_2(
    tmp_path: Path, database_url: str, name: str, file: str, config: Any, line: str
) -> None:
    if config is not None:
        bad = connectors()
        bad["qualtrics"] = {**bad["qualtrics"], **config}
        (tmp_path / "triage.yaml").write_text(
            yaml.safe_dump(team_config(connectors=bad)), encoding="utf-8"
        )
    path = (
        DATA / "typeform" / case("typeform", "typeform-01")["file"]
        if file == "typeform/01"
        else tmp_path / file
    )
    result = triage(tmp_path, name, str(path), database_url=database_url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and line in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert count_verdicts(database_url) == 0


def test_connectors_test_help_explains() -> None:
    result = subprocess.run(
        bot_command("connectors", "test", "--help"),
        capture_output=True,
        text=True,
        env=bot_env(),
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0
    assert "usage: triage connectors test" in result.stdout
    for words in ("signed with the configured secret", "--url", "exit status", "nothing is stored"):
        assert words in result.stdout


def test_connectors_test_url_sends_to_a_running_bot(
    tmp_path: Path, database_url: str, make_bot: Callable[..., Harness]
) -> None:
    """With --url, the payload goes over HTTP to the bot, which stores it (once)."""
    bot = make_bot(env=ENV, connectors=connectors())
    file = str(DATA / "delighted" / case("delighted", "delighted-02")["file"])
    result = triage(tmp_path, "delighted", file, "--url", bot.server.url, database_url=database_url)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == 200 and answer["answer"]["outcome"] == "opened"
    again = triage(tmp_path, "delighted", file, "--url", bot.server.url, database_url=database_url)
    assert json.loads(again.stdout)["answer"]["outcome"] == "duplicate"
    assert len(verdicts(bot)) == 1


# --- SurveyMonkey: set aside, visible; survey details cached --------------------------------


def metric(bot: Harness, name: str) -> float:
    with urllib.request.urlopen(bot.server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def fetch_row(bot: Harness) -> ConnectorFetch | None:
    with bot.rt.factory() as session:
        return session.scalars(
            select(ConnectorFetch).where(ConnectorFetch.status != "cached")
        ).first()


@pytest.mark.parametrize("status", [401, 403, 404])
def test_surveymonkey_fetch_set_aside_on_401_403_404(
    make_bot: Callable[..., Harness], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """The API refuses for good: the fetch is set aside after one attempt, logged without
    personal data, and counted on /metrics; the callback was acked and nothing is stored."""
    with SurveyMonkeyStandIn(SM_TOKEN) as api:
        api.failures.extend([status] * 3)
        bot = make_bot(env=ENV, connectors=connectors(api.url))
        code, answer = deliver(bot, "surveymonkey", "surveymonkey-01")
        assert code == 202 and answer["outcome"] == "queued"
        row = wait_until(lambda: (r := fetch_row(bot)) is not None and r.status == "failed" and r)
        assert row and row.attempts == 1 and f"HTTP {status}" in (row.last_error or "")
    assert verdicts(bot) == []
    assert metric(bot, "triage_connector_fetches_set_aside") == 1
    [line] = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert "surveymonkey" in line and f"HTTP {status}" in line and "scopes" in line
    assert "@" not in line and "ACC-" not in line  # ids only: no e-mail, no customer


def test_surveymonkey_fetch_set_aside_after_its_last_attempt(
    make_bot: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 on every attempt: retried, then set aside once out of attempts (the row is moved
    to its last attempt rather than waiting an hour of backoff)."""
    with SurveyMonkeyStandIn(SM_TOKEN) as api:
        api.failures.extend([500] * 1000)
        bot = make_bot(env=ENV, connectors=connectors(api.url))
        deliver(bot, "surveymonkey", "surveymonkey-01")
        assert wait_until(lambda: (r := fetch_row(bot)) is not None and r.attempts >= 1)
        with bot.rt.factory() as session, session.begin():
            session.execute(
                update(ConnectorFetch)
                .where(ConnectorFetch.status == "pending")
                .values(attempts=MAX_ATTEMPTS - 1, next_at=bot.rt.clock.now())
            )
        row = wait_until(lambda: (r := fetch_row(bot)) is not None and r.status == "failed" and r)
        assert row and row.attempts == MAX_ATTEMPTS
    assert verdicts(bot) == []
    assert metric(bot, "triage_connector_fetches_set_aside") == 1
    [line] = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert f"after {MAX_ATTEMPTS} attempt(s)" in line and "HTTP 500" in line


def test_surveymonkey_survey_details_fetched_once_per_survey(
    make_bot: Callable[..., Harness],
) -> None:
    """surveymonkey-01 to one bot, -03 (same survey) to a second bot on the same database: the
    survey's details are fetched once and reused from the database; one call per response."""
    with SurveyMonkeyStandIn(SM_TOKEN) as api:
        first = make_bot(env=ENV, connectors=connectors(api.url))
        second = make_bot(env=ENV, connectors=connectors(api.url))
        deliver(first, "surveymonkey", "surveymonkey-01")
        assert wait_until(lambda: len(verdicts(first)) == 1)
        deliver(second, "surveymonkey", "surveymonkey-03")
        assert wait_until(lambda: len(verdicts(first)) == 2)
        survey = "/v3/surveys/518204377/details"
        assert api.requests.count(survey) == 1, api.requests
        assert len([r for r in api.requests if "/responses/" in r]) == 2
        assert len(api.requests) == 3
    with first.rt.factory() as session:
        cached = session.scalars(
            select(ConnectorFetch).where(ConnectorFetch.status == "cached")
        ).one()
        assert cached.dedupe_key == "survey:surveymonkey:518204377"
    by_key = {v.source_key: v for v in verdicts(first)}
    assert "Two price increases" in by_key["surveymonkey:518204377:114582307741"].text


# --- Delighted: consent stated in an update -------------------------------------------------


def _delighted_body(entry_id: str, **changes: Any) -> bytes:
    data = json.loads((DATA / "delighted" / case("delighted", entry_id)["file"]).read_bytes())
    data["event_data"].update(changes.pop("event_data", {}))
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()


def _send_delighted(bot: Harness, body: bytes) -> tuple[int, dict[str, Any]]:
    digest = hmac.new(ENV["DELIGHTED_API_KEY"].encode(), body, hashlib.sha256).hexdigest()
    return post(
        bot, "/webhooks/delighted", body, {"X-Delighted-Webhook-Signature": "sha256=" + digest}
    )


def test_delighted_consent_granted_in_update_opens_the_case(
    make_bot: Callable[..., Harness],
) -> None:
    """`consent.when_unknown: statistics_only`: delighted-01 (no consent answer) is kept for
    statistics only; delighted-02 says yes: the verdict gets its customer and a case."""
    bot = make_bot(env=ENV, connectors=connectors(), consent={"when_unknown": "statistics_only"})
    status, first = deliver(bot, "delighted", "delighted-01")
    assert status == 200 and first["outcome"] == "no_consent" and first["case_id"] is None
    [verdict] = verdicts(bot)
    assert not verdict.consent and not verdict.consent_stated and verdict.case_id is None
    status, second = deliver(bot, "delighted", "delighted-02")
    assert status == 200 and second["outcome"] == "updated" and second["case_id"] is not None
    [verdict] = verdicts(bot)
    assert verdict.consent and verdict.consent_stated and verdict.case_id == second["case_id"]
    assert "router I had already sent back" in verdict.text
    [opened] = open_cases(bot)
    assert opened.id == verdict.case_id and opened.customer_id == verdict.customer_id
    bot.wait_idle()
    assert len(bot.cards()) == 1


def test_delighted_consent_stated_in_update_when_asked(make_bot: Callable[..., Harness]) -> None:
    """Default `ask`: the case opened on delighted-01 (consent not stated); delighted-02 states
    it: the same case, consent now stated."""
    bot = make_bot(env=ENV, connectors=connectors())
    status, first = deliver(bot, "delighted", "delighted-01")
    assert status == 200 and first["outcome"] == "opened"
    [verdict] = verdicts(bot)
    assert verdict.consent and not verdict.consent_stated
    deliver(bot, "delighted", "delighted-02")
    [verdict] = verdicts(bot)
    assert verdict.consent and verdict.consent_stated and verdict.case_id == first["case_id"]
    assert len(open_cases(bot)) == 1


def test_delighted_refusal_is_never_undone(make_bot: Callable[..., Harness]) -> None:
    """A .created that refuses (delighted-02's answers, "No"), then delighted-02 (newer,
    "Yes"): still refused, statistics only, no case; a later update without the consent
    question does not undo it either."""
    bot = make_bot(env=ENV, connectors=connectors())
    answers = json.loads(_delighted_body("delighted-02"))["event_data"]["additional_answers"]
    answers[1]["value"]["select_one"] = {"id": "Yx81Qb", "text": "No"}
    refused = _delighted_body(
        "delighted-01",
        event_data={"additional_answers": answers},
    )
    status, first = _send_delighted(bot, refused)
    assert status == 200 and first["outcome"] == "no_consent", first
    status, second = deliver(bot, "delighted", "delighted-02")
    assert status == 200 and second["outcome"] == "updated" and second["case_id"] is None
    silent = _delighted_body(
        "delighted-02",
        event_id="f" * 64,
        event_data={"updated_at": 1795249000, "additional_answers": []},
    )
    status, third = _send_delighted(bot, silent)
    assert status == 200 and third["outcome"] == "updated"
    [verdict] = verdicts(bot)
    assert not verdict.consent and verdict.consent_stated and verdict.case_id is None
    assert open_cases(bot) == []
    assert "hannah.brooks" not in verdict.text
    with bot.rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
