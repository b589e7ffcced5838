"""Intake from every source, over its real protocol: one case per customer, consent respected."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import func, select

from bot.cases.card import CLAIM_ACTION
from bot.intake.shortcut_view import SEND_TO_TRIAGE_VIEW
from storage.models import Case, Customer, CustomerRef, Event, Verdict
from tests.conftest import AGENT, ANALYST, INTAKE, TRIAGE, Harness, block_text

WEB_SURVEY = (
    "Client : jean.martin@example.fr\n"
    "Statut : ancien client\n"
    "Date de résiliation : 02/07/2026\n"
    "Canal : web\n"
    "Institut : Institut Opinia\n"
    "NPS : 2\n"
    "Consentement : oui\n"
    "Mon téléphone est reparti trois fois au SAV et à chaque appel la procédure avait changé."
)
PHONE_SUMMARY = (
    "Phone survey by Institute Veritel, 20 minutes. The customer, a former subscriber since July, "
    "repeated what he said in the web survey: the phone went back to repair three times and nobody "
    "called him back. He agreed to have his answers forwarded."
)


def count(bot: Harness, model: type) -> int:
    with bot.rt.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_story_two_institutes_two_sources_one_case(bot: Harness) -> None:
    # Institute A's tool posts the web exit survey in the intake channel ...
    event = bot.emulator.post_as_user(INTAKE, "U0SURVEY", WEB_SURVEY, bot_id="B0SURVEY")
    assert bot.sender.send_event(event).status == 200
    bot.wait_idle()
    # ... and institute B sends its phone survey summary through the webhook.
    status, body, _ = bot.post_webhook(
        {
            "text": PHONE_SUMMARY,
            "email": "Jean.Martin@example.fr",
            "consent": True,
            "channel": "phone",
            "id": "veritel-981",
        }
    )
    assert status == 202, body
    assert body["results"][0]["outcome"] == "joined"
    bot.wait_idle()

    cards = bot.cards()
    assert len(cards) == 1
    card = block_text(cards[0])
    assert "Verdicts (2)" in card
    assert "trois fois au SAV" in card and "Institute Veritel" in card
    assert "former customer (since 2026-07-02)" in card
    assert "Institut Opinia" in card
    thread = bot.emulator.thread(TRIAGE, cards[0]["ts"])
    assert (
        len(thread) == 1
        and "Verdict #2 joined this case: phone · Institute Veritel" in thread[0]["text"]
    )
    with bot.rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        customer = session.scalars(select(Customer)).one()
        assert customer.status == "former"


def test_shared_message_and_survey_bot_blocks_are_read(bot: Harness) -> None:
    shared = bot.emulator.post_as_user(
        INTAKE,
        ANALYST,
        "FYI, from the complaints inbox",
        attachments=[
            {
                "is_share": True,
                "author_name": "Complaints",
                "text": "Customer: +33 6 98 76 54 32\nMy bill doubled and the refund never came. I am leaving.",
                "fallback": "[November 26th] Complaints: My bill doubled",
            }
        ],
    )
    tool = bot.emulator.post_as_user(
        INTAKE,
        "U0SURVEY",
        "New NPS response",
        bot_id="B0SURVEY",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*New detractor*"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "Customer: acct-7781"},
                    {"type": "mrkdwn", "text": "Score: 1"},
                    {
                        "type": "mrkdwn",
                        "text": "Comment: No signal at home since the mast work, the network is useless.",
                    },
                ],
            },
        ],
    )
    assert bot.sender.send_event(shared).status == 200
    assert bot.sender.send_event(tool).status == 200
    bot.wait_idle()
    with bot.rt.factory() as session:
        verdicts = {v.customer.ref: v for v in session.scalars(select(Verdict))}
    assert set(verdicts) == {"phone:+33698765432", "account:ACCT-7781"}
    assert "refund never came" in verdicts["phone:+33698765432"].text
    assert verdicts["account:ACCT-7781"].score == 1


def test_edit_before_work_updates_and_after_work_is_noted(bot: Harness) -> None:
    event = bot.post_intake("Customer: anna@example.com\nThe app crashes all the time.")
    bot.wait_idle()
    edit = bot.emulator.edit_as_user(
        INTAKE,
        event["ts"],
        "Customer: anna@example.com\nMy bill is wrong again, I was overcharged.",
    )
    assert bot.sender.send_event(edit).status == 200
    bot.wait_idle()
    card = bot.cards()[0]
    assert "overcharged" in block_text(card) and "crashes" not in block_text(card)
    assert "Price and billing" in block_text(card)
    assert "edited" in block_text(card)

    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    late = bot.emulator.edit_as_user(
        INTAKE, event["ts"], "Customer: anna@example.com\nActually all is fine."
    )
    bot.sender.send_event(late)
    bot.wait_idle()
    assert "overcharged" in block_text(bot.emulator.message(TRIAGE, card["ts"]) or {})
    replies = [m["text"] for m in bot.emulator.thread(TRIAGE, card["ts"])]
    assert any("edited after work started" in r for r in replies)

    deletion = bot.emulator.delete_as_user(INTAKE, event["ts"])
    bot.sender.send_event(deletion)
    bot.wait_idle()
    replies = [m["text"] for m in bot.emulator.thread(TRIAGE, card["ts"])]
    assert any("was deleted in Slack" in r for r in replies)
    assert "deleted in Slack" in block_text(bot.emulator.message(TRIAGE, card["ts"]) or {})
    with bot.rt.factory() as session:
        assert session.scalars(select(Verdict)).one().deleted_at is not None  # kept, not erased
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert kinds == [
        "opened",
        "classified",
        "verdict_edited",
        "claimed",
        "edit_ignored",
        "verdict_deleted",
    ]


def test_shortcut_opens_a_prefilled_form_and_submitting_opens_the_case(bot: Harness) -> None:
    bot.emulator.add_channel("C0SUPPORT", "support")
    message = bot.emulator.post_as_user(
        "C0SUPPORT",
        ANALYST,
        "Customer: paul@example.com\nStatus: former\nScore: 3\nCanceled after the third outage.",
    )
    payload = bot.emulator.message_shortcut("C0SUPPORT", message["ts"], AGENT, "send_to_triage")
    assert bot.sender.send_interactivity(payload).status == 200
    views = bot.emulator.opened_views()
    assert len(views) == 1
    view = views[0]
    assert view["callback_id"] == SEND_TO_TRIAGE_VIEW
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["ref"]["initial_value"] == "paul@example.com"
    assert inputs["status"]["initial_option"]["value"] == "former"
    assert inputs["score"]["initial_value"] == "3"

    bad = bot.emulator.view_submission(
        view["id"], AGENT, {"score": {"value": "eleven"}, "consent": {"value": "yes"}}
    )
    response = bot.sender.send_interactivity(bad)
    assert response.status == 200
    assert response.json()["response_action"] == "errors"
    assert "score" in response.json()["errors"]
    assert count(bot, Verdict) == 0

    good = bot.emulator.view_submission(
        view["id"],
        AGENT,
        {
            "ref": {"value": "paul@example.com"},
            "status": {"value": "former"},
            "channel": {"value": "email"},
            "score": {"value": "3"},
            "consent": {"value": "yes"},
            "source": {"value": "Support inbox"},
        },
    )
    assert bot.sender.send_interactivity(good).status == 200
    bot.wait_idle()
    assert len(bot.cards()) == 1
    notes = bot.emulator.ephemerals("C0SUPPORT", AGENT)
    assert len(notes) == 1 and "Case #1 is here: https://" in notes[0]["text"]
    # Submitting the same form again (a double click) changes nothing.
    assert bot.sender.send_interactivity(good).status == 200
    bot.wait_idle()
    assert count(bot, Verdict) == 1 and len(bot.cards()) == 1


def test_shortcut_on_an_intake_message_already_triaged_links_to_its_case(bot: Harness) -> None:
    event = bot.post_intake("Customer: lea@example.com\nToo expensive for what it is.")
    bot.wait_idle()
    payload = bot.emulator.message_shortcut(INTAKE, event["ts"], AGENT, "send_to_triage")
    bot.sender.send_interactivity(payload)
    view = bot.emulator.opened_views()[0]
    bot.sender.send_interactivity(
        bot.emulator.view_submission(view["id"], AGENT, {"consent": {"value": "yes"}})
    )
    bot.wait_idle()
    notes = bot.emulator.ephemerals(INTAKE, AGENT)
    assert "already in case #1" in notes[-1]["text"]
    assert count(bot, Verdict) == 1


def test_webhook_batch_validation_is_all_or_nothing(bot: Harness) -> None:
    status, body, _ = bot.post_webhook(
        {
            "verdicts": [
                {"text": "Great network, bad prices.", "customer": "ACC-1001", "consent": True},
                {"text": "", "customer": "ACC-1002", "consent": True},
                {"text": "No follow-up", "phone": "12", "consent": True},
                {"text": "Fine", "consent": "maybe", "colour": "red"},
            ]
        }
    )
    assert status == 400
    problems = {(e["item"], e["field"]) for e in body["errors"]}
    assert (1, "text") in problems and (3, "consent") in problems and (3, "colour") in problems
    assert count(bot, Verdict) == 0
    status, body, _ = bot.post_webhook(
        {"verdicts": [{"text": "No follow-up", "phone": "12", "consent": True}]}
    )
    assert status == 400 and body["errors"][0]["field"] == "phone"
    assert count(bot, Verdict) == 0


def test_webhook_accepts_batches_and_redelivery_changes_nothing(bot: Harness) -> None:
    batch = {
        "verdicts": [
            {
                "id": "r1",
                "text": "The bill went up without notice.",
                "customer": "ACC-1001",
                "consent": True,
                "score": 2,
            },
            {
                "id": "r2",
                "text": "Network drops every evening.",
                "customer": "ACC-1002",
                "consent": True,
            },
            {
                "id": "r3",
                "text": "Not interested in calls.",
                "customer": "ACC-1003",
                "consent": False,
            },
        ]
    }
    status, body, _ = bot.post_webhook(batch, headers={"Idempotency-Key": "delivery-1"})
    assert status == 202
    assert [r["outcome"] for r in body["results"]] == ["opened", "opened", "no_consent"]
    again_status, again, headers = bot.post_webhook(
        batch, headers={"Idempotency-Key": "delivery-1"}
    )
    assert (again_status, again) == (202, body) and headers.get("Idempotent-Replayed") == "true"
    # The same ids without the key (an institute's retry): recognised per verdict.
    status, third, _ = bot.post_webhook(batch)
    assert [r["outcome"] for r in third["results"]] == ["duplicate", "duplicate", "duplicate"]
    status, conflict, _ = bot.post_webhook(
        {"text": "other", "consent": True}, headers={"Idempotency-Key": "delivery-1"}
    )
    assert status == 422 and "already used for a different body" in conflict["error"]
    bot.wait_idle()
    assert count(bot, Verdict) == 3 and count(bot, Case) == 2 and len(bot.cards()) == 2


def test_webhook_refuses_bad_signatures_stale_requests_and_oversized_bodies(bot: Harness) -> None:
    verdict = {"text": "Bad service", "customer": "ACC-9", "consent": True}
    assert bot.post_webhook(verdict, secret="wrong")[0] == 401
    assert bot.post_webhook(verdict, timestamp=int(time.time()) - 301)[0] == 401
    status, body, _ = bot.post_webhook(b"{not json")
    assert status == 400 and "invalid JSON" in body["error"]
    big = {"verdicts": [{"text": "x" * 19_000, "consent": True}] * 60}
    assert bot.post_webhook(big)[0] == 413
    assert count(bot, Verdict) == 0


def test_webhook_schema_is_published_and_matches_the_file(bot: Harness) -> None:
    import urllib.request

    with urllib.request.urlopen(
        bot.server.url + "/webhooks/verdicts/schema", timeout=5
    ) as response:
        served = json.loads(response.read())
    shipped = json.loads(
        (
            Path(__file__).resolve().parent.parent / "schemas" / "webhook-verdicts.schema.json"
        ).read_text()
    )
    assert served == shipped
    assert "consent" in served["$defs"]["WebhookVerdict"]["required"]


def test_without_consent_no_case_and_no_personal_data(bot: Harness) -> None:
    status, body, _ = bot.post_webhook(
        {
            "text": "Call me at 06 12 34 56 78 or marc@example.com, account ACC-5521: prices are too high.",
            "email": "marc@example.com",
            "consent": False,
        }
    )
    assert status == 202 and body["results"][0]["outcome"] == "no_consent"
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert (
            "marc@example.com" not in verdict.text
            and "06 12" not in verdict.text
            and "ACC-5521" not in verdict.text
        )
        assert "prices are too high" in verdict.text
        assert session.scalar(select(func.count()).select_from(CustomerRef)) == 0
        assert verdict.classifications[0].primary_reason == "price_billing"  # still counted
    assert count(bot, Case) == 0


def test_survey_fatigue_and_earlier_cases_on_the_card(bot: Harness) -> None:
    for n in range(3):
        bot.post_webhook(
            {"text": f"Survey {n}: the network is bad.", "customer": "ACC-42", "consent": True}
        )
    bot.wait_idle()
    assert "Survey fatigue: surveyed 3 times in 90 days" in block_text(bot.cards()[0])
    with bot.rt.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        case.status, case.outcome = "resolved", "problem_fixed"
    bot.post_webhook({"text": "Still no network.", "customer": "ACC-42", "consent": True})
    bot.wait_idle()
    newest = bot.cards()[-1]
    assert "Case #2" in block_text(newest) and "Earlier cases: #1 (Resolved)" in block_text(newest)


def test_customer_known_by_several_references_is_one_customer(bot: Harness) -> None:
    bot.post_webhook(
        {
            "text": "Bad service.",
            "email": "zoe@example.com",
            "phone": "+33 6 11 22 33 44",
            "consent": True,
        }
    )
    bot.post_webhook({"text": "Still bad.", "phone": "06 11 22 33 44", "consent": True})
    bot.wait_idle()
    assert count(bot, Case) == 1 and count(bot, Customer) == 1
