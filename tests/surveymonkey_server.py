"""A local stand-in of SurveyMonkey's API v3 for the tests: stdlib http.server on 127.0.0.1.

It serves the documented `GET /v3/surveys/{id}/details` and
`GET /v3/surveys/{id}/responses/{id}/details` answers from tests/data/connectors/surveymonkey/api/
(routes as in that folder's manifest), checks the bearer token, records every request, and can
be told to fail the next requests with SurveyMonkey's documented error bodies (500, 429)."""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API = Path(__file__).resolve().parent / "data" / "connectors" / "surveymonkey" / "api"


class SurveyMonkeyStandIn:
    """`with SurveyMonkeyStandIn(token) as api:`; `api.url` is the base URL (…/v3)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[str] = []
        self.failures: deque[int] = deque()  # statuses to answer next, in order
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {stand_in.token}":
                    self._send(401, b'{"error": {"id": "1011", "http_status_code": 401}}')
                    return
                if stand_in.failures:
                    status = stand_in.failures.popleft()
                    headers = {"Retry-After": "1"} if status == 429 else {}
                    documented = API / f"error_{status}.json"
                    body = (
                        documented.read_bytes()
                        if documented.is_file()
                        else b'{"error": {"id": "1000", "http_status_code": %d}}' % status
                    )
                    self._send(status, body, headers)
                    return
                file = API / (self.path.strip("/") + ".json")
                if ".." in self.path or not file.is_file():
                    self._send(404, b'{"error": {"id": "1020", "http_status_code": 404}}')
                    return
                self._send(200, file.read_bytes())

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v3"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SurveyMonkeyStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
