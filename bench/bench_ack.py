"""Ack latency: a signed slash command and a signed button click, 50 concurrent clients on
loopback, against `triage serve` (gunicorn) beside a minimal Bolt app on the same server type.

    .venv/bin/python bench/bench_ack.py [--requests 4000] [--clients 50] [--database-url URL]

Both servers run gunicorn with the same workers and threads; the minimal app verifies Slack's
signature and acks, nothing else. The bot decides each click on a read: a claim that may
succeed is recorded (one row) before the ack and applied by its background thread, which then
delivers the card update and thread reply; a click on a case someone owns or clicked first
writes nothing, and its private note is sent after the ack, in the gaps between requests.

The measurement is interleaved: `--rounds` rounds, each sending a slice of the requests to the
bot and to the minimal app in turn (which goes first alternates), so both meet the same machine.
Before each slice (of either app) the bot's outbox is drained and its private notes delivered,
so no slice meets work the bot deferred during an earlier one. The Slack emulator runs in a
process of its own, as Slack is not in the client's process either. Prints p50/p99 per request
kind for both, the p99 ratio, and each server's CPU per request during its slices.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.managers import BaseManager
from pathlib import Path
from statistics import quantiles

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.databases import Databases  # noqa: E402
from bot.cases.card import CLAIM_ACTION  # noqa: E402
from bot.runtime.settings import normalise_database_url  # noqa: E402
from bot.sandbox.emulator import SlackEmulator  # noqa: E402
from bot.sandbox.signing import SlackRequestSender, send_webhook  # noqa: E402
from storage.db import make_engine  # noqa: E402

TOKEN = "xoxb-bench"
SECRET = secrets.token_hex(16)
WEBHOOK_SECRET = "bench-webhook"

MINIMAL_APP_TEMPLATE = """
import os
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

app = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    authorize=lambda **kw: AuthorizeResult(enterprise_id=None, team_id="T0TEAM", bot_token="xoxb-x"),
    process_before_response=True,
    token_verification_enabled=False,
)

@app.command("/triage")
def command(ack):
    ack(text="ok")

@app.action("%s")
def claim(ack):
    ack()

handler = SlackRequestHandler(app)

def application(environ, start_response):
    return handler(environ, start_response)
"""


MINIMAL_APP = MINIMAL_APP_TEMPLATE.replace("%s", CLAIM_ACTION)


class _Emulator(SlackEmulator):
    def serve(self) -> str:
        """Start the emulator in the manager's process; returns its Web API URL."""
        self.start()
        return self.api_url

    def ephemeral_count(self) -> int:
        """How many private notes the bot has shown so far."""
        return len(self.ephemerals())


class _Manager(BaseManager):
    pass


