"""Reading verdicts as people and survey tools write them."""

from __future__ import annotations

import pytest

from bot.intake.parsing import (
    parse_message,
    parse_verdict,
    read_channel,
    read_churn_date,
    read_status,
)


def test_headers_and_verbatim() -> None:
    parsed = parse_verdict(
        "*Customer:* <mailto:Jean.Dupont@Example.fr|Jean.Dupont@Example.fr>\n"
        "Status: ancien client\nChannel: téléphone\nScore: 2/10\nConsent: oui\n"
        "Mon téléphone est reparti trois fois au SAV."
    )
    assert parsed.customer is not None and parsed.customer.key == "email:jean.dupont@example.fr"
    assert (parsed.status, parsed.channel, parsed.score, parsed.consent) == (
        "former",
        "phone",
        2,
        True,
    )
    assert parsed.text == "Mon téléphone est reparti trois fois au SAV."


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Client 06 12 34 56 78 très déçu, je résilie", "phone:+33612345678"),
        ("Customer: +44 20 7946 0958\nThe line is dead", "phone:+442079460958"),
        ("account #ACC-88231: billing doubled again", "account:ACC-88231"),
        ("Compte n° 4471-992 : facture erronée", "account:4471-992"),
        ("reach me at <mailto:a.b@c.io|a.b@c.io> please", "email:a.b@c.io"),
    ],
)
def test_customer_reference_is_normalised(text: str, key: str) -> None:
    parsed = parse_verdict(text)
    assert parsed.customer is not None and parsed.customer.key == key


def test_a_sentence_that_looks_like_a_header_stays_in_the_verbatim() -> None:
    parsed = parse_verdict("Note: they never called back\nCustomer: x@y.fr")
    assert parsed.score is None
    assert "they never called back" in parsed.text


def test_consent_no_and_no_reference() -> None:
    parsed = parse_verdict("Consent: non\nTrop cher.")
    assert parsed.consent is False
    assert parsed.customer is None


def test_slack_escapes_are_undone() -> None:
    parsed = parse_verdict("Price &gt; value &amp; no &lt;support&gt;")
    assert parsed.text == "Price > value & no <support>"


def test_inline_nps_score() -> None:
    assert parse_verdict("Account ACC-40917 - NPS 3\nBill went up").score == 3
    assert parse_verdict("NPS: 12 is not a score").score is None


@pytest.mark.parametrize(
    "value",
    ["web", " Web ", "téléphone", "by phone", "par téléphone", "e-mail", "live chat", "sms", "",
     '"web"', "*former*", "former", "Ancien client", "actuel", "still a customer", "nope",
     "2026-11-01", "_2026-11-01_", "1 nov 2026"],
)  # fmt: skip
def test_a_file_column_is_read_as_the_same_label_in_a_message(value: str) -> None:
    # `triage import` reads its status, channel and churn date columns with these.
    assert read_status(value) == parse_verdict(f"Status: {value}").status
    assert read_channel(value) == parse_verdict(f"Channel: {value}").channel
    assert read_churn_date(value) == parse_verdict(f"Churn date: {value}").churned_on


def test_file_columns_that_say_something_are_understood() -> None:
    assert read_status("Ancien client") == "former"
    assert read_channel("par téléphone") == "phone"
    assert read_churn_date("2026-11-01") == "2026-11-01"
    assert read_channel("carrier pigeon") is None


@pytest.mark.parametrize(
    "text",
    [
        "Customer: 12345678\nStatus: former\nConsent: yes\nWhere is the refund for my router?",
        "Customer: 12345678\nStatus: former\nConsent: yes\n\nWhere is the refund for my router?",
        "Client : 12345678\nStatut : ancien\nConsentement : oui\nOù est le remboursement de ma box ?",
        "Customer: 12345678\nWhere is the refund for my router?\nI sent it back in May.",
        "Customer: 12345678\nConsent: yes\nAre you kidding me?",
    ],
)
def test_a_question_the_customer_asks_is_their_words(text: str) -> None:
    parsed = parse_verdict(text)
    question = next(line for line in text.splitlines() if line.endswith("?"))
    assert question in parsed.text
    assert parsed.customer is not None and parsed.customer.key == "account:12345678"


def test_a_survey_question_with_its_answer_below_is_still_a_label() -> None:
    parsed = parse_verdict("Customer: 12345678\nWhy are you leaving?\nToo expensive for me")
    assert parsed.text == "Too expensive for me"
    assert parsed.answers == (("Why are you leaving?", "Too expensive for me"),)


