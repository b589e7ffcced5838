"""`triage sandbox`: the whole bot on loopback, against the local Slack emulator, in one command."""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

import storage.outbox
from bot.cases.card import CLAIM_ACTION
from bot.runtime import logs
from bot.runtime.app import build_runtime
from bot.runtime.runtime import Runtime
from bot.runtime.server import start_local
from bot.runtime.settings import load_settings
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.emulator.transcript import TranscriptMark
from bot.sandbox.signing import SlackRequestSender
from storage.db import make_engine
from storage.migrate import upgrade

SAMPLES = Path(__file__).resolve().parent / "samples" / "verdicts.yaml"
INTAKE, TRIAGE = "C0INTAKE", "C0TRIAGE"
PEOPLE = {
    "U0ANALYST": ("nadia", "Nadia (customer insights)"),
    "U0AGENT": ("camille", "Camille (support agent)"),
    "U0MANAGER": ("sam", "Sam (support manager)"),
}
SURVEY_BOT = ("U0SURVEYBOT", "B0SURVEY", "Survey Relay")
TIMEZONE = "Europe/Paris"


def sandbox_config(language: str = "en") -> dict[str, Any]:
    """The team config the sandbox runs with: the DESIGN.md example, around the clock."""
    return {
        "language": language,
        "timezone": TIMEZONE,
        "channels": {"intake": INTAKE, "triage": TRIAGE},
        "managers": ["U0MANAGER"],
        "subscriber_only_channels": ["614"],
        "business_hours": "always",
        "policy": {
            "deadline": "P2D",
            "reminders": [0.5, 0.8],
            "final_warning": "PT1H",
            "auto_close": True,
        },
    }


def make_workspace(emulator: SlackEmulator) -> None:
    """Channels and people of the demo workspace."""
    emulator.add_channel(INTAKE, "survey-intake")
    emulator.add_channel(TRIAGE, "churn-triage")
    for user_id, (name, real_name) in PEOPLE.items():
        emulator.add_user(user_id, name, real_name=real_name)
    emulator.add_user(
        SURVEY_BOT[0], "survey-relay", real_name=SURVEY_BOT[2], is_bot=True, bot_id=SURVEY_BOT[1]
    )


def poster_name(sample: dict[str, Any]) -> str:
    """How the transcript names a sample's author: the bot's name, or the person's."""
    author = str(sample["author"])
    if sample.get("bot"):
        return SURVEY_BOT[2]
    return PEOPLE[author][0] if author in PEOPLE else author


