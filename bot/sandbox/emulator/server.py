"""The HTTP server and routing: /api/ dispatch (auth, faults, recording), uploads, response_urls
and file downloads."""

from __future__ import annotations

import contextlib
import copy
import socketserver
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from .faults import FaultInjection
from .files import FileMethods
from .mentions import CHECKED_METHODS
from .protocol import ApiError, JsonDict, Reply, decode_json_fields, json_reply, parse_params
from .records import ApiCall
from .responses import ResponseUrls


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server; its handler threads pass every request to ``emulator``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: ApiServer) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds where
        # there is no DNS; the name is never used.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackEmulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # Tests and the demo print their own output; request logs would drown it.
        return

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        emulator = cast(EmulatorServer, self.server).emulator
        status, out_headers, payload = emulator._handle_http(verb, self.path, headers, body)
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class ApiServer(FaultInjection, FileMethods, ResponseUrls):
    """Answers each HTTP request the server receives; api.test and auth.test too."""

    def _handle_http(
        self, verb: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            if path.startswith("/api/"):
                return self._handle_api(path[len("/api/") :], parts.query, headers, body)
            if path.startswith("/upload/"):
                return self._handle_upload(path[len("/upload/") :], body)
            if path.startswith("/response/"):
                return self._handle_response_url(path[len("/response/") :], body)
            if path.startswith("/files/"):
                return self._handle_file_download(path[len("/files/") :], headers)
        except Exception as exc:
            # Report emulator bugs to the client instead of dropping the connection.
            return json_reply(500, {"ok": False, "error": "fatal_error", "detail": repr(exc)})
        return json_reply(404, {"ok": False, "error": "not_found"})

    def _handle_api(
        self, method: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        parse_error: ApiError | None = None
        try:
            params = parse_params(query, headers, body)
        except ApiError as exc:
            params, parse_error = {}, exc
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        param_token = params.pop("token", None)
        token = token or str(param_token or "")

        with self._changed:
            fault = None if self._down else self._take_fault(method)
            if fault is not None and fault.after_effect:
                handler = self._methods.get(method)
                if handler is not None and token == self.token and parse_error is None:
                    decode_json_fields(params)
                    # The answer is replaced by the fault below, whatever the handler says.
                    with contextlib.suppress(ApiError):
                        handler(params)
            if self._down or fault is not None:
                reply, payload = self._fault_reply(fault)
                self._record(method, params, reply[0], payload, faulted=True)
                return reply
            handler = self._methods.get(method)
            try:
                if parse_error is not None:
                    raise parse_error
                if handler is None:
                    raise ApiError("unknown_method")
                if method != "api.test":
                    if not token:
                        raise ApiError("not_authed")
                    if token != self.token:
                        raise ApiError("invalid_auth")
                decode_json_fields(params)
                if method in CHECKED_METHODS:
                    self._check_mentions(method, params)
                result = handler(params)
            except ApiError as exc:
                result = exc.payload()
            self._record(method, params, 200, result)
            return json_reply(200, result)

    def _record(
        self,
        method: str,
        params: JsonDict,
        status: int,
        response: JsonDict,
        *,
        faulted: bool = False,
    ) -> None:
        self.calls.append(
            ApiCall(
                method=method,
                params=copy.deepcopy(params),
                time=time.time(),
                faulted=faulted,
                status=status,
                response=copy.deepcopy(response),
            )
        )
        self._changed.notify_all()

    def _api_test(self, params: JsonDict) -> JsonDict:
        if params.get("error"):
            raise ApiError(str(params["error"]), args=params)
        return {"ok": True, "args": params}

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": self.web_url,
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }
