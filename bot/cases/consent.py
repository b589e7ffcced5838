"""Whether a case rests on consent nobody stated: then the card says so, and a contact is only
logged once a person confirms they checked it (team config `consent.when_unknown: ask`). The
confirmation is asked once per case: it is recorded in the contact event and not asked again."""

from __future__ import annotations

from sqlalchemy.orm import Session, object_session

import storage.cases
from storage.models import Case

CONSENT_CHECK_BLOCK = "consent_check"


def consent_not_stated(case: Case) -> bool:
    """True when none of the case's verdicts stated the customer's consent."""
    return bool(case.verdicts) and not any(v.consent_stated for v in case.verdicts)


def confirmation_required(case: Case, when_unknown: str, session: Session | None = None) -> bool:
    """True when logging a contact needs the "I checked the customer's consent" box: consent
    was never stated and nobody has confirmed it yet on this case."""
    if when_unknown != "ask" or not consent_not_stated(case):
        return False
    session = session or object_session(case)
    return session is None or not storage.cases.consent_confirmed(session, case.id)
