"""The one place that talks to Slack's Web API; errors come out sorted into retry or give up."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.runtime import metrics

log = logging.getLogger(__name__)

# Errors that no retry can fix: the request itself is wrong, or the bot lacks access.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "user_not_found",
        "message_not_found",
        "cant_update_message",
        "thread_not_found",
        "invalid_arguments",
        "restricted_action",
        "too_many_attachments",
    }
)


INTERACTIVE_TIMEOUT = 2  # seconds


class SlackDeliveryError(Exception):
    """A Web API call failed; `permanent` says whether trying again can help."""

    def __init__(
        self, method: str, error: str, *, permanent: bool, retry_after: float | None = None
    ):
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.permanent = permanent
        self.retry_after = retry_after


class SlackPaced(SlackDeliveryError):
    """The channel has no free slot in Slack's posting pace yet (nothing was sent)."""

    def __init__(self, channel: str, wait: float) -> None:
        super().__init__("chat.postMessage", "paced", permanent=False, retry_after=wait)
        self.channel = channel


class Pace(Protocol):
    """Slack's per-channel posting pace (bot.pace.ChannelPace), shared by every process."""

    def take(self, channel: str) -> None: ...

    def hold(self, channel: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in this workspace (from auth.test)."""

    user_id: str
    bot_id: str
    team_id: str
    url: str = "https://slack.com/"  # the workspace's address, for links to messages
    enterprise_id: str = ""  # the Enterprise Grid org, when the install is in one


def make_web_client(token: str | None, api_url: str | None, *, timeout: int = 10) -> WebClient:
    """A WebClient aimed at SLACK_API_URL when set, retrying connection errors only."""
    if api_url:
        return WebClient(token=token, base_url=api_url, timeout=timeout)
    return WebClient(token=token, timeout=timeout)


class SlackGateway:
    """Wraps every Web API method the bot uses; durable writes go through the outbox first."""

    def __init__(self, client: WebClient, pace: Pace | None = None) -> None:
        self.client = client
        # Set by the runtime once the database is open: every post waits for its channel's slot.
        self.pace = pace
        # For calls made while Slack waits for our ack (modals, ephemerals, a user group's
        # members): a short timeout and no retry, so the ack stays inside Slack's 3 seconds
        # whatever the Web API does (a trigger_id is dead after 3 seconds anyway).
        self._interactive = WebClient(
            token=client.token, base_url=client.base_url, timeout=INTERACTIVE_TIMEOUT
        )

    def _call(self, method: str, client: WebClient | None = None, **params: Any) -> dict[str, Any]:
        # Every Web API call passes here: the one place to count them by method and error.
        with metrics.Timer() as timer:
            try:
                data = self._request(method, client, **params)
            except SlackDeliveryError as exc:
                error = "connection" if exc.error.startswith("connection") else exc.error
                metrics.SLACK_CALLS.labels(method, error).inc()
                raise
        metrics.SLACK_CALLS.labels(method, "ok").inc()
        metrics.SLACK_SECONDS.labels(method).observe(timer.seconds)
        return data

    def _request(
        self, method: str, client: WebClient | None = None, **params: Any
    ) -> dict[str, Any]:
        # The SDK's own method picks the encoding Slack wants (JSON, form or query string).
        function = getattr(client or self.client, method.replace(".", "_"))
        try:
            response = function(**params)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error") or f"http_{status}")
            retry_after: float | None = None
            if status == 429:
                header = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                retry_after = float(header[0] if isinstance(header, list) else header or 1)
                raise SlackDeliveryError(
                    method, "ratelimited", permanent=False, retry_after=retry_after
                ) from exc
            permanent = status < 500 and error in PERMANENT_ERRORS
            raise SlackDeliveryError(method, error, permanent=permanent) from exc
        except (SlackClientError, OSError) as exc:
            raise SlackDeliveryError(method, f"connection: {exc}", permanent=False) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    def identity(self) -> BotIdentity:
        """Ask Slack who the token belongs to (auth.test)."""
        data = self._call("auth.test")
        return BotIdentity(
            user_id=str(data.get("user_id", "")),
            bot_id=str(data.get("bot_id", "")),
            team_id=str(data.get("team_id", "")),
            url=str(data.get("url") or "https://slack.com/"),
            enterprise_id=str(data.get("enterprise_id") or ""),
        )

    def user_exists(self, user_id: str) -> bool | None:
        """Whether Slack knows this person as an active member (users.info): False for
        user_not_found or a deactivated account, None when Slack could not say (an outage)."""
        try:
            data = self._call("users.info", user=user_id)
        except SlackDeliveryError as exc:
            if exc.error in ("user_not_found", "users_not_found", "invalid_arguments"):
                return False
            return None
        user = data.get("user")
        return isinstance(user, dict) and not user.get("deleted", False)

    def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        broadcast: bool = False,
    ) -> str:
        """chat.postMessage; returns the new message's ts (`broadcast`: a thread reply also shown
        in the channel)."""
        params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
            if broadcast:
                params["reply_broadcast"] = True
        if metadata:
            params["metadata"] = metadata
        if self.pace is not None:
            self.pace.take(channel)  # raises SlackPaced: the caller retries after the wait
        return str(self._call("chat.postMessage", **params)["ts"])

    def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """chat.update of a message the bot posted."""
        self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks or [])

    def find_by_metadata(self, channel: str, event_type: str, key: str, value: Any) -> str | None:
        """The ts of a recent bot message carrying this metadata (to adopt a post already made)."""
        data = self._call(
            "conversations.history", channel=channel, limit=100, include_all_metadata=True
        )
        for message in data.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get(key) == value:
                return str(message["ts"])
        return None

    def find_reply_by_metadata(
        self, channel: str, thread_ts: str, event_type: str, key: str, value: Any
    ) -> str | None:
        """The ts of a reply in a thread carrying this metadata (to adopt a reply already made)."""
        data = self._call(
            "conversations.replies",
            channel=channel,
            ts=thread_ts,
            limit=1000,
            include_all_metadata=True,
        )
        for message in data.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get(key) == value:
                return str(message["ts"])
        return None

    def permalink(self, channel: str, ts: str) -> str:
        """chat.getPermalink: a link to a message that opens it (and its thread) in Slack."""
        return str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """views.open within the trigger's 3 seconds; returns the view id."""
        data = self._call("views.open", client=self._interactive, trigger_id=trigger_id, view=view)
        return str((data.get("view") or {}).get("id", ""))

    def download_file(self, file_id: str, max_bytes: int) -> tuple[str, bytes]:
        """A file shared in Slack: its name and bytes (refused above `max_bytes`)."""
        info = self._call("files.info", file=file_id).get("file") or {}
        name = str(info.get("name") or file_id)
        size = int(info.get("size") or 0)
        if size > max_bytes:
            raise SlackDeliveryError("files.info", f"file_too_large ({size} bytes)", permanent=True)
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self.client.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.client.timeout) as response:
                data = response.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise SlackDeliveryError(
                "files.download", f"http_{exc.code}", permanent=exc.code < 500
            ) from exc
        except OSError as exc:
            raise SlackDeliveryError(
                "files.download", f"connection: {exc}", permanent=False
            ) from exc
        if len(data) > max_bytes:
            raise SlackDeliveryError("files.download", "file_too_large", permanent=True)
        return name, data

    def upload_file(
        self,
        channel: str,
        filename: str,
        content: bytes,
        *,
        title: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Share a file in a channel or DM with Slack's current upload flow
        (files.getUploadURLExternal, the upload, files.completeUploadExternal); returns its id."""
        params: dict[str, Any] = {"channel": channel, "filename": filename, "content": content}
        if title:
            params["title"] = title
        if initial_comment:
            params["initial_comment"] = initial_comment
        if thread_ts:
            params["thread_ts"] = thread_ts
        if self.pace is not None:
            self.pace.take(channel)  # a shared file is a message in the channel: same pace
        data = self._call("files.upload_v2", **params)
        files = data.get("files") or [data.get("file") or {}]
        return str(files[0].get("id", "")) if files else ""

    def respond(
        self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> bool:
        """Answer a slash command or a click privately through its response_url (best effort)."""
        try:
            response = WebhookClient(response_url, timeout=self.client.timeout).send(
                text=text, blocks=blocks, response_type="ephemeral"
            )
        except (SlackClientError, OSError) as exc:
            log.warning("response_url answer not delivered: %s", exc)
            return False
        if response.status_code >= 300:
            log.warning("response_url answer refused: HTTP %s", response.status_code)
            return False
        return True

    def open_dm(self, user_id: str) -> str:
        """The id of the bot's direct-message channel with a person (conversations.open)."""
        return str(self._call("conversations.open", users=user_id)["channel"]["id"])

    def usergroup_members(self, group_id: str) -> set[str]:
        """The user ids in a user group (usergroups.users.list)."""
        return {
            str(u)
            for u in self._call(
                "usergroups.users.list", client=self._interactive, usergroup=group_id
            ).get("users", [])
        }

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """views.publish: a user's App Home tab."""
        self._call("views.publish", user_id=user_id, view=view)

    def post_ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> bool:
        """chat.postEphemeral, best effort: a person is waiting, so it is not queued; logs failures."""
        params: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            params["thread_ts"] = thread_ts
        try:
            self._call("chat.postEphemeral", client=self._interactive, **params)
        except SlackDeliveryError as exc:
            log.warning("ephemeral to %s in %s not delivered: %s", user, channel, exc)
            return False
        return True
