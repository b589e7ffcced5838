"""The LLM in the whole loop, over real HTTP: Slack emulator, the bot, a local OpenAI-compatible
server and a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL). The case opens at once
with the provisional offline result; the LLM's answer updates it; faults lose nothing; a person's
correction wins and becomes an evaluation example."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

import storage.outbox
from bot.classification import service as classification
from bot.runtime.app import build_runtime
from bot.runtime.clock import ManualClock
from storage.db import transaction
from storage.models import Case, Classification, Event, InboundEvent
from tests.conftest import AGENT, TRIAGE, Harness, block_text
from tests.openai_server import Answer, OpenAIStub, completion, error, reply
from tests.openai_server import classification as answer
from tests.support import wait_until
from tests.test_cli import triage

T = TypeVar("T")

VERDICT = (
    "Customer: lea.dupont@example.fr\n"
    "Consent: oui\n"
    "Mon téléphone est reparti deux fois au SAV, toujours la même panne. Appelez-moi au "
    "06 11 22 33 44."
)
PRICES = {"gpt-test": {"input_per_million": 0.5, "output_per_million": 1.5}}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def start(
    make_bot: Callable[..., Harness], stub: OpenAIStub, timeout: float = 0.5, retries: int = 1
) -> Harness:
    env = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_MODEL": "gpt-test",
    }
    config = {"llm_timeout_seconds": timeout, "llm_max_retries": retries, "prices": PRICES}
    return make_bot(env=env, classification=config)


def wait_for(bot: Harness, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Kick the worker until `probe` returns something truthy."""

    def kicked() -> T | None:
        bot.rt.worker.kick()
        return probe()

    found = wait_until(kicked, timeout)
    assert found, "condition not reached in time"
    return found


def first_card(bot: Harness) -> dict[str, Any] | None:
    cards = bot.cards()
    return cards[0] if cards else None


def jobs(bot: Harness) -> list[InboundEvent]:
    with bot.rt.factory() as session:
        query = select(InboundEvent).where(InboundEvent.kind == classification.JOB_KIND)
        return list(session.scalars(query.order_by(InboundEvent.id)))


def rows(bot: Harness) -> list[Classification]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Classification).order_by(Classification.id)))


