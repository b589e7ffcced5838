"""Reading what a person entered in a Slack form (a modal's state), whatever the input type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """Block id -> the value entered or picked; inputs use the action id `value`. Empty is None."""
    out: dict[str, Any] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        element = (actions or {}).get("value") or {}
        if "selected_option" in element:
            out[block_id] = (element.get("selected_option") or {}).get("value")
        elif "selected_options" in element:
            out[block_id] = [o.get("value") for o in element.get("selected_options") or []]
        elif "selected_user" in element:
            out[block_id] = element.get("selected_user")
        elif "selected_date" in element:
            out[block_id] = element.get("selected_date")
        elif "selected_date_time" in element:
            stamp = element.get("selected_date_time")
            out[block_id] = datetime.fromtimestamp(int(stamp), UTC) if stamp else None
        else:
            value = element.get("value")
            out[block_id] = value.strip() if isinstance(value, str) and value.strip() else None
    return out
