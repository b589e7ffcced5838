"""Property-based tests of the intake parser: whatever the message, it never raises, the
verbatim never holds a recognised field's label line, and a refusal is never read as consent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.intake.parsing import load_vocabulary, parse_message, parse_verdict

LABELS = {
    "consent": ["Consent", "Permission to contact", "OK to call you back?", "Opt-in",
                "Accepte d'être recontacté", "Autorisation de transmission", "Recontact autorisé"],
    "ref": ["Customer number", "N° abonné", "Member ID", "Client", "Account"],
    "status": ["Status", "Statut", "Customer status"],
    "channel": ["Channel", "Canal"],
}  # fmt: skip
REFUSALS = [
    "no",
    "No",
    "non",
    "N",
    "false",
    "denied",
    "refusée",
    "❌",
    "👎",
    "0",
    "Non merci",
    "No thanks",
    "Absolutely not",
    "withdrawn",
    "retiré",
]
YESES = ["yes", "oui", "Y", "true", "granted", "✅", "👍", "1"]
VALUES = {"ref": ["12345678", "ACC-40917", "compte 31875520"], "status": ["former", "ancien client"],
          "channel": ["web", "téléphone"]}  # fmt: skip
SHAPES = ["{label}: {value}", "*{label}*\n{value}", "{label} = \"{value}\"", "• {label} : {value}",
          "> {label}: {value}", "Q3. {label}: {value}",
          # SurveyMonkey (number, question, answer), Hotjar pairs, dash answers, one-liners
          "Q2\n{label}\n{value}", "Question: {label}\nAnswer: {value}", "{label} - {value}",
          "- {label} - {value}", "Account: 40917 | {label}: {value} | Comment: slow",
          "Client : 31875520 ; {label} : {value} ; Verbatim : trop cher"]  # fmt: skip
prose = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120
).filter(lambda s: ":" not in s and "=" not in s)


@st.composite
def field_lines(draw: st.DrawFn, consent_values: list[str]) -> str:
    field = draw(st.sampled_from(sorted(LABELS)))
    label = draw(st.sampled_from(LABELS[field]))
    values = consent_values if field == "consent" else VALUES[field]
    value = draw(st.sampled_from(values))
    return draw(st.sampled_from(SHAPES)).format(label=label, value=value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parsing_never_raises_on_any_text(text: str) -> None:
    parse_verdict(text)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_parsing_never_raises_on_any_message_shape(value: object) -> None:
    message = value if isinstance(value, dict) else {"text": "x", "blocks": value, "files": value}
    parse_message({str(k): v for k, v in message.items()})


@settings(max_examples=300, deadline=None)
@given(st.lists(field_lines(YESES + REFUSALS) | prose, min_size=1, max_size=8))
def test_the_verbatim_never_holds_a_recognised_label_line(parts: list[str]) -> None:
    vocabulary = load_vocabulary()
    parsed = parse_verdict("\n".join(parts))
    for line in parsed.text.splitlines():
        label = line.split(":", 1)[0].strip(" *•>") if ":" in line else None
        if label:
            match = vocabulary.match(label)
            assert match is None or match.field == "text", line


@settings(max_examples=300, deadline=None)
@given(
    st.lists(field_lines(YESES) | prose, max_size=6),
    field_lines(REFUSALS).filter(lambda s: True),
    st.lists(field_lines(YESES) | prose, max_size=6),
)
def test_a_message_with_a_refusal_is_never_read_as_consent(
    before: list[str], refusal: str, after: list[str]
) -> None:
    if not any(label in refusal for label in LABELS["consent"]):
        refusal = f"Consent: {REFUSALS[0]}"
    parsed = parse_verdict("\n".join([*before, refusal, *after]))
    assert parsed.consent is False


LABEL_LINES = ["Customer: 12345678", "Status: former", "Consent: yes", "Statut : ancien client",
               "Consentement : oui", "Client : 31875520", "Channel: web"]  # fmt: skip
QUESTIONS = ["Where is the refund for my router?", "Why did you charge me twice?",
             "Can someone explain my bill?", "Pourquoi m'avez-vous coupé la ligne ?",
             "Où est passé mon remboursement ?", "Is this how you treat loyal customers?"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(LABEL_LINES), min_size=1, max_size=5),
    st.sampled_from(QUESTIONS),
    st.booleans(),
)
def test_a_question_the_customer_asks_after_label_lines_stays_their_words(
    labels: list[str], question: str, blank_line: bool
) -> None:
    parsed = parse_verdict("\n".join(labels) + ("\n\n" if blank_line else "\n") + question)
    assert question in parsed.text
