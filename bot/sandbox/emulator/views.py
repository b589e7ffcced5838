"""views.* (modals and App Home tabs) and the trigger_ids that open modals."""

from __future__ import annotations

import copy
import string
import time
import uuid
from typing import Any

from .blocks import MAX_PRIVATE_METADATA, MAX_VIEW_BLOCKS, MAX_VIEW_TITLE, check_text_object
from .messages import MessageStore
from .protocol import ApiError, JsonDict, opt_str
from .records import Trigger

# A trigger_id is only valid for three seconds.
TRIGGER_TTL_SECONDS = 3.0


class ViewMethods(MessageStore):
    """The views.* Web API methods, and trigger_id issuing and checking."""

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """Issue a trigger_id views.open/push will accept (tied to a view for views.push)."""
        with self._lock:
            trigger = (
                f"{int(time.time() * 1000) % 10**13}."
                f"{self._random(string.digits, 11)}.{uuid.uuid4().hex}"
            )
            self._triggers[trigger] = Trigger(created=time.monotonic(), view_id=view_id)
            return trigger

    def _consume_trigger(self, trigger_id: str) -> str | None:
        if not trigger_id:
            raise ApiError("invalid_trigger_id")
        entry = self._triggers.get(trigger_id)
        if self.strict_triggers:
            if entry is None:
                raise ApiError("invalid_trigger_id")
            if entry.used:
                raise ApiError("exchanged_trigger_id")
            if time.monotonic() - entry.created > TRIGGER_TTL_SECONDS:
                raise ApiError("expired_trigger_id")
        if entry is None:
            return None
        entry.used = True
        return entry.view_id

    def _build_view(self, raw: Any, expected_type: str) -> JsonDict:
        def invalid(message: str) -> ApiError:
            return ApiError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]}
            )

        if not isinstance(raw, dict):
            raise invalid("missing required field: view")
        if raw.get("type") != expected_type:
            raise invalid(f"must be '{expected_type}' [json-pointer:/view/type]")
        if expected_type == "modal":
            for key, required in (("title", True), ("submit", False), ("close", False)):
                value = raw.get(key)
                if value is None and not required:
                    continue
                errors = check_text_object(
                    value, f"/view/{key}", max_len=MAX_VIEW_TITLE, plain_only=True
                )
                if errors:
                    raise invalid(errors[0])
        private_metadata = raw.get("private_metadata", "")
        if not isinstance(private_metadata, str) or len(private_metadata) > MAX_PRIVATE_METADATA:
            raise invalid(
                f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
                "[json-pointer:/view/private_metadata]"
            )
        callback_id = raw.get("callback_id", "")
        if not isinstance(callback_id, str) or len(callback_id) > 255:
            raise invalid("must be less than 256 characters [json-pointer:/view/callback_id]")
        if "blocks" not in raw:
            raise invalid("missing required field: blocks [json-pointer:/view]")
        blocks = self._checked_blocks(
            raw["blocks"], max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks"
        )
        view_id = self._new_id("V", 10)
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": expected_type,
            "blocks": blocks,
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": {}},
            "hash": self._new_hash(),
            "title": copy.deepcopy(raw.get("title")),
            "clear_on_close": bool(raw.get("clear_on_close", False)),
            "notify_on_close": bool(raw.get("notify_on_close", False)),
            "close": copy.deepcopy(raw.get("close")),
            "submit": copy.deepcopy(raw.get("submit")),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": str(raw.get("external_id", "") or ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _check_external_id(self, view: JsonDict, replacing: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for other in self._views.values():
            if other["id"] != replacing and other.get("external_id") == external_id:
                raise ApiError("duplicate_external_id")

    def _views_open(self, params: JsonDict) -> JsonDict:
        self._consume_trigger(opt_str(params, "trigger_id"))
        view = self._build_view(params.get("view"), "modal")
        self._check_external_id(view)
        self._views[view["id"]] = view
        self._opened.append(view["id"])
        self._stacks[view["id"]] = [view["id"]]
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, params: JsonDict) -> JsonDict:
        origin = self._consume_trigger(opt_str(params, "trigger_id"))
        view = self._build_view(params.get("view"), "modal")
        self._check_external_id(view)
        root_id: str | None = None
        if origin is not None and origin in self._views:
            root_id = self._views[origin]["root_view_id"]
        elif self._stacks:
            root_id = next(reversed(self._stacks))
        stack = self._stacks.get(root_id or "")
        if stack is None:
            # No modal is open: Slack would refuse; treating it as views.open keeps tests simple.
            self._stacks[view["id"]] = [view["id"]]
        else:
            if len(stack) >= 3:
                raise ApiError("push_limit_reached")
            view["root_view_id"] = stack[0]
            view["previous_view_id"] = stack[-1]
            stack.append(view["id"])
        self._views[view["id"]] = view
        self._opened.append(view["id"])
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, params: JsonDict) -> JsonDict:
        view_id = opt_str(params, "view_id")
        external_id = opt_str(params, "external_id")
        if not view_id and not external_id:
            raise ApiError("invalid_arguments")
        current = self._views.get(view_id) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self._views.values() if v.get("external_id") == external_id), None
            )
        if current is None:
            raise ApiError("not_found")
        wanted_hash = opt_str(params, "hash")
        if wanted_hash and wanted_hash != current["hash"]:
            raise ApiError("hash_conflict")
        view = self._build_view(params.get("view"), current["type"])
        view["external_id"] = view["external_id"] or current.get("external_id", "")
        self._check_external_id(view, replacing=current["id"])
        for key in ("id", "root_view_id", "previous_view_id"):
            view[key] = current[key]
        self._views[current["id"]] = view
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, params: JsonDict) -> JsonDict:
        user_id = opt_str(params, "user_id")
        if not user_id:
            raise ApiError("invalid_arguments")
        if user_id[0] not in "UW":
            raise ApiError("user_not_found")
        view = self._build_view(params.get("view"), "home")
        existing_id = self._homes.get(user_id)
        if existing_id is not None:
            current = self._views[existing_id]
            wanted_hash = opt_str(params, "hash")
            if wanted_hash and wanted_hash != current["hash"]:
                raise ApiError("hash_conflict")
            view["id"] = view["root_view_id"] = existing_id
        self._check_external_id(view, replacing=existing_id)
        self._views[view["id"]] = view
        self._homes[user_id] = view["id"]
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}