def wait_idle(rt: Runtime, timeout: float = 15.0) -> bool:
    """Wait until every recorded message is processed and every Slack write delivered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.worker.kick()
        with rt.factory() as session:
            if storage.outbox.pending_work(session) == 0 and rt.notes.pending() == 0:
                return True
        time.sleep(0.05)
    return False


def post_verdict(
    emulator: SlackEmulator, sender: SlackRequestSender, sample: dict[str, Any]
) -> int:
    """Post a sample in the intake channel as its author, and deliver the event to the bot."""
    author = str(sample["author"])
    if sample.get("bot"):
        # A survey tool posts as a bot, its messages signed with its name (their `username`).
        event = emulator.post_as_user(
            INTAKE, SURVEY_BOT[2], str(sample["text"]).strip(), bot_id=SURVEY_BOT[1]
        )
    else:
        event = emulator.post_as_user(INTAKE, author, str(sample["text"]).strip())
    return sender.send_event(event).status


def refresh_homes(rt: Runtime, emulator: SlackEmulator, sender: SlackRequestSender) -> None:
    """Everyone with an App Home opens it again, as a person looking at it does: the bot
    publishes it afresh, so the transcript shows the current one (a new case is waiting)."""
    for user_id in PEOPLE:
        if emulator.home_view(user_id) is not None:
            sender.send_event(emulator.app_home_opened(user_id))
    wait_idle(rt)


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[list[str]]:
    """Send the process's log lines to `path` instead of the terminal, where they would cut
    through the printed conversation; yields the warnings and errors, to mention at the end."""
    root = logging.getLogger()
    previous = list(root.handlers)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logs.TextFormatter())
    to_file.addFilter(logs.ContextFilter())
    serious: list[str] = []
    noted = _Noted(serious)
    for handler in previous:
        root.removeHandler(handler)
    root.addHandler(to_file)
    root.addHandler(noted)
    try:
        yield serious
    finally:
        root.removeHandler(noted)
        root.removeHandler(to_file)
        to_file.close()
        for handler in previous:
            root.addHandler(handler)


class _Noted(logging.Handler):
    """Keeps the warnings and errors, formatted as in the log file."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into
        self.setFormatter(logs.TextFormatter())
        self.addFilter(logs.ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


def run_sandbox(keep_running: bool = False, port: int = 0, language: str = "en") -> int:
    """Run the demo and print the Slack conversation it produced."""
    samples = yaml.safe_load(SAMPLES.read_text(encoding="utf-8"))
    with (
        tempfile.TemporaryDirectory(prefix="triage-sandbox-") as tmp,
        SlackEmulator(token="xoxb-sandbox", timezone=TIMEZONE) as emulator,
    ):
        log_path = Path(tmp) / "triage.log"
        with logs_to_file(log_path) as serious:
            _demo(Path(tmp), emulator, samples, keep_running, port, language, log_path)
        if serious:
            # The log file goes with the temporary folder: what went wrong is shown here.
            print(f"\nThe bot logged {len(serious)} warning(s) or error(s):", file=sys.stderr)
            for line in serious:
                print(f"  {line}", file=sys.stderr)
    return 0


def _demo(
    tmp: Path,
    emulator: SlackEmulator,
    samples: list[dict[str, Any]],
    keep_running: bool,
    port: int,
    language: str,
    log_path: Path,
) -> None:
    make_workspace(emulator)
    config_path = tmp / "triage.yaml"
    config_path.write_text(yaml.safe_dump(sandbox_config(language)), encoding="utf-8")
    signing_secret = secrets.token_hex(16)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-sandbox",
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": f"sqlite:///{tmp}/triage.db",
        "TRIAGE_CONFIG": str(config_path),
    }
    settings = load_settings(env)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    rt = build_runtime(settings)
    server = start_local(rt, "127.0.0.1", port)
    sender = SlackRequestSender(server.url + "/slack/events", signing_secret)
    try:
        print(f"Slack emulator on {emulator.base_url}, bot on {server.url} (SQLite in {tmp})")
        print(f"The bot's log: {log_path}\n")
        for sample in samples:
            status = post_verdict(emulator, sender, sample)
            print(f"posted a verdict in #survey-intake as {poster_name(sample)}: HTTP {status}")
        wait_idle(rt)
        cards = [m for m in emulator.channel_messages(TRIAGE) if m.get("user") == rt.bot.user_id]
        if cards:
            payload = emulator.click(TRIAGE, cards[0]["ts"], CLAIM_ACTION, "U0AGENT")
            status = sender.send_interactivity(payload).status
            print(f"camille clicked Claim on the first case card: HTTP {status}")
        wait_idle(rt)
        refresh_homes(rt, emulator, sender)
        mark = TranscriptMark()
        print("\n" + emulator.transcript(mark), end="", flush=True)
        if keep_running:
            _interactive(rt, emulator, sender, server.url, signing_secret, mark)
    finally:
        server.stop()
        rt.close()


def _interactive(
    rt: Runtime,
    emulator: SlackEmulator,
    sender: SlackRequestSender,
    url: str,
    secret: str,
    mark: TranscriptMark,
) -> None:
    print(
        "\nThe bot and the emulator keep running.\n"
        f"  Slack Web API emulator: {emulator.api_url}\n"
        f"  bot endpoint:           {url}/slack/events (signing secret {secret})\n"
        f"  health:                 {url}/healthz\n"
        "Type a verdict and press Enter to post it in #survey-intake as nadia\n"
        "(e.g. 'Customer: marc@example.com  Billing doubled, I am leaving');\n"
        "what changed in Slack is printed after each one.\n"
        "Ctrl-D or Ctrl-C stops.\n",
        flush=True,
    )
    try:
        for line in sys.stdin:
            text = line.strip().replace("  ", "\n")
            if not text:
                continue
            post_verdict(emulator, sender, {"author": "U0ANALYST", "text": text})
            wait_idle(rt)
            refresh_homes(rt, emulator, sender)
            news = emulator.transcript(mark)
            print(news or "(nothing new in Slack)\n", end="" if news else "\n", flush=True)
    except KeyboardInterrupt:
        pass