def expire_backoff(bot: Harness) -> None:
    """Time passes: the LLM jobs' retry time (their lease) is over."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(bot.rt.factory) as session:
        for job in session.scalars(select(InboundEvent).where(InboundEvent.status == "pending")):
            job.lease_until = past


def reclassified(bot: Harness) -> list[Event]:
    with bot.rt.factory() as session:
        query = select(Event).where(Event.kind == "reclassified").order_by(Event.id)
        return list(session.scalars(query))


def test_card_shows_the_offline_result_at_once_then_the_llm_result(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    release = threading.Event()
    llm_answer = answer(
        "customer_service",
        secondary_reasons=["after_sales_repairs"],
        confidence=0.92,
        summary="Cliente agacée : deux retours SAV.\nPersonne ne la rappelle.",
    )
    stub.script(Answer(body=completion(llm_answer), hold=release))
    bot = start(make_bot, stub, timeout=10)
    bot.post_intake(VERDICT)

    # The LLM has not answered yet: the card is already there, with the offline result.
    card = wait_for(bot, lambda: first_card(bot))
    shown = block_text(card)
    assert "After-sales and repairs" in shown
    assert "provisional" in shown
    wait_for(bot, lambda: len(stub.calls()) == 1)
    raw = stub.calls()[0].raw
    assert "lea.dupont" not in raw and "22 33 44" not in raw and "[PHONE]" in raw

    release.set()
    bot.wait_idle()
    updated = bot.emulator.message(TRIAGE, card["ts"])
    assert updated is not None
    shown = block_text(updated)
    assert "Case #1 · Customer service" in shown
    assert "provisional" not in shown
    assert "confidence 92%" in shown
    assert "Personne ne la rappelle." in shown

    offline, llm = rows(bot)
    assert (offline.backend, offline.provisional) == ("offline", True)
    assert (llm.backend, llm.provisional, llm.model) == ("llm", False, "gpt-test")
    assert (llm.prompt_tokens, llm.completion_tokens) == (420, 80)
    assert llm.cost_usd == pytest.approx((420 * 0.5 + 80 * 1.5) / 1e6)
    assert llm.prompt_version == "classify.v1" and llm.text_hash
    (event,) = reclassified(bot)
    assert event.actor == "system"
    assert event.data["from"] == "after_sales_repairs"
    assert event.data["to"] == "customer_service"
    assert event.data["backend"] == "llm"
    (job,) = jobs(bot)
    assert job.status == "done" and job.attempts == 1
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert (case.primary_reason, case.needs_review) == ("customer_service", False)


def test_llm_down_the_case_still_opens_and_the_job_is_retried_later(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = error(500, retry_after=0.01)
    bot = start(make_bot, stub)
    bot.post_intake(VERDICT)

    card = wait_for(bot, lambda: first_card(bot))
    failed = wait_for(bot, lambda: [j for j in jobs(bot) if j.last_error])
    assert "provisional" in block_text(card)
    job = failed[0]
    assert job.status == "pending" and job.attempts == 1
    assert "server_error" in (job.last_error or "")
    assert job.lease_until is not None
    assert job.lease_until > datetime.now(UTC) + timedelta(seconds=20)  # backoff, not a spin
    assert len(stub.calls()) == 2  # the SDK's one retry, then the job waits
    assert [r.backend for r in rows(bot)] == ["offline"]

    # Later, the LLM is back; once the backoff is over the worker picks the job up again.
    stub.default = reply(answer("customer_service"))
    expire_backoff(bot)
    bot.wait_idle()
    updated = bot.emulator.message(TRIAGE, card["ts"])
    assert updated is not None and "Customer service" in block_text(updated)
    assert len(bot.cards()) == 1
    (job,) = jobs(bot)
    assert (job.status, job.attempts) == ("done", 2)
    assert [r.backend for r in rows(bot)] == ["offline", "llm"]
    # Done once: a later pass, even hours later, finds nothing to do.
    rt = bot.rt
    assert rt.llm is not None
    much_later = ManualClock(datetime.now(UTC) + timedelta(hours=3))
    assert classification.process_llm_jobs(rt.factory, rt.llm, rt.settings.team, much_later) == 0
    assert len(reclassified(bot)) == 1


def test_answers_that_never_parse_are_set_aside_and_the_case_flagged(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = reply("{this is not json")
    bot = start(make_bot, stub)
    bot.post_intake(VERDICT)
    card = wait_for(bot, lambda: first_card(bot))
    for attempt in range(1, classification.MAX_BAD_ANSWERS + 1):
        wait_for(
            bot,
            lambda n=attempt: [
                j for j in jobs(bot) if (j.last_error or "").startswith(f"attempt {n}:")
            ],
        )
        expire_backoff(bot)
    (job,) = jobs(bot)
    assert job.status == "failed" and "malformed" in (job.last_error or "")
    assert len(stub.calls()) == classification.MAX_BAD_ANSWERS  # no SDK retry on a 200
    bot.wait_idle()
    updated = bot.emulator.message(TRIAGE, card["ts"])
    assert updated is not None
    shown = block_text(updated)
    assert "needs review" in shown and "After-sales and repairs" in shown
    with bot.rt.factory() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert "classification_failed" in kinds


def test_the_same_verbatim_is_sent_to_the_llm_once_across_processes(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    stub.default = reply(answer("after_sales_repairs"))
    bot = start(make_bot, stub)
    text = "Consent: oui\nMon téléphone est reparti deux fois au SAV, toujours la même panne."
    bot.post_intake("Customer: a@example.com\n" + text)
    bot.wait_idle()
    assert len(stub.calls()) == 1

    # The web process's worker stops; a separate `triage worker` (its own memory) goes on.
    bot.rt.worker.stop()
    bot.post_intake("Customer: b@example.com\n" + text)
    worker = build_runtime(bot.rt.settings)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            worker.run_pending()
            with worker.factory() as session:
                if storage.outbox.pending_work(session) == 0:
                    break
    finally:
        worker.close()
    assert len(stub.calls()) == 1  # the second answer came from the database cache
    llm_rows = [r for r in rows(bot) if r.backend == "llm"]
    assert len(llm_rows) == 2
    assert llm_rows[0].text_hash == llm_rows[1].text_hash
    assert llm_rows[0].prompt_tokens == 420 and llm_rows[1].prompt_tokens == 0
    assert llm_rows[1].cost_usd == 0.0
    assert [j.status for j in jobs(bot)] == ["done", "done"]


def test_a_person_corrects_the_reason(make_bot: Callable[..., Harness], tmp_path: Path) -> None:
    bot = make_bot()  # no LLM: the offline result is final
    bot.post_intake(VERDICT)
    bot.wait_idle()
    card = bot.cards()[0]
    rt = bot.rt
    team, taxonomy = rt.settings.team, rt.taxonomy
    now = rt.clock.now()
    with transaction(rt.factory) as session:
        case_id = session.scalars(select(Case.id)).one()
        assert (
            classification.reclassify_by_person(
                session, case_id, "price_billing", AGENT, now, team=team, taxonomy=taxonomy
            )
            is None
        )
    bot.wait_idle()

    updated = bot.emulator.message(TRIAGE, card["ts"])
    assert updated is not None
    shown = block_text(updated)
    assert "Case #1 · Price and billing" in shown and "confidence 100%" in shown
    thread = [m["text"] for m in bot.emulator.thread(TRIAGE, card["ts"])]
    assert any("<@U0AGENT> changed the reason" in t and "Price and billing" in t for t in thread)
    human = rows(bot)[-1]
    assert (human.backend, human.actor, human.confidence, human.provisional) == (
        "human",
        AGENT,
        1.0,
        False,
    )
    (event,) = reclassified(bot)
    assert event.actor == AGENT
    assert (event.data["from"], event.data["to"]) == ("after_sales_repairs", "price_billing")

    with transaction(rt.factory) as session:
        same = classification.reclassify_by_person(
            session, case_id, "price_billing", AGENT, now, team=team, taxonomy=taxonomy
        )
        unknown = classification.reclassify_by_person(
            session, case_id, "vip", AGENT, now, team=team, taxonomy=taxonomy
        )
        missing = classification.reclassify_by_person(
            session, 999, "other", AGENT, now, team=team, taxonomy=taxonomy
        )
    assert same == "The reason is already Price and billing."
    assert unknown is not None and "vip is not a reason" in unknown
    assert missing is not None and "can't find that case" in missing
    assert len(reclassified(bot)) == 1  # refusals change nothing

    # The correction is an evaluation example (masked), exported from the database.
    out = tmp_path / "corrections.jsonl"
    result = triage(
        "eval", "--export-corrections", str(out), env={"DATABASE_URL": rt.settings.database_url}
    )
    assert result.returncode == 0, result.stderr
    (example,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert example["reason"] == "price_billing" and example["corrected_by"] == AGENT
    assert "reparti deux fois au SAV" in example["text"]
    assert "22 33 44" not in example["text"]
    evaluated = triage("eval", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["examples"] == 1


def test_a_late_llm_answer_never_overrides_a_person(
    make_bot: Callable[..., Harness], stub: OpenAIStub
) -> None:
    release = threading.Event()
    stub.script(Answer(body=completion(answer("network_quality")), hold=release))
    bot = start(make_bot, stub, timeout=10)
    bot.post_intake(VERDICT)
    wait_for(bot, lambda: first_card(bot))
    wait_for(bot, lambda: len(stub.calls()) == 1)
    rt = bot.rt
    with transaction(rt.factory) as session:
        case_id = session.scalars(select(Case.id)).one()
        error_text = classification.reclassify_by_person(
            session,
            case_id,
            "customer_service",
            AGENT,
            rt.clock.now(),
            team=rt.settings.team,
            taxonomy=rt.taxonomy,
        )
    assert error_text is None
    release.set()
    bot.wait_idle()
    with rt.factory() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.primary_reason == "customer_service"
    assert [r.backend for r in rows(bot)] == ["offline", "human"]
    assert [j.status for j in jobs(bot)] == ["done"]
