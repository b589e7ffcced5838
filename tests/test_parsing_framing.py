"""What frames a verdict is never the customer's words: a notification's title, a form's tick-box
options, a rating given in words, a signature, the note around an interviewer's quote. And the
fields such framing holds are still read."""

from __future__ import annotations

from bot.intake.parsing import parse_text


def test_a_notifications_title_is_not_the_verbatim_but_its_fields_are_read() -> None:
    parsed = parse_text(
        "Exit call – 15 May 2026\n"
        "Customer ref 66071239. Cancelled on 3 March 2026, moved to a competitor.\n"
        "Consent to contact: yes"
    )
    assert "Exit call" not in parsed.text
    assert "moved to a competitor" in parsed.text
    assert parsed.status == "former" and parsed.churned_on == "2026-03-03"
    assert parsed.channel == "phone"  # "exit call", said only in the title


def test_a_title_is_kept_when_it_is_all_the_message_says() -> None:
    parsed = parse_text("Nouveau détracteur :rage:\nNuméro client : 60712248")
    assert "Nouveau détracteur" in parsed.text  # nothing else to triage: never lose words


def test_a_first_line_in_the_first_person_is_never_a_title() -> None:
    parsed = parse_text("My new survey form is too long\nClient : 12345678\nIt froze twice.")
    assert "too long" in parsed.text and "froze twice" in parsed.text


def test_tick_box_options_are_a_choice_not_the_customers_words() -> None:
    parsed = parse_text(
        "Customer number: 81190346\n"
        "Reason for leaving: ☒ Price  ☐ Coverage  ☐ Service\n"
        'Comments: "Found the same deal for half the price."\n'
        "☐ I agree to be contacted about my answers"
    )
    assert parsed.text == "Found the same deal for half the price."
    assert parsed.consent is False  # the box left empty is a refusal
    assert parsed.status == "former"


def test_a_rating_in_words_under_a_comment_label_is_not_the_verbatim() -> None:
    parsed = parse_text(
        "Customer: zoe.martin@example.com\nResponse: 👎 Thumbs Down\n"
        "Comment: The price increase letter was condescending."
    )
    assert parsed.text == "The price increase letter was condescending."


def test_in_a_note_about_the_customer_the_verbatim_is_what_they_are_quoted_saying() -> None:
    parsed = parse_text(
        "Mme Koné, compte 90017762, plus cliente chez vous depuis mai. Motif : déménagement, "
        "mais elle ajoute qu'elle « ne serait pas revenue de toute façon, vu l'accueil ». "
        "Elle refuse que ses réponses soient transmises."
    )
    assert parsed.text == "ne serait pas revenue de toute façon, vu l'accueil"
    assert parsed.consent is False and parsed.status == "former"


def test_a_customers_own_words_keep_the_quotes_they_contain() -> None:
    parsed = parse_text(
        "Client : 60712248\nJe paie la fibre et je suis toujours en ADSL parce que le "
        "raccordement « n'est pas possible pour l'instant ». Remboursez-moi."
    )
    assert "Je paie la fibre" in parsed.text and "Remboursez-moi" in parsed.text


def test_a_signature_after_the_fields_is_not_the_verbatim() -> None:
    parsed = parse_text(
        "Hi there,\n\nStill with Ondalis and mostly happy, but the screen protector I paid for "
        "was missing.\n\nCustomer number 52219034.\n\nThanks,\nInés"
    )
    assert "screen protector" in parsed.text and "Inés" not in parsed.text
    assert parsed.status == "current"


def test_a_question_asking_to_contact_the_respondent_is_a_consent_question() -> None:
    parsed = parse_text(
        "Question: What's stopping you from staying with us?\n"
        "Answer: I only needed the TV box.\n\n"
        "Question: Can we email you about this? (optional)\nAnswer: no thanks"
    )
    assert parsed.consent is False
    assert "email you" not in parsed.text


def test_an_ip_address_or_a_time_is_never_a_phone_number() -> None:
    parsed = parse_text(
        "Started:  Monday, May 11, 2026 9:02:14 AM\nIP Address:  203.0.113.24\n"
        "Q1 Account number\nA-4471\nQ2 What is the primary reason for your score?\n"
        "You charged me an early termination fee."
    )
    assert [r.key for r in parsed.refs] == ["account:A-4471"]


def test_a_known_field_after_a_comma_splits_a_one_line_form_string() -> None:
    parsed = parse_text(
        "Customer Number:70044128, What could we have done better?:Answer the phone, twice, "
        "Any other comments?:The technician, Bruno, was great, Consent to contact:No"
    )
    assert parsed.consent is False
    assert "Consent to contact" not in parsed.text
    assert [q for q, _ in parsed.answers] == [
        "What could we have done better?",
        "Any other comments?",
    ]


def test_a_customers_headline_is_not_taken_for_a_title() -> None:
    parsed = parse_text(
        "New router keeps dropping\nSince the update it reboots every hour.\nClient : 12345678"
    )
    assert "New router keeps dropping" in parsed.text and "reboots every hour" in parsed.text


def test_a_refusal_cue_with_an_optional_first_word_is_read() -> None:
    # "(mais )?pas par téléphone": a prefilter once skipped it when "mais" was absent
    assert parse_text("Client 12345678. Trop cher. Pas par téléphone.").consent is False


def test_an_answer_on_a_numbered_questions_line_is_kept() -> None:
    parsed = parse_text("Q12 : Le réseau coupe tous les soirs depuis un mois, je pars.")
    assert parsed.text == "Le réseau coupe tous les soirs depuis un mois, je pars."


def test_a_chat_transcript_keeps_the_customers_turns_and_answers_the_companys_questions() -> None:
    parsed = parse_text(
        "13/05/2026, 19:02 - Ondalis Support: Hi Ewan, your case number is CS-204877. How can"
        " we help?\n"
        "13/05/2026, 19:04 - Ewan Docherty: Account 68803312. Speeds have halved since May.\n"
        "13/05/2026, 19:06 - Ondalis Support: Sorry. Reply STOP to opt out. May someone from"
        " our retention team call you?\n"
        "13/05/2026, 19:07 - Ewan Docherty: No thanks"
    )
    assert "Speeds have halved" in parsed.text and "case number" not in parsed.text
    assert parsed.consent is False  # the customer's "No thanks", not the company's "STOP"
    assert [r.key for r in parsed.refs] == ["account:68803312"]


def test_a_lone_copyright_sign_does_not_end_the_message() -> None:
    # found by hypothesis: "©" taken for a tool's footer hid the refusal below it
    assert parse_text("©\nConsent: no").consent is False
