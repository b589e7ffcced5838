"""`triage sandbox` as a newcomer meets it: a readable conversation, one clock, names for
everyone, and with --keep-running only what each typed verdict changed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.emulator.transcript import TranscriptMark

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"^(?:    ↳ )?\d\d:\d\d:\d\d (CET|CEST)  ")


def _env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TRIAGE_", "DATABASE_", "OPENAI_", "LOG_"))
    }


@pytest.fixture(scope="module")
def sandbox() -> subprocess.CompletedProcess[str]:
    """One `triage sandbox` run (what scripts/sandbox runs), shared by the checks below."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
    )


def _channel(out: str, name: str) -> list[str]:
    """The lines of one channel's part of the transcript."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"#{name}  "))
    end = next((i for i in range(start + 2, len(lines)) if lines[i] == ""), len(lines))
    return lines[start + 2 : end]


def test_sandbox_prints_the_conversation_and_keeps_logs_in_a_file(
    sandbox: subprocess.CompletedProcess[str],
) -> None:
    assert sandbox.returncode == 0, sandbox.stderr
    # No log line cuts through the conversation; the log file is named once, at the start.
    assert '{"time"' not in sandbox.stdout and '"level"' not in sandbox.stdout
    assert sandbox.stderr == ""
    named = [line for line in sandbox.stdout.splitlines() if "triage.log" in line]
    assert len(named) == 1 and named[0].startswith("The bot's log: ")
    assert named[0].endswith("triage.log") and "triage-sandbox-" in named[0]
    assert sandbox.stdout.index("The bot's log") < sandbox.stdout.index("#survey-intake")


def test_every_line_of_a_card_is_indented(sandbox: subprocess.CompletedProcess[str]) -> None:
    lines = _channel(sandbox.stdout, "churn-triage")
    assert any("“personne ne m'a rappelé.”" in line for line in lines)
    for line in lines:
        assert STAMP.match(line) or line.startswith("          "), line
    cue = next(line for line in lines if "“personne ne m'a rappelé.”" in line)
    summary = lines[lines.index(cue) - 1]
    assert len(cue) - len(cue.lstrip()) == len(summary) - len(summary.lstrip())


def test_times_are_in_the_team_zone_and_labelled(
    sandbox: subprocess.CompletedProcess[str],
) -> None:
    out = sandbox.stdout
    headers = [
        line
        for name in ("survey-intake", "churn-triage")
        for line in _channel(out, name)
        if not line.startswith("          ")
    ]
    assert len(headers) >= 12  # 4 verdicts, their 4 replies, 3 cards and a card's 2 replies
    for header in headers:
        assert STAMP.match(header), header
    # The cards say CET too: one clock throughout.
    assert "CET (in 48 h)" in out


def test_every_poster_has_a_name(sandbox: subprocess.CompletedProcess[str]) -> None:
    out = sandbox.stdout
    for raw in ("U0SURVEYBOT", "U0ANALYST", "U0AGENT", "B0SURVEY", "#C0TRIAGE", "#C0INTAKE"):
        assert raw not in out, raw
    intake = _channel(out, "survey-intake")
    authors = {line.split("  ", 1)[1] for line in intake if STAMP.match(line) and "↳" not in line}
    assert authors == {"Survey Relay [BOT]", "nadia"}
    assert "posted a verdict in #survey-intake as Survey Relay: HTTP 200" in out
    assert "posted a verdict in #survey-intake as nadia: HTTP 200" in out
    assert "Case #1 opened in #churn-triage." in out


class _Reader:
    """Collects a process's output in a thread, so the test can wait for a piece of it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            with self._lock:
                self.text += line

    def wait_for(self, predicate: object, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                text = self.text
            if callable(predicate) and predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out; output so far:\n{text}")


def test_keep_running_prints_only_what_changed_and_the_current_home() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--keep-running"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    assert process.stdin is not None
    try:
        reader = _Reader(process)
        first = reader.wait_for(lambda t: "Ctrl-D or Ctrl-C stops." in t)
        process.stdin.write("Customer: marc@example.com  Consent: yes  Billing doubled, I leave\n")
        process.stdin.flush()
        after_one = reader.wait_for(lambda t: "*#4*" in t[len(first) :])[len(first) :]
        process.stdin.write("Customer: marc@example.com  Consent: yes  Still doubled\n")
        process.stdin.flush()
        after_two = reader.wait_for(
            lambda t: "Verdict #2 joined this case" in t[len(first) + len(after_one) :]
        )[len(first) + len(after_one) :]
        process.stdin.close()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    # The first verdict typed: its message, the bot's reply, case #4's card, the new Home;
    # nothing printed before again.
    assert "Billing doubled, I leave" in after_one and "== CASE #4" in after_one
    for old in ("== CASE #1", "== CASE #2", "== CASE #3", "Survey Relay", "Third network outage"):
        assert old not in after_one, old
    # The Home printed is the current one: case #4 waits for an owner there.
    home = after_one[after_one.index("App Home tabs") :]
    assert "*#2*" in home and "*#3*" in home and "*#4*" in home
    # The second: only its message, the reply, and case #4's card as edited.
    assert "Still doubled" in after_two and "Verdicts (2)" in after_two
    assert "Billing doubled, I leave" in after_two  # the card quotes both verdicts
    assert after_two.count("== CASE #") == 1
    assert "App Home tabs" not in after_two  # the Home did not change: not printed again


# ------------------------------------------------------------------ the emulator's transcript


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(token="xoxb-t", timezone="Asia/Tokyo") as emulator:
        emulator.add_channel("C0TRIAGE", "triage")
        emulator.add_user("U0ALICE", "alice")
        emulator.add_user("U0RELAY", "relay", real_name="Survey Relay", is_bot=True, bot_id="B0R")
        yield emulator


def test_transcript_indents_lines_inside_context_elements(emu: SlackEmulator) -> None:
    client = WebClient(token="xoxb-t", base_url=emu.api_url)
    summary = "_Unhappy customer._\n_“nobody called back.”_"
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]}
    client.chat_postMessage(channel="C0TRIAGE", text="card", blocks=[context])
    body = [line for line in emu.transcript().splitlines() if "_" in line]
    assert body == ["          _Unhappy customer._", "          _“nobody called back.”_"]


