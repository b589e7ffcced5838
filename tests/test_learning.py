"""The classifier that learns: own brand and competitors, `triage learn`, retraining from Slack
corrections, one model version for every process, a restart, and a corrupt stored model."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

import storage.learning
import storage.stats
from bot.cases.card import MORE_ACTION
from bot.classification import learned as learned_mod
from bot.classification import learning
from bot.classification.brand import BrandConfig, neutralise
from bot.classification.learned import train
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import load_taxonomy
from bot.runtime.app import build_runtime
from bot.runtime.settings import ConfigError
from storage.db import make_engine, make_sessionmaker, transaction
from storage.models import Classification, LearnedModel, TrainingExample, Verdict
from tests.conftest import AGENT, Harness, block_text, make_settings
from tests.test_case_thread import card_now, form, replies, submit
from tests.test_cli import triage

TAXONOMY = load_taxonomy()


# --------------------------------------------------------------------------- brand


def test_own_brand_names_and_handles_never_produce_competitor_offer() -> None:
    brand = BrandConfig(names=["Orange", "@Orange_conseil", "orange.fr"], competitors=["SFR"])
    classifier = OfflineClassifier(TAXONOMY, brand=brand)
    for text in (
        "@Orange_conseil mon forfait a encore augmenté ce mois-ci",
        "Je suis passé chez Orange il y a deux ans et la facture ne fait que monter",
        "J'ai tout lu sur orange.fr et #OrangeFrance, toujours pas de réponse du service client",
        "Orange, Orange et encore Orange : le réseau coupe tous les soirs",
    ):
        result = classifier.classify(text)
        found = {result.primary_reason, *result.secondary_reasons}
        assert "competitor_offer" not in found, (text, result)
        assert not any("orange" in cue.lower() for cue in result.cues)


def test_an_addressee_handle_is_not_a_competitor_without_config() -> None:
    classifier = OfflineClassifier(TAXONOMY)
    for text in (
        "@VodafoneUK my bill doubled this month and nobody explains why",
        "@O2 @EE still no signal at home after three weeks",
        "Vodafone charged me twice for roaming",
    ):
        result = classifier.classify(text)
        assert result.primary_reason != "competitor_offer", text
        assert "competitor_offer" not in result.secondary_reasons, text


def test_the_company_written_to_is_not_a_cue_without_config() -> None:
    # A team example taught the model that "Vodafone" goes with leaving: the addressee of a
    # complaint (a greeting, or a lone @handle outside a switching phrase) must not trigger it.
    classifier = OfflineClassifier(TAXONOMY)
    team = [
        ("Leaving for Vodafone", "competitor_offer"),
        ("Off to Vodafone next month", "competitor_offer"),
        ("Vodafone has a better deal", "competitor_offer"),
    ]
    classifier.learned = train(learning.base_examples(TAXONOMY), team, TAXONOMY.version)
    for text in (
        "Dear Vodafone, what is going on",
        "what is going on @Vodafone",
        "Bonjour Vodafone, toujours rien",
    ):
        assert "vodafone" not in neutralise(text, None).lower(), text
        # (with the name left in, the model answers competitor_offer for each of these)
        result = classifier.classify(text)
        assert result.primary_reason != "competitor_offer", (text, result)
        assert "competitor_offer" not in result.secondary_reasons, text
    # In a switching phrase, or a configured competitor's handle, the name stays a cue.
    assert "@Lebara" in neutralise("I'm switching to @Lebara next week", None)
    rival = BrandConfig(competitors=["@SFR_fr"])
    assert "@SFR_fr" in neutralise("le réseau de @SFR_fr est meilleur, et moins cher", rival)
    assert "@SFR_fr" not in neutralise("le réseau de @SFR_fr est meilleur", None)


def test_a_switching_sentence_naming_a_configured_competitor_is_competitor_offer() -> None:
    brand = BrandConfig(names=["Orange"], competitors=["SFR", "@bouyguestelecom"])
    classifier = OfflineClassifier(TAXONOMY, brand=brand)
    assert classifier.classify("Je pars chez SFR le mois prochain").primary_reason == (
        "competitor_offer"
    )
    assert classifier.classify("Bouyguestelecom me fait la même chose").primary_reason == (
        "competitor_offer"
    )
    # Any company in a switching context, configured or not.
    plain = OfflineClassifier(TAXONOMY)
    assert plain.classify("I'm switching to Lebara next week").primary_reason == "competitor_offer"


def test_brand_config_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match="entry 1"):
        BrandConfig(names=["Orange", ""])


# --------------------------------------------------------------------------- triage learn


def test_triage_learn_stores_valid_rows_and_reports_bad_ones(
    database_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "labelled.csv"
    good.write_text(
        "text,reason\n"
        '"Nobody got back to me, write to jean@example.fr",customer_service\n'
        "The handset will not charge any more,after_sales_repairs\n"
        "Some words,not_a_reason\n"
        ",price_billing\n",
        encoding="utf-8",
    )
    env = {"DATABASE_URL": database_url}
    done = triage("learn", str(good), env=env)
    assert done.returncode == 1, done.stderr
    assert "kept:         2" in done.stdout and "rejected:     2" in done.stdout
    rejected = [json.loads(line) for line in (tmp_path / "labelled.rejected.jsonl").open()]
    assert [r["row"] for r in rejected] == [4, 5]
    assert "'not_a_reason' is not a reason" in rejected[0]["problem"]
    assert "`text` is empty" in rejected[1]["problem"]

    lines = tmp_path / "more.jsonl"
    lines.write_text(
        json.dumps(
            {"text": "The handset will not charge any more", "reason": "after_sales_repairs"}
        )
        + "\nnot json\n"
        + json.dumps({"text": "Refund still not paid", "reason": "price_billing"})
        + "\n",
        encoding="utf-8",
    )
    again = triage("learn", str(lines), env=env)
    assert "kept:         1" in again.stdout and "already kept: 1" in again.stdout
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(TrainingExample).order_by(TrainingExample.id)).all()
    finally:
        engine.dispose()
    assert [(r.reason, r.source) for r in rows] == [
        ("customer_service", "file"),
        ("after_sales_repairs", "file"),
        ("price_billing", "file"),
    ]
    assert "jean@example.fr" not in rows[0].text  # masked before it is stored

    missing = triage("learn", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    no_header = tmp_path / "bad.csv"
    no_header.write_text("verbatim,label\nx,y\n", encoding="utf-8")
    refused = triage("learn", str(no_header), env=env)
    assert refused.returncode != 0 and "`text` and `reason`" in refused.stderr


# --------------------------------------------------------------------------- in Slack

CARRIER = "Customer: {ref}\nStatus: former\nConsent: yes\n{text}"
TEAM_WORDS = "Le conseiller m'a raccroché au nez et la boutique n'a jamais rappelé pour le bon"


def test_a_reclassification_in_slack_teaches_the_next_similar_verdict(bot: Harness) -> None:
    bot.post_intake(CARRIER.format(ref="ACC-1", text=TEAM_WORDS))
    bot.wait_idle()
    card = bot.cards()[-1]
    before = bot.rt.classifier.classify(TEAM_WORDS).primary_reason
    target = "price_billing" if before != "price_billing" else "network_quality"
    view = form(bot, card, MORE_ACTION, AGENT, option="reclassify:1")
    assert submit(bot, view, AGENT, {"reason": target}) is None
    assert any("Kept as an example" in text for text in replies(bot, card))
    # The background pass (the bot's worker, or this one) retrains, then uses the new version.
    deadline = time.monotonic() + 60
    while bot.rt.classifier.learned is None and time.monotonic() < deadline:
        bot.rt.run_pending()
        time.sleep(0.05)
    assert bot.rt.classifier.learned is not None

    bot.post_intake(CARRIER.format(ref="ACC-2", text=TEAM_WORDS + " de commande."))
    bot.wait_idle()
    second = bot.cards()[-1]
    assert second["ts"] != card["ts"]
    label = TAXONOMY.label(target)
    assert label in block_text(card_now(bot, second))
    with bot.rt.factory() as session:
        newest = session.scalars(select(Classification).order_by(Classification.id.desc())).first()
        assert newest is not None
        assert newest.model == f"offline-keywords+learned-v{bot.rt.classifier.learned.version}"


# --------------------------------------------------------------------------- processes


def _examples(rt_factory: object) -> None:
    from storage.db import transaction

    rows = [
        ("The delivery driver lost my parcel again", "customer_service"),
        ("My refund for the returned router never arrived", "price_billing"),
        ("Handset will not charge since the update", "after_sales_repairs"),
    ]
    with transaction(rt_factory) as session:  # type: ignore[arg-type]
        for text, reason in rows:
            learning.keep_example(session, text, reason, TAXONOMY, "file", now=_now())


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_two_processes_use_the_same_model_version(
    tmp_path: Path, database_url: str, emulator: object
) -> None:
    settings = make_settings(tmp_path, database_url, "http://127.0.0.1:9/api/")
    one = build_runtime(settings, check_slack=False)
    two = build_runtime(settings, check_slack=False)
    try:
        _examples(one.factory)
        assert one.classifier.learned is None and one.classifier.model == "offline-keywords"
        learning.refresh(one.factory, one.classifier, one.clock)
        learning.refresh(two.factory, two.classifier, two.clock)
        assert one.classifier.learned is not None and two.classifier.learned is not None
        assert one.classifier.model == two.classifier.model
        with one.factory() as session:
            assert session.query(LearnedModel).count() == 1  # trained once, by one of them
        # The same examples claimed twice: the second process skips the training.
        with one.factory() as session:
            trained_from = session.scalars(select(LearnedModel.trained_from)).one()
        from storage.learning import claim_training

        with one.factory() as session:
            assert claim_training(session, TAXONOMY.version, trained_from, 3, _now()) is None
    finally:
        one.close()
        two.close()


def test_the_model_survives_a_restart_and_a_corrupt_one_falls_back_to_the_rules(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, database_url, "http://127.0.0.1:9/api/")
    first = build_runtime(settings, check_slack=False)
    try:
        _examples(first.factory)
        assert learning.refresh(first.factory, first.classifier, first.clock) == 1
        version = first.classifier.learned.version  # type: ignore[union-attr]
    finally:
        first.close()
    again = build_runtime(settings, check_slack=False)
    try:
        assert again.classifier.learned is not None
        assert again.classifier.learned.version == version
        with again.factory.begin() as session:
            row = session.get(LearnedModel, version)
            assert row is not None and row.model is not None
            session.execute(
                update(LearnedModel)
                .where(LearnedModel.id == version)
                .values(model=row.model[:-40] + b"x" * 40)
            )
    finally:
        again.close()
    caplog.set_level(logging.ERROR)
    third = build_runtime(settings, check_slack=False)
    try:
        assert third.classifier.learned is None
        assert third.classifier.model == "offline-keywords"
        assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
        assert third.classifier.classify("Le réseau coupe tous les soirs").primary_reason == (
            "network_quality"
        )
    finally:
        third.close()


def test_a_team_taxonomy_that_does_not_load_is_one_line(tmp_path: Path, database_url: str) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("version: 1\nreasons: []\n", encoding="utf-8")
    settings = make_settings(tmp_path, database_url, "http://127.0.0.1:9/api/", taxonomy=str(bad))
    with pytest.raises(ConfigError) as caught:
        build_runtime(settings, check_slack=False)
    assert "mine.yaml" in str(caught.value) and "reasons" in str(caught.value)


def test_eval_learning_curve_prints_macro_f1_by_examples(tmp_path: Path) -> None:
    done = triage("eval", "--learning-curve", "prompts/devset.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)
    assert [p["examples"] for p in points][:4] == [0, 50, 100, 200]
    assert all(0 <= p["macro_f1"] <= 1 for p in points)


# --------------------------------------------------------------------------- the LLM learns too


def test_the_llm_prompt_gets_the_teams_most_similar_examples_under_a_new_version(
    make_bot: Callable[..., Harness],
) -> None:
    from tests.openai_server import OpenAIStub, reply
    from tests.openai_server import classification as answer
    from tests.test_llm_flow import start, wait_for

    with OpenAIStub() as stub:
        stub.default = reply(answer("price_billing"))
        bot = start(make_bot, stub)
        _examples(bot.rt.factory)
        with transaction(bot.rt.factory) as session:
            learning.keep_example(
                session,
                "Refund for the returned router still not paid, mail paul.martin@example.com",
                "price_billing",
                TAXONOMY,
                "reclassification",
                now=_now(),
            )
        # The background pass (the bot's worker, or this one) trains and uses the new version.
        deadline = time.monotonic() + 60
        while bot.rt.classifier.learned is None and time.monotonic() < deadline:
            learning.refresh(bot.rt.factory, bot.rt.classifier, bot.rt.clock)
        assert bot.rt.classifier.learned is not None
        bot.post_intake(
            CARRIER.format(ref="ACC-9", text="Still waiting for the refund for my router")
        )
        wait_for(bot, lambda: len(stub.calls()) >= 1)
        bot.wait_idle()
        raw = stub.calls()[0].raw
        user = stub.calls()[0].body["messages"][1]["content"]
        assert "<examples>" in user and "Refund for the returned router" in user
        assert "price_billing" in user.split("<verdict>")[0]
        assert "paul.martin" not in raw and "[EMAIL]" in user  # masked like the verbatim
        assert user.split("<examples>")[1].count('"reason"') <= 3
        with bot.rt.factory() as session:
            stored = session.scalars(
                select(Classification).where(Classification.backend == "llm")
            ).one()
        assert stored.prompt_version == "classify.v2"


# --------------------------------------------------------------------------- people see it learn


def test_stats_show_corrections_and_precision_per_reason_and_keep_retired_reasons(
    bot: Harness,
) -> None:
    from tests.test_triage_command import run, seed

    seed(bot, 3)  # "The bill doubled again": price_billing
    status, body, _ = bot.post_webhook(
        {"text": "No network signal at home.", "customer": "NET-1", "consent": True}
    )
    assert status == 202, body
    bot.wait_idle()
    cards = bot.cards()
    card = next(c for c in cards if "Case #1" in block_text(c))
    view = form(bot, card, MORE_ACTION, AGENT, option="reclassify:1")
    assert submit(bot, view, AGENT, {"reason": "customer_service"}) is None
    # A reason an older taxonomy version had: counted and shown as retired, never dropped.
    with transaction(bot.rt.factory) as session:
        verdict = session.scalars(select(Verdict).where(Verdict.text.contains("network"))).one()
        latest = session.scalars(
            select(Classification).where(Classification.verdict_id == verdict.id)
        ).first()
        assert latest is not None
        latest.primary_reason = "roaming_fees"
        storage.stats.count_reason_change(session, verdict, "roaming_fees")

    _, answers = run(bot, "stats 30d")
    text = block_text(answers[0])
    assert "Classifier against people's corrections" in text
    assert "People corrected the classifier on *1* of 4 classified verdicts (25%)" in text
    assert "Price and billing 67% (2/3)" in text
    assert "roaming_fees (retired) 100% (1/1)" in text
    assert "roaming_fees (retired): *1*" in text


def test_config_check_reports_stored_reasons_missing_from_the_taxonomy(
    bot: Harness, tmp_path: Path
) -> None:
    status, body, _ = bot.post_webhook(
        {"text": "Roaming in Spain cost a fortune.", "customer": "R-1", "consent": True}
    )
    assert status == 202, body
    bot.wait_idle()
    with transaction(bot.rt.factory) as session:
        verdict = session.scalars(select(Verdict)).one()
        storage.stats.count_reason_change(session, verdict, "roaming_fees")
        storage.learning.add_example(
            session,
            text_hash="x" * 64,
            text="Roaming fees again",
            reason="roaming_fees",
            taxonomy_version="2025-01-1",
            source="file",
            now=_now(),
        )
    url = bot.rt.settings.database_url
    done = triage("config", "check", str(bot.rt.settings.config_path), env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert (
        f"reason roaming_fees (1 verdict, 1 example) is not in taxonomy v{TAXONOMY.version}: "
        "stats keep it as 'roaming_fees (retired)'"
    ) in done.stdout
    assert "price_billing" not in done.stdout.split("OK", 1)[1].split("reason roaming_fees")[1]


def test_the_one_text_path_scores_as_scikit_learn_does() -> None:
    # Slack intake scores one verdict at a time without scikit-learn's per-call overhead: the
    # same TF-IDF (stored vocabulary, sublinear tf, idf, l2) and weights, so the same answer.
    base = learning.base_examples(TAXONOMY)
    model = learned_mod.LearnedModel.from_bytes(
        train(base, [(t + " encore", r) for t, r in base[:30]], TAXONOMY.version).to_bytes(),
        None,
        1,
    )
    texts = [t for t, _ in base[:60]] + ["", "zzz qqq", "Mon téléphone ne charge plus, SAV !"]
    for text, reference in zip(texts, model.probabilities(texts), strict=True):
        (mine,) = model.score([text])
        assert max(abs(mine.probs[r] - reference[r]) for r in reference) < 1e-6, text
    assert model.similar("Mon téléphone ne charge plus", k=1)[0][1] == "after_sales_repairs"
