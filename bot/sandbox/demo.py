"""`triage sandbox`: the whole bot on loopback, against the local Slack emulator, in one command."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import storage.outbox
from bot.cases.card import CLAIM_ACTION
from bot.runtime.app import build_runtime
from bot.runtime.runtime import Runtime
from bot.runtime.server import start_local
from bot.runtime.settings import load_settings
from bot.sandbox.emulator import SlackEmulator
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


def sandbox_config(language: str = "en") -> dict[str, Any]:
    """The team config the sandbox runs with: the DESIGN.md example, around the clock."""
    return {
        "language": language,
        "timezone": "Europe/Paris",
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
    emulator.add_user(SURVEY_BOT[0], "survey-relay", real_name=SURVEY_BOT[2], is_bot=True)


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
        event = emulator.post_as_user(
            INTAKE, author, str(sample["text"]).strip(), bot_id=SURVEY_BOT[1]
        )
    else:
        event = emulator.post_as_user(INTAKE, author, str(sample["text"]).strip())
    return sender.send_event(event).status


def run_sandbox(keep_running: bool = False, port: int = 0, language: str = "en") -> int:
    """Run the demo and print the Slack conversation it produced."""
    samples = yaml.safe_load(SAMPLES.read_text(encoding="utf-8"))
    with (
        tempfile.TemporaryDirectory(prefix="triage-sandbox-") as tmp,
        SlackEmulator(token="xoxb-sandbox") as emulator,
    ):
        make_workspace(emulator)
        config_path = Path(tmp) / "triage.yaml"
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
            print(f"Slack emulator on {emulator.base_url}, bot on {server.url} (SQLite in {tmp})\n")
            for sample in samples:
                status = post_verdict(emulator, sender, sample)
                print(f"posted a verdict in #survey-intake as {sample['author']}: HTTP {status}")
            wait_idle(rt)
            cards = [
                m for m in emulator.channel_messages(TRIAGE) if m.get("user") == rt.bot.user_id
            ]
            if cards:
                payload = emulator.click(TRIAGE, cards[0]["ts"], CLAIM_ACTION, "U0AGENT")
                status = sender.send_interactivity(payload).status
                print(f"camille clicked Claim on the first case card: HTTP {status}")
            wait_idle(rt)
            print("\n" + emulator.transcript())
            if keep_running:
                _interactive(rt, emulator, sender, server.url, signing_secret)
        finally:
            server.stop()
            rt.close()
    return 0


def _interactive(
    rt: Runtime, emulator: SlackEmulator, sender: SlackRequestSender, url: str, secret: str
) -> None:
    print(
        "\nThe bot and the emulator keep running.\n"
        f"  Slack Web API emulator: {emulator.api_url}\n"
        f"  bot endpoint:           {url}/slack/events (signing secret {secret})\n"
        f"  health:                 {url}/healthz\n"
        "Type a verdict and press Enter to post it in #survey-intake as nadia\n"
        "(e.g. 'Customer: marc@example.com  Billing doubled, I am leaving').\n"
        "Ctrl-D or Ctrl-C stops.\n"
    )
    try:
        for line in sys.stdin:
            text = line.strip().replace("  ", "\n")
            if not text:
                continue
            before = len(emulator.calls)
            post_verdict(emulator, sender, {"author": "U0ANALYST", "text": text})
            wait_idle(rt)
            print(emulator.transcript() if len(emulator.calls) > before else "(nothing happened)")
    except KeyboardInterrupt:
        pass