_Manager.register(
    "Emulator",
    _Emulator,
    exposed=(
        "serve",
        "stop",
        "add_channel",
        "add_user",
        "click",
        "channel_messages",
        "ephemeral_count",
    ),
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # any HTTP answer: the server is up
                return
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _measure(pool: ThreadPoolExecutor, send: Callable[[int], int], numbers: range) -> list[float]:
    def one(n: int) -> float:
        start = time.perf_counter()
        status = send(n)
        elapsed = time.perf_counter() - start
        if status != 200:
            raise SystemExit(f"request answered {status}")
        return elapsed

    return list(pool.map(one, numbers))


def _drain(url: str, emulator: _Emulator, clicks: int, timeout: float = 120) -> None:
    """Wait until the bot has done everything it deferred: no claim waits to be applied, its
    outbox holds nothing pending, and every refused click among the `clicks` sent so far has had
    its private note."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                query = (
                    "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
                    " + (SELECT count(*) FROM pending_claims)"
                )
                pending = connection.execute(text(query)).scalar()
                query = "SELECT count(*) FROM cases WHERE owner_id IS NOT NULL"
                claimed = connection.execute(text(query)).scalar() or 0
            if not pending and emulator.ephemeral_count() >= clicks - claimed:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise SystemExit("the bot's outbox did not drain")


def _cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the processes of a process group (Linux)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _p(values: list[float]) -> tuple[float, float]:
    cuts = quantiles(values, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Ack latency of a slash command and a button click under concurrent clients, "
        "the bot beside a minimal Bolt app on the same server in the same run."
    )
    # A p99 rests on its slowest 1%: 40 requests of 4,000 in ten interleaved rounds vary less
    # from run to run than 20 of 2,000 in five, for both apps alike.
    parser.add_argument("--requests", type=int, default=4000, help="per kind (default 4000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="per worker (default 8)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; a PostgreSQL URL gets a fresh schema, dropped after",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    databases = Databases(
        normalise_database_url(args.database_url) if args.database_url else None, tmp
    )
    try:
        _run(args, tmp, databases.fresh())
    finally:
        databases.close()
    return 0


def _run(args: argparse.Namespace, tmp: Path, url: str) -> None:
    config = tmp / "triage.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "language": "en",
                "timezone": "Europe/Paris",
                "channels": {"intake": "C0INTAKE", "triage": "C0TRIAGE"},
                "managers": ["U0MANAGER"],
                # The emulator does not rate-limit; a high pace lets each slice's replies drain.
                "slack": {"messages_per_second": 50, "burst": 50},
            }
        ),
        encoding="utf-8",
    )
    (tmp / "minimal_app.py").write_text(MINIMAL_APP, encoding="utf-8")
    processes: list[subprocess.Popen[bytes]] = []
    with _Manager() as manager:
        emulator = manager.Emulator(token=TOKEN)  # type: ignore[attr-defined]
        api_url = emulator.serve()
        emulator.add_channel("C0INTAKE", "survey-intake")
        emulator.add_channel("C0TRIAGE", "churn-triage")
        for n in range(50):
            emulator.add_user(f"U0AGENT{n}", f"agent{n}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRIAGE_"))}
        env.update(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=api_url,
            DATABASE_URL=url,
            TRIAGE_CONFIG=str(config),
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            LOG_FORMAT="json",
        )
        bot_port, minimal_port = _port(), _port()
        gunicorn = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{minimal_port}",
            "--workers", str(args.workers), "--threads", str(args.threads),
            "--worker-class", "gthread", "--chdir", str(tmp), "minimal_app:application",
        ]  # fmt: skip
        triage = [
            sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(bot_port),
            "--workers", str(args.workers), "--threads", str(args.threads),
        ]  # fmt: skip
        try:
            for command in (triage, gunicorn):
                processes.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            bot_url, minimal_url = (
                f"http://127.0.0.1:{bot_port}",
                f"http://127.0.0.1:{minimal_port}",
            )
            _up(bot_url + "/readyz")
            _up(minimal_url + "/")
            cards = _open_cases(bot_url, emulator, 50)
            # Built before any click (a claimed card shows Release instead of Claim): every
            # agent on every card, so clicks are a mix of claims and polite refusals.
            clicks = [
                emulator.click("C0TRIAGE", ts, CLAIM_ACTION, f"U0AGENT{n}")
                for n in range(50)
                for ts in cards
            ]
            senders = {
                name: SlackRequestSender(base + "/slack/events", SECRET)
                for name, base in (("triage serve", bot_url), ("minimal Bolt", minimal_url))
            }

            def slash_of(sender: SlackRequestSender) -> Callable[[int], int]:
                return lambda n: (
                    sender.send_command(
                        "/triage", "help", user_id=f"U0AGENT{n % 50}", channel_id="C0TRIAGE"
                    ).status
                )

            def click_of(sender: SlackRequestSender) -> Callable[[int], int]:
                return lambda n: sender.send_interactivity(clicks[n % len(clicks)]).status

            kinds = {"slash command": slash_of, "button click": click_of}
            results: dict[str, dict[str, list[float]]] = {
                name: {kind: [] for kind in kinds} for name in senders
            }
            groups = {"triage serve": processes[0].pid, "minimal Bolt": processes[1].pid}
            cpu: dict[str, dict[str, float]] = {name: dict.fromkeys(kinds, 0.0) for name in senders}
            # The load generator holds thousands of payloads: a full garbage collection of them
            # would stall every client thread at once, in whichever app's slice it fell.
            gc.collect()
            gc.freeze()
            per_round = max(1, args.requests // args.rounds)
            clicks_sent = 0
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                for sender in senders.values():  # warm-up: connections, caches
                    _measure(pool, slash_of(sender), range(200))
                for r in range(args.rounds):
                    numbers = range(r * per_round, (r + 1) * per_round)
                    order = list(senders) if r % 2 == 0 else list(reversed(senders))
                    for kind, make in kinds.items():
                        for name in order:
                            # Neither slice meets the bot's deferred deliveries.
                            _drain(url, emulator, clicks_sent)
                            before = _cpu_seconds(groups[name])
                            results[name][kind] += _measure(pool, make(senders[name]), numbers)
                            cpu[name][kind] += _cpu_seconds(groups[name]) - before
                            if name == "triage serve" and kind == "button click":
                                clicks_sent += len(numbers)
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
    print(
        f"ack latency, {args.requests} requests per kind in {args.rounds} interleaved rounds, "
        f"{args.clients} concurrent clients, gunicorn {args.workers} workers x {args.threads} "
        "threads, "
        f"{'PostgreSQL' if url.startswith('postgres') else 'SQLite'}"
    )
    print(
        f"{'':16}{'triage p50':>12}{'p99':>9}{'minimal p50':>13}{'p99':>9}{'p99 ratio':>11}"
        f"{'CPU/request triage':>20}{'minimal':>9}"
    )
    for kind in ("slash command", "button click"):
        bot50, bot99 = _p(results["triage serve"][kind])
        min50, min99 = _p(results["minimal Bolt"][kind])
        count = len(results["triage serve"][kind])
        bot_cpu = cpu["triage serve"][kind] / count * 1000
        min_cpu = cpu["minimal Bolt"][kind] / count * 1000
        print(
            f"{kind:16}{bot50:10.1f}ms{bot99:7.1f}ms{min50:11.1f}ms{min99:7.1f}ms{bot99 / min99:10.2f}x"
            f"{bot_cpu:18.2f}ms{min_cpu:7.2f}ms"
        )
    print(
        "(CPU/request: the server's processes' CPU during its slices, over its requests; the "
        "bot's deliveries run mostly after each burst)"
    )


def _open_cases(url: str, emulator: _Emulator, count: int) -> list[str]:
    """Cases to click on, opened through the webhook; returns their cards' ts."""
    for n in range(count):
        body = {
            "id": f"bench-{n}",
            "text": "No signal at home.",
            "email": f"c{n}@example.com",
            "consent": True,
        }
        assert send_webhook(url + "/webhooks/verdicts", body, WEBHOOK_SECRET).ok
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        cards = [m["ts"] for m in emulator.channel_messages("C0TRIAGE") if m.get("metadata")]
        if len(cards) >= count:
            return cards
        time.sleep(0.2)
    raise SystemExit("the cards were not posted")


if __name__ == "__main__":
    sys.exit(main())
