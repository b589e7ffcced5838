"""Send events, slash commands and interactivity payloads to a Bolt app, signed as Slack signs them
(and verdicts to the bot's own webhook, signed as its README says).

Slack signs each request with ``v0=HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}")`` in
``X-Slack-Signature`` and sends the timestamp in ``X-Slack-Request-Timestamp``; apps reject
requests whose signature does not match or whose timestamp is more than five minutes off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.intake.webhook import sign as sign_webhook

__all__ = ["SentResponse", "SlackRequestSender", "send_webhook", "sign"]

_ID_ALPHABET = string.ascii_uppercase + string.digits


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode("utf-8") + b":" + body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


@dataclass
class SentResponse:
    """What the app answered (any status: non-2xx answers are returned, not raised)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body.strip() else None

    def header(self, name: str) -> str | None:
        """A response header, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class SlackRequestSender:
    """Posts Slack-signed requests to an app's endpoint (e.g. ``http://127.0.0.1:3000/slack/events``)."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        team_id: str = "T0TEAM",
        api_app_id: str = "A0APP",
        token: str = "verification-token",
        bot_user_id: str = "U0BOT",
        team_domain: str = "sandbox",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.token = token
        self.bot_user_id = bot_user_id
        self.team_domain = team_domain
        self.timeout = timeout

    # ------------------------------------------------------------------ transport

    def send_raw(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        forge: bool = False,
        extra_headers: dict[str, str] | None = None,
    ) -> SentResponse:
        """POST a body signed with the secret (a wrong one when ``forge``) at ``timestamp``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        secret = self.signing_secret + "-forged" if forge else self.signing_secret
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "Accept": "*/*",
        }
        headers.update(extra_headers or {})
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
                response_headers = dict(response.headers.items())
        except urllib.error.HTTPError as error:
            raw = error.read()
            status = error.code
            response_headers = dict(error.headers.items()) if error.headers else {}
        return SentResponse(
            status=status,
            body=raw.decode("utf-8", "replace"),
            headers=response_headers,
            elapsed=time.monotonic() - started,
        )

    # ------------------------------------------------------------------ Events API

    def envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """Wrap an event in the ``event_callback`` envelope Slack posts."""
        event_ts = str(event.get("event_ts") or event.get("ts") or "")
        event_time = int(float(event_ts)) if event_ts else int(time.time())
        context = {
            "et": event.get("type", ""),
            "tid": self.team_id,
            "aid": self.api_app_id,
            "cid": event.get("channel", ""),
        }
        encoded = base64.urlsafe_b64encode(json.dumps(context, separators=(",", ":")).encode())
        return {
            "token": self.token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(9)),
            "event_time": event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + encoded.decode().rstrip("="),
        }

    def send_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
        forge: bool = False,
    ) -> SentResponse:
        """Deliver an event (retry_num adds Slack's ``X-Slack-Retry-Num``/``-Reason`` headers)."""
        body = json.dumps(self.envelope(event, event_id=event_id)).encode("utf-8")
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send_raw(
            body, "application/json", timestamp=timestamp, forge=forge, extra_headers=extra
        )

    def send_url_verification(
        self, challenge: str, *, timestamp: int | None = None, forge: bool = False
    ) -> SentResponse:
        """The ``url_verification`` handshake Slack sends when the Request URL is saved."""
        body = json.dumps(
            {"token": self.token, "challenge": challenge, "type": "url_verification"}
        ).encode("utf-8")
        return self.send_raw(body, "application/json", timestamp=timestamp, forge=forge)

    # ------------------------------------------------------------------ commands & interactivity

    def send_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        user_name: str = "",
        channel_name: str = "",
        response_url: str = "",
        trigger_id: str = "",
        team_domain: str | None = None,
        is_enterprise_install: bool = False,
        timestamp: int | None = None,
        forge: bool = False,
    ) -> SentResponse:
        """Run a slash command, form-encoded with every field Slack sends.

        An empty ``trigger_id`` is replaced by a realistic one, since Slack always sends one.
        """
        fields = {
            "token": self.token,
            "team_id": self.team_id,
            "team_domain": team_domain or self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command if command.startswith("/") else "/" + command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "true" if is_enterprise_install else "false",
            "response_url": response_url,
            "trigger_id": trigger_id or _trigger_id(),
        }
        body = urlencode(fields).encode("utf-8")
        return self.send_raw(
            body, "application/x-www-form-urlencoded", timestamp=timestamp, forge=forge
        )

    def send_interactivity(
        self, payload: dict[str, Any], *, timestamp: int | None = None, forge: bool = False
    ) -> SentResponse:
        """Post an interactivity payload (block_actions, view_submission, message_action…)."""
        body = urlencode({"payload": json.dumps(payload)}).encode("utf-8")
        return self.send_raw(
            body, "application/x-www-form-urlencoded", timestamp=timestamp, forge=forge
        )


def send_webhook(
    url: str,
    data: Any,
    secret: str,
    *,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> SentResponse:
    """POST verdicts (JSON-encoded unless bytes) to the webhook at `url`, signed with `secret`
    as the README tells senders to sign (any status is returned, not raised)."""
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Triage-Timestamp": stamp,
            "X-Triage-Signature": sign_webhook(secret, stamp, body),
            **(headers or {}),
        },
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, answered = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
        answered = dict(error.headers.items()) if error.headers else {}
    return SentResponse(
        status, raw.decode("utf-8", "replace"), answered, time.monotonic() - started
    )


def _trigger_id() -> str:
    digits = "".join(secrets.choice(string.digits) for _ in range(11))
    return f"{int(time.time() * 1000) % 10**13}.{digits}.{secrets.token_hex(16)}"
