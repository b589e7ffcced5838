"""Hostile input over real HTTP (issue 19): forged, malformed and injected requests are refused
with a 4xx (never a 500), nothing is stored or posted, and no log line above DEBUG holds a
verbatim, an email or a phone number. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cases import triage_command
from bot.cases.card import CLAIM_ACTION
from bot.cases.modals import SNOOZE_VIEW
from bot.cases.views import LIST_MORE_ACTION
from bot.intake import importer
from bot.intake.file_rows import RowError
from bot.privacy.cells import safe_cell
from bot.sandbox.signing import sign
from storage.models import Case, Event, OutboxMessage, Verdict
from tests.conftest import AGENT, MANAGER, TRIAGE, Harness

SECRET_TEXT = "Résilié: jean.secret@example.fr 06 12 34 56 78 verbatim-canary"
EMAIL = "jean.secret@example.fr"


def cases(params: Any) -> list[Any]:
    """The values of a list of cases (pytest.param or plain), run in one test on one bot: a
    bot per case would cost a second each."""
    out = []
    for p in params:
        values = p.values if hasattr(p, "values") and not isinstance(p, dict) else p
        out.append(values[0] if isinstance(values, tuple) and len(values) == 1 else values)
    return out


def counts(bot: Harness) -> tuple[int, int, int]:
    """Verdicts, events and queued Slack writes: what a refused request must not change."""
    with bot.rt.factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Verdict)) or 0,
            session.scalar(select(func.count()).select_from(Event)) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
        )


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines above DEBUG quoting the verbatim, the email or the phone number."""
    return [
        r.getMessage()[:200]
        for r in caplog.records
        if r.levelno > logging.DEBUG
        and any(s in r.getMessage() for s in ("verbatim-canary", EMAIL, "06 12 34 56 78"))
    ]


