"""Parse time per message on the intake corpus: the parser beside the one it replaced.

Run: .venv/bin/python bench/bench_parse.py   (prints figures; never fails on time)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import old_parsing  # noqa: E402

from bot.intake.parsing import message_text, parse_message  # noqa: E402
from bot.intake.parsing.model import META_MARK  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "intake_corpus" / "messages.jsonl"


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
    old = per_message_ms(old_parsing.parse_verdict, texts, 7)
    print(f"intake corpus: {len(messages)} messages")
    print(f"  new parser (parse_message):      {new:.3f} ms/message (target < 0.15)")
    print(f"  old parser (parse_verdict, text): {old:.3f} ms/message")
    print(f"  ratio new/old: {new / old:.2f}")


if __name__ == "__main__":
    main()
