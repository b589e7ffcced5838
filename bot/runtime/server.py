"""Running the bot: gunicorn for production HTTP, a threaded loopback server for the sandbox and
tests, and Socket Mode for firewalled installs."""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.runtime import logs
from bot.runtime.app import build_runtime, create_bolt_app, create_web_app
from bot.runtime.runtime import Runtime
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class LocalServer:
    """The WSGI app on a loopback port in a thread; `url` is its base address."""

    def __init__(
        self, wsgi_app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._server = make_server(
            host, port, wsgi_app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="triage-http", daemon=True
        )

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_local(
    rt: Runtime, host: str = "127.0.0.1", port: int = 0, *, background: bool = True
) -> LocalServer:
    """Serve the bot over HTTP on loopback (sandbox, tests) and start its background worker
    (unless `background` is off: `triage worker` processes do that work)."""
    server = LocalServer(create_web_app(rt), host, port).start()
    if background:
        rt.worker.start()
    return server


# Slack's events and clicks answered at once over the WebSocket (Bolt's default).
SOCKET_MODE_THREADS = 10


def run_socket_mode(rt: Runtime, *, background: bool = True) -> None:
    """Connect to Slack over a WebSocket (no public URL needed) until interrupted."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if background:
        rt.worker.start()
    handler = SocketModeHandler(
        create_bolt_app(rt), rt.settings.slack_app_token, concurrency=SOCKET_MODE_THREADS
    )
    settle_memory()
    handler.start()


def settle_memory() -> None:
    """Collect once, then exempt everything built so far (modules, the taxonomy, the offline
    classifier's index, the Bolt app) from later collections. A full collection of it takes
    about 130 ms with every thread of the process stopped: Python runs one now and then, and
    the acks caught in it waited that long. What requests allocate is still collected."""
    gc.collect()
    gc.freeze()


def run_gunicorn(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    threads: int,
    *,
    background: bool = True,
) -> None:
    """Production HTTP: gunicorn workers, each with its own runtime and background worker
    (unless `background` is off)."""
    from gunicorn.app.base import BaseApplication

    class _Application(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("accesslog", None)
            self.cfg.set("logconfig_dict", logs.gunicorn_config())
            # A dead worker's counters stay in the sum, its gauges go (prometheus_client).
            self.cfg.set("child_exit", _forget_worker_metrics)

        def load(self) -> Callable[..., Any]:
            # Runs in each worker after the fork: connections and threads must not cross a fork.
            rt = build_runtime(settings, request_threads=threads)
            if background:
                rt.worker.start()
            application = create_web_app(rt)
            settle_memory()
            return application

    _Application().run()


def _forget_worker_metrics(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
