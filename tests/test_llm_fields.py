"""The model reads the fields the parser could not (issue 16, item 9), end to end: Slack
emulator, the bot, the local OpenAI-compatible server and a real database. Fields read fill only
what the parser left unknown, are marked "read by the model" on the card, and consent read by the
model is only ever a refusal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Case, Event, Verdict
from tests.conftest import Harness, block_text
from tests.openai_server import OpenAIStub, Recorded, reply
from tests.openai_server import classification as answer
from tests.test_case_thread import replies
from tests.test_llm_flow import first_card, start, wait_for

# An id the parser does not take for a reference (no reference word, no label), the model may.
NO_REFERENCE = (
    "Le réseau coupe tous les soirs depuis un mois, inadmissible. "
    "Vous me retrouverez sous MARTIN-4471."
)
EVERYTHING = (
    "Client : 12345678\nConsentement : oui\nStatut : ancien client\n"
    "Le réseau coupe tous les soirs depuis un mois."
)


def read_schema(recorded: Recorded) -> dict[str, Any] | None:
    """The `read` part of the structured output a request asked for (None: no fields asked)."""
    schema = recorded.body["response_format"]["json_schema"]["schema"]
    return schema["properties"].get("read")


def answering(read: dict[str, Any]) -> Callable[[Recorded], Any]:
    """A server that reads `read` (only the requested fields) when fields are asked."""

    def answer_for(recorded: Recorded) -> Any:
        data = answer("network_quality")
        part = read_schema(recorded)
        if part is not None:
            data["read"] = {name: read.get(name) for name in part["properties"]}
        return reply(data)

    return answer_for


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def events(bot: Harness, kind: str) -> list[Event]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def reclassified(bot: Harness) -> Callable[[], list[Event]]:
    return lambda: events(bot, "reclassified")


def test_a_reference_the_model_reads_is_on_the_card_marked_read_by_the_model(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"customer_reference": "MARTIN-4471", "status": "former"})
    bot = start(make_bot, stub)
    bot.post_intake(NO_REFERENCE)
    card = wait_for(
        bot, lambda: (c := first_card(bot)) and "read by the model" in block_text(c) and c
    )
    shown = block_text(card)
    assert "`MARTIN-4471` _(read by the model)_" in shown
    assert "Former customer" in shown or "former" in shown.lower()
    assert "Read by the model" in shown
    # The request asked for the unknown fields only, with the references masked as placeholders.
    [call] = stub.calls()
    part = read_schema(call)
    assert part is not None
    assert set(part["properties"]) == {"customer_reference", "status", "churned_on", "consent"}
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.customer.ref == "account:MARTIN-4471"
        assert case.customer.status == "former"
        stored = session.scalars(select(Verdict)).one().classifications[0]
        assert stored.prompt_version == "classify.v3"


def test_consent_yes_read_by_the_model_leaves_consent_not_stated(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"consent": "yes"})
    bot = start(make_bot, stub)
    bot.post_intake(NO_REFERENCE)
    wait_for(bot, reclassified(bot))
    bot.wait_idle()
    shown = block_text(first_card(bot) or {})
    assert "Consent not stated" in shown
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert verdict.consent_stated is False
    assert not events(bot, "consent_refused_by_model")


def test_consent_no_read_by_the_model_makes_the_case_no_contact(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"consent": "no"})
    bot = start(make_bot, stub)
    bot.post_intake(NO_REFERENCE)
    wait_for(bot, lambda: events(bot, "consent_refused_by_model"))
    bot.wait_idle()
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        verdict = session.scalars(select(Verdict)).one()
        assert (verdict.consent, verdict.consent_stated) == (False, True)
        assert (case.status, case.outcome) == ("resolved", "customer_declined_contact")
    card = first_card(bot)
    assert card is not None
    assert any("read a refusal" in r and "do not contact" in r for r in replies(bot, card))
    assert "Log contact" not in block_text(card)


def test_no_fields_are_requested_when_the_parser_found_everything(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"consent": "no", "customer_reference": "99999999"})
    bot = start(make_bot, stub)
    bot.post_intake(EVERYTHING)
    wait_for(bot, reclassified(bot))
    [call] = stub.calls()
    assert read_schema(call) is None
    assert "<message>" not in call.body["messages"][-1]["content"]
    assert not events(bot, "fields_read_by_model")
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.status == "open" and case.customer.ref == "account:12345678"


def test_malformed_fields_from_the_model_are_ignored_with_a_log_line(
    make_bot: Callable[..., Harness], stub: OpenAIStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.classification.field_reading")
    stub.default = answering(
        {"customer_reference": "ZZ-000999", "churned_on": "2024-13-45", "status": "maybe"}
    )
    bot = start(make_bot, stub)
    bot.post_intake(NO_REFERENCE)
    wait_for(bot, reclassified(bot))
    bot.wait_idle()
    logged = caplog.text
    assert "customer_reference (not a reference found in the message)" in logged
    assert "churned_on (not a date)" in logged
    assert "status (not current or former)" in logged
    assert "ZZ-000999" not in logged
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.customer.ref_kind == "unidentified"
        assert case.customer.status == "unknown" and case.customer.churned_on is None
    assert "read by the model" not in block_text(first_card(bot) or {})


def test_a_reference_of_another_open_case_is_a_suggestion_never_merged(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = answering({"customer_reference": "MARTIN-4471"})
    bot = start(make_bot, stub)
    bot.post_intake("Client : MARTIN-4471\nConsentement : oui\nLa facture a encore augmenté.")
    wait_for(bot, reclassified(bot))
    bot.post_intake(NO_REFERENCE)
    wait_for(bot, lambda: events(bot, "fields_read_by_model"))
    bot.wait_idle()
    with bot.rt.factory() as session:
        first, second = session.scalars(select(Case).order_by(Case.id))
        assert second.customer.ref_kind == "unidentified"  # not merged
        assert first.customer.ref == "account:MARTIN-4471"
        first_id = first.id
    texts = [block_text(c) for c in bot.cards()]
    assert any(
        f"belongs to open case #{first_id}" in t and "Not merged" in t and "`MARTIN-4471`" in t
        for t in texts
    )