# Refusals as the tools and people of the corpus README write them (written for this test).
REFUSAL_MESSAGES = [
    # Slack email file bodies and forwards
    "Début du message réfléchi :\nDe: Marie <marie@example.fr>\nObjet: résiliation\n\n"
    "Bonjour, j'ai résilié, je ne veux pas être rappelée. Marie",
    "---------- Message transféré ---------\nDe : Paul <paul@example.fr>\nObjet : Plainte\n\n"
    "Je pars chez un concurrent. Inutile de me recontacter.",
    # SurveyMonkey individual responses: the number, the question, the answer, each on a line
    "#12 COMPLETE\nCollector: Web Link 1 (Web Link)\nQ1\nCustomer number\n40917\n"
    "Q2\nRecontact autorisé\nNon\nQ3\nAnything else?\ntoo slow",
    "#13 COMPLETE\nQ1: Votre numéro client\n31875520\nQ2: Accepte d'être recontacté\nNo",
    # Hotjar relays, Wootric, CustomerGauge
    "Hotjar · Sondage sortie\nQuestion : Pouvons-nous vous recontacter ?\nRéponse : Non",
    "Question: Would you like us to get in touch?\nAnswer: No\nQuestion: Comments\nAnswer: slow",
    "Wootric: New response from marie@example.fr\nScore: 3\nOK to follow up: false",
    "Escalade NPS 1 — Compte 31875520\nCommentaire : nul\nSuivi demandé : Non",
    "May we contact you? Absolutely not\nAccount: 40917",
    # interviewers' notes in French and English
    "Entretien 14/05 : cliente 31875520, pas d'accord pour la transmission de ses réponses.",
    "Appel : client 31875520 s'est opposée à ce qu'on la recontacte. Partie chez Free.",
    "Client 31875520 refuse qu'on le rappelle. Trop cher.",
    "Client 31875520. Trop de coupures. Transmission refusée.",
    "Account 40917. She is not interested in a call back.",
    "Account 40917 — customer requested no contact; prefers not to be called.",
    # logfmt, one-liners, bullets, quoted shares
    'nps_response account=40917 score=3 consent=0 comment="too slow"',
    "Account: 40917 | Recontact autorisé - non | Comment: too slow",
    "Client : 31875520 ; Statut : ancien ; Recontact : non ; Verbatim : trop cher",
    "- Account: 40917\n- Permission to call back - No\n- Comment: slow",
    "Verbatim du client 31875520 (pas de consentement) :\n> nul",
    "Client 31875520 (inscrit sur Bloctel)\n> Arrêtez de m'appeler pour vendre",
    "Account 40917\nRecontact autorisé\nNo",
]


@pytest.mark.parametrize("text", REFUSAL_MESSAGES)
def test_a_refusal_in_any_shape_is_read_as_one(text: str) -> None:
    assert parse_verdict(text).consent is False


def test_a_refusal_in_a_slack_email_file_is_read_as_one() -> None:
    message = {
        "text": "",
        "files": [
            {
                "filetype": "email",
                "subject": "Résiliation",
                "from": [{"address": "marie.l@example.fr", "name": "Marie L"}],
                "plain_text": "Bonjour,\nJe résilie mon abonnement 31875520.\n"
                "Merci de ne pas me rappeler.\nMarie",
            }
        ],
    }
    parsed = parse_message(message)
    assert parsed.consent is False
    # the subscription's number is the customer's reference; the sender's address is kept too
    assert [r.key for r in parsed.refs] == ["account:31875520", "email:marie.l@example.fr"]


def test_a_complaint_starting_with_no_under_a_consent_line_is_the_customers_words() -> None:
    # "No signal" is a complaint, not a second answer to the consent question above it.
    for text in (
        "Customer: c0@example.com\nConsent: yes\nNo signal (0).",
        "Consent: yes\nNo signal at home since Monday.",
        "Consentement : oui\nNon-stop coupures depuis mai.",
    ):
        parsed = parse_verdict(text)
        assert parsed.consent is True, text
        assert parsed.text.split("\n")[-1] == text.split("\n")[-1], text


def test_a_bare_no_under_a_consent_line_is_still_a_refusal() -> None:
    for text in ("Recontact autorisé\nNon", "Consent: yes\nNo.", "Recontact autorisé :\nNon merci"):
        assert parse_verdict(text).consent is False, text
