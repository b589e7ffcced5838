"""Parse time per message on the intake corpus: the parser beside the one it replaced.

Run: .venv/bin/python bench/bench_parse.py   (prints figures; never fails on time)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bot.intake.parsing import message_text, parse_message  # noqa: E402
from bot.intake.parsing.model import META_MARK  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "intake_corpus" / "messages.jsonl"
# The parser before issue 16, read from git at bench time (never kept as a copy in the tree).
BASELINE_COMMIT, BASELINE_PATH = "61bf81f", "bot/verdict_parsing.py"


def old_parser() -> Callable[[str], object] | None:
    """The old parser's `parse_verdict`, loaded from git into a temporary module; None (and a
    line saying why) when git or that commit is not available."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:{BASELINE_PATH}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  baseline skipped: cannot read {BASELINE_COMMIT}:{BASELINE_PATH} ({exc})")
        return None
    module = types.ModuleType("old_verdict_parsing")
    sys.modules[module.__name__] = module  # dataclasses look their module up while defined
    exec(compile(source, f"{BASELINE_COMMIT}:{BASELINE_PATH}", "exec"), module.__dict__)
    parse: Callable[[str], object] = module.parse_verdict
    return parse


def per_message_ms(parse: object, messages: list[object], rounds: int) -> float:
    """Best of `rounds` passes over the corpus, in milliseconds per message."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for message in messages:
            parse(message)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(messages) * 1000


def main() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    messages = [row["message"] for row in rows]
    texts = [message_text(m).replace(META_MARK, "") for m in messages]
    for message in messages:  # warm the caches (vocabulary, label matches, regexes)
        parse_message(message)
    new = per_message_ms(parse_message, messages, 7)
    print(f"intake corpus: {len(messages)} messages")
    print(f"  new parser (parse_message):      {new:.3f} ms/message (target < 0.15)")
    old_parse = old_parser()
    if old_parse is None:
        return
    old = per_message_ms(old_parse, texts, 7)
    print(f"  old parser ({BASELINE_COMMIT}, text):   {old:.3f} ms/message")
    print(f"  ratio new/old: {new / old:.2f}")


if __name__ == "__main__":
    main()
