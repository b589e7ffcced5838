"""A local OpenAI-compatible server for the tests: stdlib http.server on 127.0.0.1, any port.

It answers `POST /v1/chat/completions` as OpenAI does, records every request, and plays a script
of answers in order (then a default): a classification, an HTTP error with headers (429 with
Retry-After, 500), a slow answer, an answer held until the test releases it, malformed JSON, a
refusal. The real `openai` client talks to it over HTTP, as it would to vLLM or Ollama.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted answer: HTTP status, body and headers, after an optional wait."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None
    raw: bytes | None = None  # the body as is (garbage, HTML...) instead of JSON-encoded `body`


def classification(primary: str = "network_quality", **overrides: Any) -> dict[str, Any]:
    """A valid answer object for the classification schema."""
    data: dict[str, Any] = {
        "primary_reason": primary,
        "secondary_reasons": [],
        "confidence": 0.9,
        "sentiment": "negative",
        "severity": "medium",
        "language": "fr",
        "summary": "Customer unhappy about the reason.\nThe telling detail.",
        "suggested_action": "Check the account, then contact the customer with a date.",
        "facts": [],
        "cues": [],
    }
    data.update(overrides)
    return data


def completion(
    content: Any,
    *,
    prompt_tokens: int = 420,
    completion_tokens: int = 80,
    refusal: str | None = None,
    finish_reason: str = "stop",
    model: str = "gpt-test",
) -> dict[str, Any]:
    """A chat.completion body; `content` is JSON-encoded unless it is already a string."""
    text = content if isinstance(content, str) or content is None else json.dumps(content)
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def reply(content: Any, **kwargs: Any) -> Answer:
    """A 200 answer carrying `content` (a dict becomes JSON)."""
    return Answer(body=completion(content, **kwargs))


def error(status: int, retry_after: float | None = None, message: str = "error") -> Answer:
    """An OpenAI-style error; `retry_after` in seconds sets Retry-After (and its ms form)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    body = {"error": {"message": message, "type": "server_error", "code": None}}
    return Answer(status=status, body=body, headers=headers)


@dataclass
class Recorded:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]  # names in lowercase
    body: dict[str, Any]
    raw: str


class OpenAIStub:
    """The server; use as a context manager. `base_url` is what OPENAI_BASE_URL would be."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Answer] = deque()
        # The answer once the script is played: fixed, or computed from the request.
        self.default: Answer | Callable[[Recorded], Answer] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = stub._next(Recorded(self.path, headers, body, raw))
                try:
                    if answer.hold is not None:
                        answer.hold.wait(30)
                    if answer.delay:
                        time.sleep(answer.delay)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): as a real server sees it

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *answers: Answer) -> None:
        """Answers to give, in order, before falling back to `default`."""
        with self._lock:
            self._script.extend(answers)

    def calls(self) -> list[Recorded]:
        """Requests to the chat completions endpoint so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._script:
                return self._script.popleft()
        if callable(self.default):
            return self.default(recorded)
        if self.default is not None:
            return self.default
        return error(500, message="no scripted answer")

    @staticmethod
    def verbatim(recorded: Recorded) -> str:
        """The masked verbatim a request carried (decoded from the user message's JSON)."""
        content = recorded.body["messages"][-1]["content"]
        inner = content.split("<verdict>", 1)[1].split("</verdict>", 1)[0]
        return str(json.loads(inner)["text"])
