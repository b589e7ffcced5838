"""`/triage` through signed slash-command requests (form-encoded, as Slack sends them)."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.cases import actions as case_actions
from bot.cases.card import CLAIM_ACTION
from bot.cases.views import LIST_MORE_ACTION
from storage.db import transaction
from storage.models import Case, Customer, Event, Verdict, VerdictCount
from tests.conftest import AGENT, AGENT2, MANAGER, TRIAGE, Harness, block_text


def run(bot: Harness, text: str, user: str = MANAGER) -> tuple[str, list[dict[str, Any]]]:
    """Type `/triage text`; returns the immediate answer and what came through response_url."""
    url = bot.emulator.new_response_url(TRIAGE, user)
    before = len(bot.emulator.responses())
    response = bot.sender.send_command(
        "/triage", text, user_id=user, channel_id=TRIAGE, response_url=url
    )
    assert response.status == 200
    # An empty ack means the answer follows through response_url.
    deadline = time.monotonic() + 10
    answers = bot.emulator.responses()[before:]
    while not answers and not response.body.strip() and time.monotonic() < deadline:
        time.sleep(0.05)
        answers = bot.emulator.responses()[before:]
    return response.body, [a.payload for a in answers]


def seed(bot: Harness, n: int, **fields: Any) -> None:
    for i in range(n):
        status, body, _ = bot.post_webhook(
            {
                "text": f"The bill doubled again ({i}).",
                "customer": f"ACC-{i:04d}",
                "consent": True,
                **fields,
            }
        )
        assert status == 202, body
    bot.wait_idle()


def test_help_unknown_and_bad_arguments_are_answered_at_once(bot: Harness) -> None:
    assert "what you can ask" in run(bot, "")[0]
    assert "I don't know `/triage frobnicate`" in run(bot, "frobnicate")[0]
    assert "`abc` is not a case number" in run(bot, "show abc")[0]
    assert "`3x` is not a period" in run(bot, "stats 3x")[0]
    assert "`nobody` is not a person" in run(bot, "assign 1 nobody")[0]
    assert "`pricing` is not a reason" in run(bot, "list reason:pricing")[0]
    assert "Usage: `/triage assign CASE @user`" in run(bot, "assign 1")[0]


def test_manager_commands_refuse_others_politely_and_change_nothing(bot: Harness) -> None:
    seed(bot, 1)
    body, _ = run(bot, f"assign 1 <@{AGENT2}|dominique>", user=AGENT)
    assert "Only managers can use `/triage assign`. Managers: <@U0MANAGER>" in body
    assert "Only managers can use `/triage export`" in run(bot, "export 7d", user=AGENT)[0]
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().owner_id is None


def test_assign_records_notifies_and_refreshes(bot: Harness) -> None:
    seed(bot, 1)
    body, _ = run(bot, f"assign #1 <@{AGENT2}|dominique>")
    assert "assigned the case to <@U0AGENT2>" in body
    bot.wait_idle()
    assert any("You were assigned case #1" in m["text"] for m in bot.emulator.dm_messages(AGENT2))
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().owner_id == AGENT2
        assert [e.kind for e in session.scalars(select(Event).where(Event.kind == "assigned"))] == [
            "assigned"
        ]
    assert "I can't find that case" in run(bot, f"assign 99 <@{AGENT2}>")[0]


def test_list_pages_with_links_and_more(bot: Harness) -> None:
    seed(bot, 12)
    card = bot.cards()[0]
    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    _, answers = run(bot, "list open")
    page = answers[0]
    text = block_text(page)
    assert "Cases 1–10 of 12" in text
    assert "https://" in text and "/archives/C0TRIAGE/p" in text
    more = [
        e
        for b in page["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == LIST_MORE_ACTION
    ]
    assert more
    _, mine = run(bot, "list mine", user=AGENT)
    assert "Cases 1–1 of 1" in block_text(mine[0])
    _, unassigned = run(bot, "list unassigned since:7d reason:price_billing")
    assert "of 11" in block_text(unassigned[0])


def test_more_button_fetches_the_next_page(bot: Harness) -> None:
    seed(bot, 12)
    _, answers = run(bot, "list")
    value = next(
        e["value"]
        for b in answers[0]["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == LIST_MORE_ACTION
    )
    url = bot.emulator.new_response_url(TRIAGE, MANAGER)
    payload = {
        "type": "block_actions",
        "user": {"id": MANAGER, "username": "sam", "name": "sam", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "verification-token",
        "container": {
            "type": "message",
            "message_ts": "1.1",
            "channel_id": TRIAGE,
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        "team": {"id": "T0TEAM", "domain": "sandbox"},
        "channel": {"id": TRIAGE, "name": "churn-triage"},
        "response_url": url,
        "actions": [
            {
                "action_id": LIST_MORE_ACTION,
                "block_id": "triage_list",
                "value": value,
                "type": "button",
                "action_ts": "1",
            }
        ],
    }
    before = len(bot.emulator.responses())
    assert bot.sender.send_interactivity(payload).status == 200
    assert "Cases 11–12 of 12" in block_text(bot.emulator.responses()[before].payload)


def test_show_a_case_privately(bot: Harness) -> None:
    seed(bot, 1)
    _, answers = run(bot, "show 1", user=AGENT)
    assert "Case #1" in block_text(answers[0]) and "The bill doubled again" in block_text(
        answers[0]
    )
    _, missing = run(bot, "show 42", user=AGENT)
    assert "There is no case #42" in block_text(missing[0])


def test_stats_figures(bot: Harness) -> None:
    now = datetime.now(UTC)
    old = (now - timedelta(days=45)).isoformat()
    seed(bot, 3)  # price, this period
    for i in range(2):
        bot.post_webhook(
            {"text": f"No network signal at home ({i}).", "customer": f"NET-{i}", "consent": True}
        )
    for i in range(4):
        bot.post_webhook(
            {
                "text": f"No network signal at home, before ({i}).",
                "customer": f"OLD-{i}",
                "consent": True,
                "received_at": old,
            }
        )
    for i in range(3):  # surveyed three times: fatigued on surveys alone (threshold 2)
        bot.post_webhook({"text": f"Still no refund ({i}).", "customer": "FAT-1", "consent": True})
    for i in range(2):  # twice, plus a call below: pushed over the threshold by the contact
        bot.post_webhook({"text": f"Coverage is bad ({i}).", "customer": "FAT-2", "consent": True})
    bot.wait_idle()
    with bot.rt.factory() as session:
        fat2 = (
            session.scalars(select(Case).join(Case.customer).where(Customer.ref == "account:FAT-2"))
            .one()
            .id
        )
    with transaction(bot.rt.factory) as session:
        case_actions.log_contact(
            session, fat2, bot.rt.actor(AGENT2), "phone", "no_answer", None, None
        )
    bot.wait_idle()
    bot.click(bot.cards()[0]["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    _, answers = run(bot, "stats 30d")
    text = block_text(answers[0])
    assert "Triage stats, last 30 days" in text
    assert "Price and billing: *6* (+6)" in text
    assert "Network quality: *4* (0)" in text  # 2 + FAT-2's 2 now, the 4 old ones before
    assert "Cases opened: *11*" in text
    assert "Customers with survey fatigue: *2*" in text
    assert "Overdue now: *0*" in text
    assert "<@U0AGENT> 1" in text and "<@U0AGENT2> 1" in text


def test_export_is_a_csv_in_the_managers_dm(make_bot: Any) -> None:
    bot = make_bot(contact={"mask_reference": True})
    seed(bot, 2)
    _, answers = run(bot, "export all")
    assert "The export is in your DM" in block_text(answers[0])
    uploads = bot.emulator.calls_to("files.completeUploadExternal")
    assert len(uploads) == 1
    file_id = uploads[0].params["files"][0]["id"]
    rows = list(csv.DictReader(io.StringIO((bot.emulator.file_bytes(file_id) or b"").decode())))
    assert len(rows) == 2
    assert (
        rows[0]["customer"].startswith("ACC") and "*" in rows[0]["customer"]
    )  # masked as configured
    assert rows[0]["primary_reason"] == "price_billing"
    assert bot.emulator.dm_messages(MANAGER)


def test_config_shows_the_policy(bot: Harness) -> None:
    body, _ = run(bot, "config", user=AGENT)
    assert "business hours:  Mon-Fri 09:00-18:00" in body and "deadline:" in body


def test_forget_a_customer_after_confirmation(bot: Harness) -> None:
    status, _, _ = bot.post_webhook(
        {
            "text": "Je suis joignable au 06 12 34 56 78, le SAV a gardé mon téléphone.",
            "email": "lea@example.fr",
            "consent": True,
        }
    )
    assert status == 202
    bot.wait_idle()
    with bot.rt.factory() as session:
        before = session.execute(select(VerdictCount.reason, VerdictCount.n)).all()
    assert (
        "Only managers can use `/triage forget`" in run(bot, "forget lea@example.fr", user=AGENT)[0]
    )
    _, answers = run(bot, "forget nobody@example.fr")
    assert "I know no customer by `nobody@example.fr`" in block_text(answers[0])

    url = bot.emulator.new_response_url(TRIAGE, MANAGER)
    bot.sender.send_command(
        "/triage", "forget lea@example.fr", user_id=MANAGER, channel_id=TRIAGE, response_url=url
    )
    deadline = time.monotonic() + 10
    while not bot.emulator.opened_views() and time.monotonic() < deadline:
        time.sleep(0.05)
    view = bot.emulator.opened_views()[-1]
    assert "This cannot be undone" in block_text(view)
    assert (
        bot.sender.send_interactivity(bot.emulator.view_submission(view["id"], MANAGER, {})).status
        == 200
    )
    bot.wait_idle()
    assert any("was forgotten" in m["text"] for m in bot.emulator.dm_messages(MANAGER))
    everything = str([bot.emulator.channel_messages(c) for c in (TRIAGE,)]) + str(
        [bot.emulator.thread(TRIAGE, m["ts"]) for m in bot.emulator.channel_messages(TRIAGE)]
    )
    assert (
        "lea@example.fr" not in everything
        and "SAV a gardé" not in everything
        and "56 78" not in everything
    )
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert (
            "SAV a gardé" not in verdict.text
            and "lea@example.fr" not in session.scalars(select(Customer)).one().ref
        )
        assert session.execute(select(VerdictCount.reason, VerdictCount.n)).all() == before
        assert (
            session.scalars(select(Event).where(Event.kind == "customer_forgotten")).first()
            is not None
        )


def test_digest_now_posts_or_says_why_not(make_bot: Any) -> None:
    bot = make_bot()
    _, answers = run(bot, "digest now")
    assert "digest" in block_text(answers[0]).lower() and "config" in block_text(answers[0]).lower()


def test_digest_now_posts_the_configured_digest(make_bot: Any) -> None:
    bot = make_bot(
        digests=[{"name": "daily", "channel": TRIAGE, "schedule": "30 9 * * 1-5", "period": "day"}]
    )
    seed(bot, 2)
    assert "Only managers can use `/triage digest`" in run(bot, "digest now", user=AGENT)[0]
    before = len(bot.emulator.channel_messages(TRIAGE))
    _, answers = run(bot, "digest now")
    assert answers and "daily" in block_text(answers[0])
    bot.wait_idle()
    assert len(bot.emulator.channel_messages(TRIAGE)) == before + 1
