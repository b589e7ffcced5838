"""conversations.*, users.* and usergroups.*: history and threads, DMs, channel and user lookups."""

from __future__ import annotations

import base64
import copy

from .messages import MessageStore
from .protocol import ApiError, JsonDict, id_list, opt_bool, opt_int, opt_str, ts_key


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    prefix, _, digits = raw.partition(":")
    if prefix != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise ApiError("invalid_cursor")
    return int(digits[:-6]), int(digits[-6:])


class ConversationMethods(MessageStore):
    """The conversations.*, users.* and usergroups.* Web API methods."""

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        limit = opt_int(params, "limit", 100)
        limit = 100 if limit <= 0 else min(limit, 999)
        oldest = ts_key(params.get("oldest") or "0", "invalid_ts_oldest")
        latest_raw = params.get("latest")
        latest = ts_key(latest_raw, "invalid_ts_latest") if latest_raw else None
        inclusive = opt_bool(params, "inclusive")
        cursor = opt_str(params, "cursor")
        start = _decode_cursor(cursor) if cursor else None

        def wanted(message: JsonDict) -> bool:
            key = ts_key(message["ts"])
            if key < oldest or (key == oldest and not inclusive):
                return False
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                return False
            return start is None or key <= start

        found = [m for m in self._messages.get(channel, []) if self._in_history(m) and wanted(m)]
        found.sort(key=lambda m: ts_key(m["ts"]), reverse=True)
        page, more = found[:limit], found[limit:]
        include_all = opt_bool(params, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._present(m, include_all) for m in page],
            "has_more": bool(more),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": _encode_cursor(more[0]["ts"]) if more else ""},
        }

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        ts = opt_str(params, "ts")
        if not ts:
            raise ApiError("thread_not_found")
        root = self._thread_root(channel, ts)
        limit = opt_int(params, "limit", 1000)
        limit = 1000 if limit <= 0 else min(limit, 1000)
        cursor = opt_str(params, "cursor")
        start = _decode_cursor(cursor) if cursor else None
        replies = [
            r
            for r in self._replies_of(channel, root["ts"])
            if start is None or ts_key(r["ts"]) >= start
        ]
        page, more = replies[:limit], replies[limit:]
        include_all = opt_bool(params, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._present(m, include_all) for m in [root, *page]],
            "has_more": bool(more),
            "response_metadata": {"next_cursor": _encode_cursor(more[0]["ts"]) if more else ""},
        }

    def _conversations_open(self, params: JsonDict) -> JsonDict:
        users = id_list(params.get("users"))
        channel_param = opt_str(params, "channel")
        if channel_param:
            channel = self._resolve_channel(channel_param)
            existed = True
        elif not users:
            raise ApiError("users_list_not_supplied")
        else:
            for user in users:
                if user[0] not in "UW" or not user[1:].isalnum():
                    raise ApiError("user_not_found")
            others = [u for u in users if u != self.bot_user_id] or users
            if len(others) > 8:
                raise ApiError("too_many_users")
            if len(others) == 1:
                existed = ("D" + others[0][1:]) in self._channels
                channel = self._dm_channel(others[0])
            else:
                existed = frozenset(others) in self._mpims
                channel = self._mpim_channel(others)
        info = self._channels[channel]
        result: JsonDict = {"ok": True}
        if existed:
            result.update({"no_op": True, "already_open": True})
        if opt_bool(params, "return_im"):
            result["channel"] = copy.deepcopy(info)
        else:
            result["channel"] = {"id": channel}
        return result

    def _conversations_info(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        info = copy.deepcopy(self._channels[channel])
        if opt_bool(params, "include_num_members") and not info.get("is_im"):
            info["num_members"] = len(self._users)
        return {"ok": True, "channel": info}

    # ---------------------------------------------------------------- users and groups

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """A user group (S...) and its members, for usergroups.users.list."""
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def _usergroups_users_list(self, params: JsonDict) -> JsonDict:
        group = opt_str(params, "usergroup")
        if group not in self._usergroups:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(opt_str(params, "user"))
        if user is None:
            raise ApiError("user_not_found")
        out = copy.deepcopy(user)
        if opt_bool(params, "include_locale"):
            out["locale"] = "en-US"
        return {"ok": True, "user": out}

    def _users_lookup_by_email(self, params: JsonDict) -> JsonDict:
        email = opt_str(params, "email").lower()
        for user in self._users.values():
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        raise ApiError("users_not_found")
