"""``SlackEmulator``: the parts put together, the Web API method table, and starting and stopping.

The table in ``_api_methods`` says which method answers which Web API call; for example
chat.postMessage is ``ChatMethods._chat_post_message`` in ``chat.py``.
"""

from __future__ import annotations

import threading

from .chat import ChatMethods
from .conversations import ConversationMethods
from .interactions import Interactions
from .protocol import ApiHandler
from .queries import Queries
from .server import ApiServer, EmulatorServer
from .transcript import Transcript


class SlackEmulator(ApiServer, ChatMethods, ConversationMethods, Interactions, Queries, Transcript):
    """An in-process Slack workspace served over HTTP for the real slack_sdk WebClient."""

    def _api_methods(self) -> dict[str, ApiHandler]:
        """The Web API methods answered, by name."""
        return {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "files.upload": self._files_upload_v1,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> SlackEmulator:
        """Start serving in a daemon thread (idempotent); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = EmulatorServer((self._host, self._port), self)
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="slack-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