def test_transcript_uses_the_workspace_zone_and_names_bots_and_channels(
    emu: SlackEmulator,
) -> None:
    emu.post_as_user("C0TRIAGE", "U0RELAY", "from the survey tool", bot_id="B0R")
    emu.post_as_user("C0TRIAGE", "U0ALICE", "see <#C0TRIAGE>")
    text = emu.transcript()
    assert re.search(r"^\d\d:\d\d:\d\d JST  Survey Relay \[BOT\]$", text, re.M), text
    assert re.search(r"^\d\d:\d\d:\d\d JST  alice$", text, re.M), text
    assert "see #triage" in text and "U0RELAY" not in text


def test_transcript_since_a_mark_shows_only_what_changed(emu: SlackEmulator) -> None:
    client = WebClient(token="xoxb-t", base_url=emu.api_url)
    mark = TranscriptMark()
    root = emu.post_as_user("C0TRIAGE", "U0ALICE", "first")
    card = client.chat_postMessage(channel="C0TRIAGE", text="card v1")["ts"]
    assert "first" in emu.transcript(mark) and "card v1" in emu.transcript()
    assert emu.transcript(mark) == ""  # nothing new
    client.chat_postMessage(channel="C0TRIAGE", thread_ts=root["ts"], text="a reply")
    news = emu.transcript(mark)
    assert "a reply" in news and "card v1" not in news
    assert "alice  (thread)" in news and "first" not in news  # the root is named, not reprinted
    client.chat_update(channel="C0TRIAGE", ts=card, text="card v2")
    news = emu.transcript(mark)
    assert "card v2" in news and "a reply" not in news
