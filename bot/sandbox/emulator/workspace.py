"""The emulated workspace: settings, users and channels, stored state, generated ids and timestamps.

``Workspace`` is the base of every part of ``SlackEmulator`` and holds all the state they share.
"""

from __future__ import annotations

import copy
import random
import re
import string
import threading
import time
from typing import TYPE_CHECKING, Any

from .blocks import BLOCK_ID_ALPHABET
from .protocol import ApiError, ApiHandler, JsonDict
from .records import ApiCall, Fault, ResponsePost, Trigger
from .timezones import tz_fields

if TYPE_CHECKING:
    from .server import EmulatorServer


_ID_ALPHABET = string.ascii_uppercase + string.digits


class Workspace:
    """Settings and state of the emulated workspace; ``SlackEmulator``'s constructor is here."""

    def __init__(
        self,
        token: str = "xoxb-emulator",
        *,
        team_id: str = "T0TEAM",
        team: str = "Sandbox",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "sandbox-bot",
        verification_token: str = "verification-token",
        strict_triggers: bool = False,
        timezone: str = "UTC",
        strict_mentions: bool = False,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team = team
        self.team_domain = re.sub(r"[^a-z0-9-]", "", team.lower()) or "sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.verification_token = verification_token
        # When True, views.open/push only accept trigger_ids the emulator issued, once, within
        # three seconds, as Slack does; by default any non-empty trigger_id is accepted.
        self.strict_triggers = strict_triggers
        self.web_url = f"https://{self.team_domain}.slack.test/"
        # The IANA zone the transcript shows times in (a reader's Slack shows their own).
        self.timezone = timezone
        self.calls: list[ApiCall] = []
        # When True, special mentions, unknown people and foreign links in what the bot sends
        # are recorded in `mention_violations` (see mentions.py).
        self.strict_mentions = strict_mentions
        self.allowed_subteams: set[str] = set()
        self.allowed_links: list[str] = []
        self.mention_violations: list[tuple[str, str]] = []

        self._host = host
        self._port = port
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # A fixed seed keeps generated ids identical from run to run.
        self._rng = random.Random(0x51ACC)
        self._last_us = 0

        self._users: dict[str, JsonDict] = {}
        self._channels: dict[str, JsonDict] = {}
        self._messages: dict[str, list[JsonDict]] = {}
        self._index: dict[tuple[str, str], JsonDict] = {}
        self._ephemerals: list[JsonDict] = []
        self._views: dict[str, JsonDict] = {}
        self._opened: list[str] = []
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, Trigger] = {}
        self._files: dict[str, JsonDict] = {}
        self._response_urls: dict[str, JsonDict] = {}
        self._responses: list[ResponsePost] = []
        self._faults: list[Fault] = []
        self._usergroups: dict[str, list[str]] = {}
        self._down = False
        self._mpims: dict[frozenset[str], str] = {}

        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        # Filled in by SlackEmulator, which knows every part that answers a method.
        self._methods: dict[str, ApiHandler] = self._api_methods()

    def _api_methods(self) -> dict[str, ApiHandler]:
        """The Web API methods answered, by name; SlackEmulator lists them."""
        return {}

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL (with the trailing slash slack_sdk's ``base_url`` wants)."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------- users and channels

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> JsonDict:
        """Create (or replace) a channel; returns its conversations.info object."""
        name = name.lstrip("#")
        now = int(time.time())
        channel: JsonDict = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "created": now,
            "is_archived": False,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "is_member": True,
            "creator": self.bot_user_id,
            "context_team_id": self.team_id,
            "updated": now * 1000,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        with self._lock:
            self._channels[channel_id] = channel
            self._messages.setdefault(channel_id, [])
            return copy.deepcopy(channel)

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        tz: str = "Europe/Paris",
        is_bot: bool = False,
        email: str = "",
        bot_id: str = "",
    ) -> JsonDict:
        """Create (or replace) a user; returns its users.info object. `bot_id`: the id a bot
        user's messages carry (the app's own bot user gets the emulator's)."""
        real_name = real_name or name
        first, _, last = real_name.partition(" ")
        tz_label, tz_offset = tz_fields(tz)
        avatar = f"https://avatars.slack.test/{user_id.lower()}"
        profile: JsonDict = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": "" if is_bot else name,
            "display_name_normalized": "" if is_bot else name,
            "fields": None,
            "status_text": "",
            "status_emoji": "",
            "status_emoji_display_info": [],
            "status_expiration": 0,
            "avatar_hash": f"g{abs(hash(user_id)) % 16**11:011x}",
            "first_name": first,
            "last_name": last,
            "image_24": f"{avatar}_24.png",
            "image_32": f"{avatar}_32.png",
            "image_48": f"{avatar}_48.png",
            "image_72": f"{avatar}_72.png",
            "image_192": f"{avatar}_192.png",
            "image_512": f"{avatar}_512.png",
            "status_text_canonical": "",
            "team": self.team_id,
        }
        if is_bot:
            profile.update(
                {
                    "api_app_id": self.app_id if user_id == self.bot_user_id else "",
                    "always_active": True,
                    "bot_id": self.bot_id if user_id == self.bot_user_id else bot_id,
                }
            )
        else:
            profile["email"] = email
        user: JsonDict = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "is_email_confirmed": bool(email),
            "who_can_share_contact_card": "EVERYONE",
        }
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def dm_channel_id(self, user_id: str) -> str:
        """The id of the bot's DM with this user (stable, created on demand)."""
        with self._lock:
            return self._dm_channel(user_id)

    def _dm_channel(self, user_id: str) -> str:
        channel_id = "D" + user_id[1:]
        if channel_id not in self._channels:
            self._channels[channel_id] = {
                "id": channel_id,
                "created": int(time.time()),
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": int(time.time() * 1000),
                "user": user_id,
                "is_user_deleted": False,
                "priority": 0,
                "is_open": True,
            }
            self._messages.setdefault(channel_id, [])
        return channel_id

    def _mpim_channel(self, users: list[str]) -> str:
        key = frozenset(users)
        existing = self._mpims.get(key)
        if existing is not None:
            return existing
        channel_id = self._new_id("G", 10)
        names = sorted(self._user_name(u) for u in users)
        name = "mpdm-" + "--".join(names) + "-1"
        self.add_channel(channel_id, name, is_private=True)
        self._channels[channel_id].update({"is_mpim": True, "is_group": False})
        self._mpims[key] = channel_id
        return channel_id

    def _resolve_channel(self, value: Any) -> str:
        channel = str(value or "").strip()
        if not channel:
            raise ApiError("channel_not_found")
        if channel in self._channels:
            return channel
        if channel[0] in "UW" and channel[1:].isalnum():
            # Slack opens the DM when a message is addressed to a user id.
            return self._dm_channel(channel)
        name = channel.lstrip("#")
        for channel_id, info in self._channels.items():
            if info.get("name") == name:
                return channel_id
        raise ApiError("channel_not_found")

    def _channel_type(self, channel_id: str) -> str:
        info = self._channels.get(channel_id, {})
        if info.get("is_im"):
            return "im"
        if info.get("is_mpim"):
            return "mpim"
        return "group" if info.get("is_private") else "channel"

    def _channel_name(self, channel_id: str) -> str:
        info = self._channels.get(channel_id, {})
        if info.get("is_im"):
            return "directmessage"
        return str(info.get("name", channel_id))

    def _user_name(self, user_id: str) -> str:
        user = self._users.get(user_id)
        return str(user["name"]) if user else user_id

    def _bot_name(self, bot_id: str, username: str = "") -> str:
        """How a bot's message is signed: its bot user's real name (as Slack shows it), else
        the username it posted with, a user id among them resolved."""
        for user in self._users.values():
            if bot_id and user.get("is_bot") and user["profile"].get("bot_id") == bot_id:
                return str(user["real_name"])
        if username in self._users:
            return str(self._users[username]["real_name"])
        return username or bot_id

    # ---------------------------------------------------------------- ids & time

    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1000
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _random(self, alphabet: str, length: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def _new_id(self, prefix: str, length: int) -> str:
        taken = set(self._views) | set(self._files) | set(self._channels)
        while True:
            candidate = prefix + self._random(_ID_ALPHABET, length)
            if candidate not in taken:
                return candidate

    def _new_hash(self) -> str:
        return f"{int(time.time())}.{self._random(BLOCK_ID_ALPHABET, 8)}"
