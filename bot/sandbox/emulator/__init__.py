"""A local Slack Web API emulator for tests and the sandbox demo.

It answers the Web API methods the bot uses with Slack's response shapes and error codes, so the
real ``slack_sdk.WebClient(token=..., base_url=emulator.api_url)`` works against it unchanged. It
also builds the payloads Slack would send the app (message events, button clicks, shortcuts, view
submissions) and renders the workspace as text, the way a person would see it.

Where things are: ``core`` puts ``SlackEmulator`` together and maps each Web API method to the
module answering it (``chat``, ``conversations``, ``views``, ``files``); ``server`` routes HTTP
requests, ``faults`` fails them on purpose, ``responses`` serves response_urls; ``events`` and
``interactions`` play the people; ``queries`` and ``transcript`` read the state back for tests.
"""

from __future__ import annotations

from .blocks import validate_blocks
from .core import SlackEmulator
from .records import ApiCall, ResponsePost
from .render import render_blocks

__all__ = [
    "ApiCall",
    "ResponsePost",
    "SlackEmulator",
    "render_blocks",
    "validate_blocks",
]
