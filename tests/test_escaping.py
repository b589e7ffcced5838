"""Every message the bot sends, rendered from data full of `<!channel>`, `<@U…>`, `<http…|…>`,
`&` and `*` (issue 19): cards and their fallback text, thread replies, modals, App Home, the
/triage answers, DMs and the digest. Nothing special reaches Slack: the emulator records every
special mention, unknown person and foreign link in what it is sent (`strict_mentions`), and
the test fails on any."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.cases.card import CONTACT_ACTION, MORE_ACTION, NOTE_ACTION, RESOLVE_ACTION
from bot.slack.blocks import escape, unescape_command
from tests.conftest import AGENT, MANAGER, TRIAGE, Harness
from tests.test_case_thread import form, submit

HOSTILE = (
    "<!channel> <!here> <!everyone> <!subteam^S0ALL> <@U123> <#C0SECRET> "
    "<https://evil.example|your refund> <mailto:x@evil.example|support> &amp; *bold* _it_ "
)
DIGESTS = "C0DIGEST"


def everything_sent(bot: Harness) -> str:
    """Every API call's parameters the bot made, and every response_url post, as one text."""
    calls = [c.params for c in bot.emulator.calls]
    return json.dumps(calls, ensure_ascii=False)


def test_escape_and_unescape() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert unescape_command("a &amp; b &lt;x&gt;") == "a & b <x>"


def test_every_message_built_from_hostile_text_is_inert(
    make_bot: Callable[..., Harness],
) -> None:
    bot = make_bot(
        digests=[{"name": "weekly", "channel": DIGESTS, "schedule": "0 8 * * 1", "period": "week"}]
    )
    bot.emulator.add_channel(DIGESTS, "churn-digests")
    status, answer, _ = bot.post_webhook(
        {
            "text": "Network down, I left. " + HOSTILE,
            "consent": True,
            "customer": "ACC-3003",
            "source": HOSTILE[:200],
        }
    )
    assert status == 202, answer
    bot.wait_idle()
    (card,) = bot.cards()
    assert "&lt;!channel&gt;" in card["text"]  # the notification text is escaped too

    # People's words: a note, a contact attempt's note, an escalation reason, a resolution.
    submit(bot, form(bot, card, NOTE_ACTION, AGENT), AGENT, {"note": "Note " + HOSTILE})
    submit(
        bot,
        form(bot, card, CONTACT_ACTION, AGENT),
        AGENT,
        {"channel": "phone", "outcome": "no_answer", "note": "Tried " + HOSTILE},
    )
    escalate = form(bot, card, MORE_ACTION, AGENT, option="escalate:1")
    submit(bot, escalate, AGENT, {"reason": "Escalating " + HOSTILE})
    submit(
        bot,
        form(bot, card, RESOLVE_ACTION, AGENT),
        AGENT,
        {"outcome": "apology_given", "summary": "Done " + HOSTILE},
    )
    # Managers' commands: list, show, a customer that does not exist, an unknown command.
    for text in ("list all", "show 1", "forget " + HOSTILE, HOSTILE, "digest now"):
        response = bot.sender.send_command("/triage", text, user_id=MANAGER, channel_id=TRIAGE)
        assert response.status == 200
        assert "<!channel>" not in response.body and "<@U123>" not in response.body
    # App Home.
    bot.sender.send_event(bot.emulator.app_home_opened(AGENT))
    bot.wait_idle()

    sent = everything_sent(bot)
    assert "Network down" in sent and "Done " in sent
    for raw in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example"):
        assert raw not in sent, raw
    assert not bot.emulator.mention_violations, bot.emulator.mention_violations
