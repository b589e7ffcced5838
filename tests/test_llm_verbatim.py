"""A message in which the parser found no verbatim, read by the model (issue 16, item 9), end to
end: signed Slack events, the Slack emulator, the bot, the local OpenAI-compatible server and a
real database. A verbatim the model reads opens the case as if the parser had found it, marked
"read by the model"; otherwise, and when the LLM stays down, the person hears "Nothing to triage"
once. Without an LLM nothing changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from bot.intake import model_reading
from bot.intake.parsing import parse_verdict
from bot.runtime.clock import ManualClock
from storage.models import Case, Classification, InboundEvent, Verdict
from tests.conftest import INTAKE, Harness, block_text
from tests.openai_server import OpenAIStub, error
from tests.test_llm_fields import answering, read_schema
from tests.test_llm_flow import expire_backoff, first_card, start, wait_for

WORDS = "Trop cher !"  # too short to tell from a code: the parser leaves it
# Label lines the parser does not know, and the customer's words under an unknown question.
MESSAGE = f"Zorglub : oui\nFrobnitz : 4\nQ12 : {WORDS}"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def test_the_parser_finds_no_verbatim_in_the_message() -> None:
    # The premise of every test below: if the parser learns to read this message, pick another.
    assert parse_verdict(MESSAGE).text == ""


def acknowledgements(bot: Harness, event: dict[str, Any]) -> list[str]:
    """The bot's replies in the intake thread of a posted message."""
    return [str(m.get("text", "")) for m in bot.emulator.thread(INTAKE, event["ts"])]


def reading_jobs(bot: Harness) -> list[InboundEvent]:
    with bot.rt.factory() as session:
        query = select(InboundEvent).where(InboundEvent.kind == model_reading.JOB_KIND)
        return list(session.scalars(query.order_by(InboundEvent.id)))


def failed_attempt(bot: Harness, n: int) -> list[InboundEvent]:
    """The reading job, once its attempt `n` has failed."""
    return [j for j in reading_jobs(bot) if (j.last_error or "").startswith(f"attempt {n}:")]


def cases(bot: Harness) -> list[Case]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Case)))


def test_a_verbatim_the_model_reads_opens_a_case_marked_read_by_the_model(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"verbatim": WORDS})
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    wait_for(bot, lambda: first_card(bot))
    bot.wait_idle()
    shown = block_text(first_card(bot) or {})
    assert "Read by the model" in shown and "the customer's words" in shown
    assert WORDS in shown
    assert "Consent not stated" in shown  # the model read no consent: unknown, never yes
    [ack] = acknowledgements(bot, event)
    assert "Case #" in ack and "opened" in ack
    assert "the model read it" in ack and WORDS in ack
    assert "Nothing to triage" not in ack
    # One call: the fields and the classification together; the verbatim was asked for.
    [call] = stub.calls()
    part = read_schema(call)
    assert part is not None and "verbatim" in part["properties"]
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert verdict.text == WORDS and verdict.consent_stated is False
        [row] = session.scalars(select(Classification))
        assert (row.backend, row.prompt_version, row.provisional) == ("llm", "classify.v3", False)
    assert [j.status for j in reading_jobs(bot)] == ["done"]


@pytest.mark.parametrize(
    "read",
    [{"verbatim": None}, {"verbatim": "Service parfait, je recommande à tous mes amis."}],
    ids=["no verbatim", "words that are not in the message"],
)
def test_no_verbatim_read_gives_one_nothing_to_triage(
    make_bot: Callable[..., Harness],
    stub: OpenAIStub,
    read: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.classification.field_reading")
    stub.default = answering(read)
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    wait_for(bot, lambda: acknowledgements(bot, event))
    bot.wait_idle()
    [ack] = acknowledgements(bot, event)
    assert "Nothing to triage" in ack and "> Zorglub : oui" in ack
    assert cases(bot) == [] and bot.cards() == []
    assert len(stub.calls()) == 1
    if read["verbatim"]:
        assert "verbatim (not text of the message)" in caplog.text
        assert "recommande" not in caplog.text  # the field is named, never its value


def test_a_refusal_the_model_reads_with_the_verbatim_opens_no_contactable_case(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"verbatim": WORDS, "consent": "no"})
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    wait_for(bot, lambda: acknowledgements(bot, event))
    bot.wait_idle()
    assert cases(bot) == [] and bot.cards() == []
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert (verdict.consent, verdict.consent_stated) == (False, True)
    [ack] = acknowledgements(bot, event)
    assert "no case opened" in ack and "consent no" in ack


