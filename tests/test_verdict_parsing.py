"""Reading verdicts as people and survey tools write them."""

from __future__ import annotations

import pytest

from bot.intake.parsing import parse_verdict, read_channel, read_churn_date, read_status


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
