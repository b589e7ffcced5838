"""The App Home tab: each person's cases, kept current when their cases change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

import storage.cases
from bot.cases.card import CardContext
from bot.cases.views import home_view
from bot.classification.taxonomy import Taxonomy
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig


def home_renderer(
    team: TeamConfig, taxonomy: Taxonomy, clock: Clock, team_url: str
) -> Callable[[Session, str], dict[str, Any]]:
    """A function that renders a person's Home tab from the database, for the outbox to publish."""

    def render(session: Session, user_id: str) -> dict[str, Any]:
        now = clock.now()
        ctx = CardContext(lang=team.language, tz=team.tz, taxonomy=taxonomy, now=now)
        return home_view(
            storage.cases.cases_owned(session, user_id, 10),
            storage.cases.unassigned_cases(session, 10),
            storage.cases.overdue_cases(session, now, 10),
            ctx,
            team_url,
        )

    return render
