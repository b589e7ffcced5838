"""A check on what the bot sends: special mentions, people, channels and links it did not mean.

Slack turns `<!channel>`, `<!here>`, `<!everyone>` and `<!subteam^ID>` into notifications for
many people, `<@U…>` into a ping, and `<https://…|label>` into a link that may lie about where
it goes. Text from outside (a verdict, a note, the LLM) reaching Slack unescaped shows up here.
With `strict_mentions`, every such token in an outgoing message, view or response is checked
against what the bot legitimately sends: people and channels of the workspace, user groups
allowed by the test, and links into the workspace itself; anything else is recorded as a
violation, which the test harness fails the test on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .workspace import Workspace

_TOKEN = re.compile(r"<([^<>\s][^<>]*)>")
CHECKED_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
    }
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class MentionCheck(Workspace):
    """Scans outgoing content when `strict_mentions` is on; violations go to
    `mention_violations` (method, token)."""

    def _allowed(self, token: str) -> bool:
        target = token.split("|", 1)[0]
        if target.startswith("!"):
            name = target[1:]
            if name.startswith("date^"):
                return True
            if name.startswith("subteam^"):
                group = name[len("subteam^") :]
                # The workspace's user groups (a team's managers may be one) and any the test
                # allows; a group nobody created is text from outside.
                return group in self.allowed_subteams or group in self._usergroups
            return False  # channel, here, everyone: the bot never pings them
        if target.startswith("@"):
            return target[1:] in self._users or target[1:] == self.bot_user_id
        if target.startswith("#"):
            return target[1:] in self._channels
        if target.startswith(("http://", "https://")):
            return target.startswith((self.web_url, *self.allowed_links))
        return False  # mailto:, tel: and anything else Slack would render specially

    def _check_mentions(self, method: str, content: Any) -> None:
        if not self.strict_mentions:
            return
        for text in _strings(content):
            for match in _TOKEN.finditer(text):
                if not self._allowed(match.group(1)):
                    self.mention_violations.append((method, match.group(0)[:200]))