def test_llm_down_then_up_opens_the_case_once(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = error(500, retry_after=0.01)
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    [job] = wait_for(bot, lambda: [j for j in reading_jobs(bot) if j.last_error])
    assert job.status == "pending" and "server_error" in (job.last_error or "")
    assert job.lease_until is not None
    assert job.lease_until > datetime.now(UTC) + timedelta(seconds=20)  # backoff, not a spin
    assert acknowledgements(bot, event) == [] and cases(bot) == []  # nothing said yet

    stub.default = answering({"verbatim": WORDS})
    expire_backoff(bot)
    wait_for(bot, lambda: first_card(bot))
    bot.wait_idle()
    assert len(cases(bot)) == 1 and len(bot.cards()) == 1
    [ack] = acknowledgements(bot, event)
    assert "opened" in ack and "Nothing to triage" not in ack
    [job] = reading_jobs(bot)
    assert (job.status, job.attempts) == ("done", 2)
    # Done once: a later pass, even hours later, finds nothing to do.
    rt = bot.rt
    assert rt.llm is not None
    later = ManualClock(datetime.now(UTC) + timedelta(hours=3))
    done = model_reading.process_read_jobs(
        rt.factory, rt.llm, rt.classifier, rt.settings.team, later
    )
    assert done == 0 and len(acknowledgements(bot, event)) == 1


def test_llm_down_past_the_retry_policy_gives_one_nothing_to_triage(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = error(500, retry_after=0.01)
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    for attempt in range(1, model_reading.MAX_ATTEMPTS + 1):
        wait_for(bot, partial(failed_attempt, bot, attempt))
        if attempt < model_reading.MAX_ATTEMPTS:
            assert acknowledgements(bot, event) == []  # still waiting for the model
            expire_backoff(bot)
    wait_for(bot, lambda: acknowledgements(bot, event))
    bot.wait_idle()
    [job] = reading_jobs(bot)
    assert job.status == "failed"
    [ack] = acknowledgements(bot, event)
    assert "Nothing to triage" in ack and "> Zorglub : oui" in ack
    assert cases(bot) == []


def test_offline_nothing_changes_nothing_to_triage_at_once(bot: Harness) -> None:
    event = bot.post_intake(MESSAGE)
    bot.wait_idle()
    [ack] = acknowledgements(bot, event)
    assert "Nothing to triage" in ack and "> Zorglub : oui" in ack
    assert reading_jobs(bot) == [] and cases(bot) == []


def test_a_message_with_only_labels_it_read_is_not_sent_to_the_model(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"verbatim": None})
    bot = start(make_bot, stub)
    event = bot.post_intake("Client : 12345678\nConsentement : oui")
    bot.wait_idle()
    [ack] = acknowledgements(bot, event)
    assert "Nothing to triage" in ack
    assert stub.calls() == [] and reading_jobs(bot) == []


def posted_while_the_llm_fails(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> tuple[Harness, dict[str, Any]]:
    """The bot, and MESSAGE posted while the LLM answers 500: its reading job has failed once."""
    stub.default = error(500, retry_after=0.01)
    bot = start(make_bot, stub)
    event = bot.post_intake(MESSAGE)
    wait_for(bot, lambda: [j for j in reading_jobs(bot) if j.last_error])
    return bot, event


def test_a_message_deleted_before_the_model_read_it_opens_nothing(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    bot, event = posted_while_the_llm_fails(make_bot, stub)
    assert bot.sender.send_event(bot.emulator.delete_as_user(INTAKE, event["ts"])).status == 200
    wait_for(bot, lambda: [j for j in reading_jobs(bot) if j.status == "done"])
    stub.default = answering({"verbatim": WORDS})
    expire_backoff(bot)
    bot.wait_idle()
    assert cases(bot) == [] and acknowledgements(bot, event) == []
    assert len(stub.calls()) == 2  # the one failed attempt (with the SDK's retry): no more


def test_an_edit_that_gives_the_verbatim_first_is_taken_once(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    bot, event = posted_while_the_llm_fails(make_bot, stub)
    edited = bot.emulator.edit_as_user(INTAKE, event["ts"], f"Consentement : oui\n{WORDS}")
    stub.default = answering({"verbatim": WORDS})
    assert bot.sender.send_event(edited).status == 200
    wait_for(bot, lambda: first_card(bot))
    expire_backoff(bot)
    wait_for(bot, lambda: [j for j in reading_jobs(bot) if j.status == "done"])
    bot.wait_idle()
    assert len(cases(bot)) == 1 and len(bot.cards()) == 1
    [ack] = acknowledgements(bot, event)
    assert "opened" in ack and "the model read it" not in ack
    reads = [
        c for c in stub.calls() if (read_schema(c) or {}).get("properties", {}).get("verbatim")
    ]
    assert len(reads) == 2  # the failed attempt only: the job found the verdict and stopped