def raw_post(
    bot: Harness, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST with exactly these headers (http.client: no header is checked or added for us)."""
    parsed = urllib.parse.urlsplit(bot.server.url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            connection.putheader(name, value.encode("utf-8"))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {"raw": data.decode("utf-8", "replace")}
    finally:
        connection.close()


def slack_headers(bot: Harness, body: bytes, **overrides: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    secret = bot.rt.settings.slack_signing_secret or ""
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(secret, stamp, body),
    }
    headers.update(overrides)
    return headers


DEEP = b"[" * 10_000 + b"]" * 10_000
BAD_BODIES = [
    pytest.param(b"not json at all " + SECRET_TEXT.encode(), id="not-json"),
    pytest.param(b"null", id="null"),
    pytest.param(DEEP, id="nested-10000"),
    pytest.param(
        b'{"type": "event_callback", "event": ' * 50 + b"{}" + b"}" * 50, id="deep-object"
    ),
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param(b"payload=%7Bnot-json", id="payload-not-json"),
    pytest.param(b"payload=null", id="payload-null"),
]


def test_slack_bodies_that_are_not_slack_are_4xx_signed_or_not(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for body in cases(BAD_BODIES):
        caplog.set_level(logging.INFO)
        before = counts(bot)
        unsigned, answer = raw_post(
            bot, "/slack/events", body, {"Content-Type": "application/json"}
        )
        assert unsigned == 401 and "error" in answer
        content_type = (
            "application/x-www-form-urlencoded"
            if body.startswith(b"payload")
            else "application/json"
        )
        signed, answer = raw_post(
            bot, "/slack/events", body, slack_headers(bot, body, **{"Content-Type": content_type})
        )
        assert signed == 400 and "error" in answer
        assert counts(bot) == before
        assert not leaked(caplog)


def test_slack_headers_are_read_as_values(bot: Harness) -> None:
    for headers, status in cases(
        [
            ({"X-Slack-Request-Timestamp": "soon"}, 401),
            ({"X-Slack-Request-Timestamp": "１２３"}, 401),  # full-width digits
            ({"X-Slack-Request-Timestamp": "²"}, 401),
            ({"X-Slack-Signature": "v0=" + "é" * 64}, 401),
            ({"X-Slack-Signature": "v1=abc"}, 401),
            ({"Content-Length": "many"}, 400),
        ]
    ):
        body = json.dumps({"type": "event_callback", "team_id": "T0TEAM", "event": {}}).encode()
        got, answer = raw_post(bot, "/slack/events", body, slack_headers(bot, body, **headers))
        assert got == status and "error" in answer


def test_a_stale_well_signed_request_is_refused_and_its_body_never_logged(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    event = bot.emulator.post_as_user("C0INTAKE", AGENT, SECRET_TEXT)
    before = counts(bot)
    response = bot.sender.send_event(event, timestamp=int(time.time()) - 3600)
    assert response.status == 401
    forged = bot.sender.send_event(event, forge=True)
    assert forged.status == 401
    assert counts(bot) == before
    assert not leaked(caplog)


def _card(bot: Harness) -> dict[str, Any]:
    status, answer, _ = bot.post_webhook(
        {"text": "Network down for a week, I left.", "consent": True, "customer": "ACC-1001"}
    )
    assert status == 202, answer
    bot.wait_idle()
    (card,) = bot.cards()
    return card


def _owner(bot: Harness) -> str | None:
    with bot.rt.factory() as session:
        return session.scalar(select(Case.owner_id))


def test_clicks_with_values_the_bot_did_not_write_are_refused_politely(bot: Harness) -> None:
    card = _card(bot)
    before = counts(bot)
    for value in ("1 OR 1=1", "-1", "99999999999", "٣", ""):
        payload = bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, AGENT)
        payload["actions"][0]["value"] = value
        assert bot.sender.send_interactivity(payload).status == 200
    assert _owner(bot) is None
    bot.wait_idle()
    notes = bot.emulator.ephemerals(user=AGENT)
    assert notes and all("could not read that request" in n["text"] for n in notes)
    assert counts(bot)[:2] == before[:2]


def test_a_click_from_another_installation_is_refused(
    bot: Harness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for team, enterprise in cases(
        [({"id": "T0OTHER", "domain": "x"}, None), ({"id": "T0TEAM"}, {"id": "E0STRANGER"})]
    ):
        caplog.set_level(logging.INFO)
        card = _card(bot)
        before = counts(bot)
        payload = bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, AGENT)
        payload["team"], payload["enterprise"] = team, enterprise
        payload["user"]["team_id"] = team["id"]
        assert bot.sender.send_interactivity(payload).status == 200
        assert _owner(bot) is None and counts(bot) == before
        assert any("another installation" in r.getMessage() for r in caplog.records)


def test_an_event_and_a_command_from_another_workspace_are_refused(bot: Harness) -> None:
    before = counts(bot)
    event = bot.emulator.post_as_user("C0INTAKE", AGENT, "Terrible network, I left. Consent: yes")
    bot.sender.team_id = "T0OTHER"
    assert bot.sender.send_event(event).status == 200
    response = bot.sender.send_command("/triage", "list", user_id=MANAGER, channel_id=TRIAGE)
    assert response.status == 200 and "Case" not in response.body
    bot.wait_idle()
    assert counts(bot) == before


def _view_submission(view: dict[str, Any], user: str = AGENT) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "sandbox"},
        "user": {"id": user, "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "trigger_id": "1.2.3",
        "view": {"id": "V0HOSTILE", "type": "modal", **view},
    }


def test_forms_the_bot_did_not_write_are_refused(bot: Harness) -> None:
    for view in cases(
        [
            pytest.param(
                {"callback_id": SNOOZE_VIEW, "private_metadata": "not json"}, id="metadata"
            ),
            pytest.param(
                {"callback_id": SNOOZE_VIEW, "private_metadata": '{"case": "1; drop"}'},
                id="metadata-case",
            ),
            pytest.param(
                {
                    "callback_id": SNOOZE_VIEW,
                    "private_metadata": '{"case": 1}',
                    "state": {
                        "values": {
                            "until": {
                                "value": {"type": "datepicker", "selected_date": "99999-12-31"}
                            }
                        }
                    },
                },
                id="date-far-out",
            ),
            pytest.param(
                {
                    "callback_id": SNOOZE_VIEW,
                    "private_metadata": '{"case": 1}',
                    "state": {
                        "values": {
                            "until": {
                                "value": {"type": "datetimepicker", "selected_date_time": 10**15}
                            }
                        }
                    },
                },
                id="datetime-far-out",
            ),
            pytest.param(
                {
                    "callback_id": SNOOZE_VIEW,
                    "private_metadata": '{"case": 1}',
                    "state": {
                        "values": {
                            "reason": {"value": {"type": "plain_text_input", "value": {"$ne": 1}}}
                        }
                    },
                },
                id="text-is-object",
            ),
        ]
    ):
        _card(bot)
        before = counts(bot)
        response = bot.sender.send_interactivity(_view_submission(view))
        assert response.status == 200
        assert counts(bot)[:2] == before[:2]


def test_a_list_more_button_with_a_forged_state_is_refused(bot: Harness) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEAM"},
        "user": {"id": MANAGER, "team_id": "T0TEAM"},
        "channel": {"id": TRIAGE},
        "actions": [
            {"action_id": LIST_MORE_ACTION, "value": '{"args": {"since": 1e999}, "offset": -5}'}
        ],
    }
    assert bot.sender.send_interactivity(payload).status == 200


def test_events_with_shapes_slack_never_sends_are_dropped(bot: Harness) -> None:
    for event in cases(
        [
            pytest.param(
                {
                    "type": "message",
                    "channel": "C0INTAKE",
                    "user": AGENT,
                    "ts": "1.1",
                    "text": {"a": 1},
                },
                id="text-object",
            ),
            pytest.param(
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "channel": "C0INTAKE",
                    "ts": "1.2",
                    "message": "gone",
                },
                id="message-string",
            ),
            pytest.param(
                {
                    "type": "message",
                    "channel": "C0INTAKE",
                    "user": AGENT,
                    "ts": "1.3",
                    "text": "a\u0000b",
                },
                id="nul",
            ),
            pytest.param(
                {
                    "type": "message",
                    "channel": "C0INTAKE",
                    "user": AGENT,
                    "ts": "1.4",
                    "files": "x",
                },
                id="files-string",
            ),
        ]
    ):
        before = counts(bot)
        assert bot.sender.send_event(event).status == 200
        bot.wait_idle()
        assert counts(bot) == before


WEBHOOK_BAD = [
    pytest.param(
        {"text": "x", "consent": True, "received_at": "9999-12-31T23:59:59+14:00"}, id="year-9999"
    ),
    pytest.param({"text": "x", "consent": True, "churned_on": "9999-12-31"}, id="churn-9999"),
    pytest.param({"text": "x", "consent": True, "score": True}, id="score-true"),
    pytest.param({"text": "x", "consent": True, "score": "7"}, id="score-string"),
    pytest.param({"text": "\u200b\u200d\u2060 \u00a0", "consent": True}, id="invisible-text"),
    pytest.param({"text": "a\u0000b " + SECRET_TEXT, "consent": True}, id="nul"),
    pytest.param({"text": "ok", "consent": True, "source": "a\u0000"}, id="nul-in-source"),
]


def test_webhook_values_are_validated(bot: Harness, caplog: pytest.LogCaptureFixture) -> None:
    for data in cases(WEBHOOK_BAD):
        caplog.set_level(logging.INFO)
        before = counts(bot)
        status, answer, _ = bot.post_webhook(data)
        assert status == 400 and answer["errors"], answer
        assert counts(bot) == before
        assert not leaked(caplog)


def test_webhook_bodies_are_parsed_safely(bot: Harness) -> None:
    for body in cases(
        [
            pytest.param(b'{"text": "a", "text": "b", "consent": true}', id="duplicate-keys"),
            pytest.param(DEEP, id="deep"),
            pytest.param(b"null", id="null"),
            pytest.param(b"<xml/>", id="not-json"),
            pytest.param(b'{"text": "a", "consent": true, "score": NaN}', id="nan"),
            pytest.param(b"\xff\xfe", id="not-utf8"),
        ]
    ):
        before = counts(bot)
        status, answer, _ = bot.post_webhook(body)
        assert status == 400 and "error" in answer, answer
        assert counts(bot) == before


def test_webhook_headers_are_read_as_values(bot: Harness) -> None:
    for headers in cases(
        [
            {"X-Triage-Timestamp": "yesterday"},
            {"X-Triage-Timestamp": "²"},
            {"X-Triage-Signature": "v1=" + "é" * 64},
            {"X-Triage-Signature": ""},
        ]
    ):
        body = json.dumps({"text": "ok", "consent": True}).encode()
        stamp = str(int(time.time()))
        base = {
            "Content-Type": "application/json",
            "X-Triage-Timestamp": stamp,
            "X-Triage-Signature": "v1=" + "0" * 64,
        }
        status, answer = raw_post(bot, "/webhooks/verdicts", body, {**base, **headers})
        assert status == 401 and "error" in answer


def test_injected_mentions_and_links_reach_slack_as_text(bot: Harness) -> None:
    hostile = "<!channel> <!here> <@U0MANAGER> <https://evil.example|your refund> &amp; *bold*"
    status, answer, _ = bot.post_webhook(
        {"text": "Refund me " + hostile, "consent": True, "customer": "ACC-2002", "source": hostile}
    )
    assert status == 202, answer
    bot.wait_idle()
    (card,) = bot.cards()
    assert "<!channel>" not in json.dumps(card) and "&lt;!channel&gt;" in card["text"]
    assert not bot.emulator.mention_violations


def test_assign_to_someone_slack_does_not_know_changes_nothing(bot: Harness) -> None:
    card = _card(bot)
    del card
    response = bot.sender.send_command(
        "/triage", "assign 1 <@U0NOBODY|ghost>", user_id=MANAGER, channel_id=TRIAGE
    )
    assert response.status == 200 and "cannot find" in response.body
    assert _owner(bot) is None
    ok = bot.sender.send_command(
        "/triage", "assign 1 <@U0AGENT|camille>", user_id=MANAGER, channel_id=TRIAGE
    )
    assert ok.status == 200
    assert _owner(bot) == AGENT


def test_escaped_command_arguments_read_as_plain_text() -> None:
    from bot.classification.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    forms = {
        "forget <mailto:jane@example.com|jane@example.com>": "jane@example.com",
        "forget <tel:+33612345678|06 12 34 56 78>": "+33612345678",
        "forget jane@example.com": "jane@example.com",
        "forget <https://crm.example/c/42|fiche>": "https://crm.example/c/42",
    }
    for text, customer in forms.items():
        assert triage_command.parse(text, "en", taxonomy).args["customer"] == customer
    assert (
        triage_command.parse("assign 3 <@U0AGENT|camille>", "en", taxonomy).args["user"]
        == "U0AGENT"
    )
    assert (
        triage_command.parse("list owner:<@U0AGENT|c>", "en", taxonomy).args["owner"] == "U0AGENT"
    )


def test_spreadsheet_formulas_are_neutralised() -> None:
    for cell in ('=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(cell) == "'" + cell
    assert safe_cell("plain") == "plain" and safe_cell(5) == 5


def test_rejected_rows_are_neutralised_and_never_written_through_a_symlink(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    summary = importer.ImportSummary(
        rejected=[(2, "text: empty", {"text": "=cmd|'/c calc'!A1", "score": "+9"})]
    )
    written = importer.write_rejected(source, summary)
    assert written is not None
    content = written.read_text(encoding="utf-8")
    assert "'=cmd" in content and "'+9" in content
    written.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    os.symlink(victim, tmp_path / "in.rejected.csv")
    with pytest.raises(RowError, match="symbolic link"):
        importer.write_rejected(source, summary)
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_an_import_rejects_bad_rows_one_by_one(tmp_path: Path) -> None:
    from bot.intake.file_rows import column_mapping, read_rows, row_to_input

    big = "a" * 200_000
    data = (
        "text,score,received_at\n"
        '"Good row, network down",5,\n'
        f'"{big}",1,\n'
        '"odd digit",٣,\n'
        '"far date",1,9999-12-31T23:59:59-14:00\n'
        '"nul\x00",1,\n'
        '"Another good row",3,\n'
    ).encode()
    headers, rows = read_rows("x.csv", data)
    mapping = column_mapping(headers)
    outcomes = []
    for _, row in rows:
        try:
            row_to_input(row, mapping, "FR", "test")
            outcomes.append("ok")
        except RowError:
            outcomes.append("rejected")
    assert outcomes == ["ok", "rejected", "rejected", "rejected", "rejected", "ok"]
    _, jsonl = read_rows("x.jsonl", ("[" * 5000 + "\n" + '{"text": "fine"}\n').encode())
    assert [("__error__" in row) for _, row in jsonl] == [True, False]
