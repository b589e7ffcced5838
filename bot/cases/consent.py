"""Whether a case rests on consent nobody stated: then the card says so, and a contact is only
logged once the person confirms they checked it (team config `consent.when_unknown: ask`)."""

from __future__ import annotations

from storage.models import Case

CONSENT_CHECK_BLOCK = "consent_check"


def consent_not_stated(case: Case) -> bool:
    """True when none of the case's verdicts stated the customer's consent."""
    return bool(case.verdicts) and not any(v.consent_stated for v in case.verdicts)


def confirmation_required(case: Case, when_unknown: str) -> bool:
    """True when logging a contact needs the "I checked the customer's consent" box."""
    return when_unknown == "ask" and consent_not_stated(case)
