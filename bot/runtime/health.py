"""Readiness: can this process serve? The database answers and its schema is the code's."""

from __future__ import annotations

import functools

from sqlalchemy import Engine, text

from storage.migrate import current_revision, head_revision


@functools.lru_cache(maxsize=1)
def _head() -> str:
    # The migrations shipped with the code do not change while it runs: read them once.
    return head_revision()


def readiness_problem(engine: Engine) -> str | None:
    """Why the process must not take traffic now, or None when it may."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:  # refused, timed out, bad credentials: all mean "not ready"
        return f"database unreachable ({type(exc).__name__})"
    head = _head()
    if current == head:
        return None
    if current is None:
        return "database not migrated: run `triage db upgrade`"
    return f"database at revision {current}, the code needs {head}: run `triage db upgrade`"
