"""Output-equality guard for parser optimisations: every result of the parser (and of the
helpers other packages call) over a fixed set of inputs, saved once and compared after.

Run: .venv/bin/python bench/parse_equivalence.py save /tmp/parse_baseline.json
     .venv/bin/python bench/parse_equivalence.py check /tmp/parse_baseline.json
Inputs: the intake corpus (messages and fresh), a few thousand messages generated with a fixed seed from the
vocabulary and the corpus's own lines, and any `--extra` JSON-lines file of recorded texts
(`{"raw": ..., "country": ...}` per line). A second vocabulary (the bundled one with a wording
added) is read interleaved with the first, so no cache may leak from one vocabulary to another.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bot.intake.parsing import (  # noqa: E402
    find_refs,
    fold,
    load_vocabulary,
    message_text,
    parse_message,
    parse_verdict,
    prose,
    read_channel,
    read_churn_date,
    read_status,
    values,
)
from bot.intake.parsing.references import normalise_ref, refs_in_value  # noqa: E402
from bot.intake.parsing.vocabulary import (  # noqa: E402
    DEFAULT_VOCABULARY_PATH,
    FIELDS,
    PROSE_KEYS,
    Vocabulary,
    load_vocabulary_file,
    words,
)

CORPUS = ROOT / "tests" / "data" / "intake_corpus" / "messages.jsonl"
FRESH = ROOT / "tests" / "data" / "intake_corpus" / "fresh.jsonl"
SEED = 16
GENERATED = 4000

# Shapes of tests/test_intake_properties.py, and more that the corpus shows.
SHAPES = [
    "{label}: {value}", "*{label}*\n{value}", '{label} = "{value}"', "• {label} : {value}",
    "> {label}: {value}", "Q3. {label}: {value}", "Q2\n{label}\n{value}",
    "Question: {label}\nAnswer: {value}", "{label} - {value}", "- {label} - {value}",
    "Account: 40917 | {label}: {value} | Comment: slow",
    "Client : 31875520 ; {label} : {value} ; Verbatim : trop cher", "{label} {value}",
    "{label}? {value}", "*{label}:* {value}", "| {label} | {value} |", "{label}\t{value}",
    "{label}:{value}, Nom:Hélène, E-mail:h@x.fr", "{label},Status,Comment\n{value},former,slow",
    "{label}=\"{value}\" score=3 consent=0", "Q1 {label}\n{value}", "{label} · {value} · NPS 4",
    "_{label}_\n{value}\n", "{label} :: {value}", "{label} → {value}",
]  # fmt: skip
EXTRA_VALUES = [
    "12345678", "ACC-40917", "compte 31875520", "06 12 34 56 78", "+44 20 7946 0958",
    "a.b@example.fr", "<mailto:a.b@c.io|a.b@c.io>", "2026-11-01", "02/07/2026", "1 nov 2026",
    "3", "7/10", "4/5", "★★★", "9 - Extremely likely", "(no answer)", "N/A", "", "Yes by email.",
    "Not by phone please.", "52290418, ancienne abonnée depuis mars", "autorisé - non", "ok → ❌",
    "Oui, mais pas par téléphone", "No signal (0).", "Non merci", "web", "téléphone",
]  # fmt: skip
WRAPPERS = [
    "{body}",
    "Bonjour,\n\n{body}\n\nCordialement,\nMarie",
    "---------- Forwarded message ---------\nFrom: Paul <paul@example.fr>\nSubject: Plainte\n"
    "To: team@ondalis.fr\n\n{body}",
    "Début du message réfléchi :\nDe: Marie <marie@example.fr>\nObjet: résiliation\n\n{body}",
    "New response: {body}",
    "{body}\n\n--\nSent from my iPhone",
    "On Mon, 3 May 2026 at 10:00, Support <support@ondalis.fr> wrote:\n> {body}",
    "#12 COMPLETE\nCollector: Web Link 1 (Web Link)\n{body}",
]


def _phrases(raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    labels: list[str] = []
    for spec in raw["fields"].values():
        for group in spec.values():
            labels.extend(p for phrases in group.values() for p in phrases)
    answers = [str(v) for key in ("yes", "no", "former", "current") for v in raw["values"][key]]
    answers += [str(v) for vs in raw["values"]["channels"].values() for v in vs]
    return labels, answers


def _corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [row["message"] for row in rows]


def generated(corpus: list[dict[str, Any]]) -> list[str]:
    """Messages built with a fixed seed from the vocabulary's phrases and the corpus's lines."""
    raw = yaml.safe_load(DEFAULT_VOCABULARY_PATH.read_text(encoding="utf-8"))
    labels, answers = _phrases(raw)
    labels += ["Customer number", "N° abonné", "OK to call you back?", "Favourite colour",
               "What could we do better?", "Why are you leaving?", "Statut", "Recontact autorisé",
               "Permission to call back", "NumClient", "customer_id", "Do not contact"]  # fmt: skip
    answers += EXTRA_VALUES
    lines = [line for m in corpus for line in message_text(m).splitlines() if line.strip()]
    rng = random.Random(SEED)
    out: list[str] = []
    for n in range(GENERATED):
        parts: list[str] = []
        for _ in range(rng.randint(1, 8)):
            pick = rng.random()
            if pick < 0.5:
                label = rng.choice(labels)
                if rng.random() < 0.3:
                    label = label.title() if rng.random() < 0.5 else label.upper()
                value = rng.choice(answers)
                parts.append(rng.choice(SHAPES).format(label=label, value=value))
            elif pick < 0.85:
                parts.append(rng.choice(lines))
            elif pick < 0.92:
                parts.append("")
            else:
                alphabet = "abcdé ÉàçXYZ0123456789:;|·•/-=?!.,*_>\t'’\"<>@#()\ue000"
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))))
        body = "\n".join(parts)
        out.append(rng.choice(WRAPPERS).format(body=body) if n % 3 == 0 else body)
    return out


def _as_message(n: int, text: str) -> dict[str, Any]:
    """Some generated texts as Slack message dicts: blocks, attachments, an email file."""
    shape = n % 4
    if shape == 0:
        return {
            "text": "fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "New response"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "Response ID: w4J"}]},
            ],
        }
    if shape == 1:
        head, _, rest = text.partition("\n")
        return {
            "text": "",
            "attachments": [
                {"author_name": "Typeform", "pretext": head, "text": rest, "footer": "via app"}
            ],
        }
    if shape == 2:
        return {
            "files": [
                {
                    "filetype": "email",
                    "subject": "Survey",
                    "from": [{"address": "x@example.fr", "name": "X"}],
                    "plain_text": text,
                }
            ]
        }
    return {"text": text}


def _second_vocabulary() -> Vocabulary:
    """The bundled vocabulary with a team's wording added: a consent label and a no answer."""
    raw = yaml.safe_load(DEFAULT_VOCABULARY_PATH.read_text(encoding="utf-8"))
    raw["fields"]["consent"]["labels"]["en"].append("favourite colour")
    raw["values"]["no"].append("blue")
    raw["prose"]["consent_no"].append(r"\bslow\b")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as f:
        yaml.safe_dump(raw, f, allow_unicode=True)
    return load_vocabulary_file(f.name)


def _helpers(line: str, other: Vocabulary) -> list[Any]:
    """What the helpers other packages call say about one line, with both vocabularies."""
    out: list[Any] = [fold(line), words(line), [r.key for r in find_refs(line, "FR")]]
    out += [read_status(line), read_channel(line), read_churn_date(line)]
    ref = normalise_ref(line, "FR")
    out += [ref.key if ref else None, [r.key for r in refs_in_value(line, "FR")]]
    for vocabulary in (load_vocabulary(), other):
        match = vocabulary.match(line)
        out.append(dataclasses.asdict(match) if match else None)
        out.append([vocabulary.names(line, field) for field in FIELDS])
        folded = fold(line)
        out.append([vocabulary.cue(key, folded) for key in PROSE_KEYS])
        out += [prose.status(folded, vocabulary), prose.consent(folded, vocabulary)]
        out += [values.yes_no(line, vocabulary), values.status(line, vocabulary)]
    return out


def results(extra: list[Path]) -> dict[str, Any]:
    """Every result, keyed by the kind of input; inputs are listed so a diff can name them."""
    corpus = _corpus()
    fresh = _corpus(FRESH)
    other = _second_vocabulary()
    texts = generated(corpus)
    recorded: list[tuple[str, str]] = []
    for path in extra:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            recorded.append((row["raw"], row["country"]))
    recorded = list(dict.fromkeys(recorded))

    def verdict(parsed: Any) -> Any:
        return dataclasses.asdict(parsed)

    out: dict[str, Any] = {
        "corpus": [verdict(parse_message(m)) for m in corpus],
        "corpus_other_vocabulary": [verdict(parse_message(m, vocabulary=other)) for m in corpus],
        "fresh": [verdict(parse_message(m)) for m in fresh],
        "fresh_other_vocabulary": [verdict(parse_message(m, vocabulary=other)) for m in fresh],
        "generated": [],
        "generated_messages": [],
        "recorded": [verdict(parse_verdict(raw, country)) for raw, country in recorded],
        "helpers": [],
    }
    for n, text in enumerate(texts):
        # interleaved with the second vocabulary: a cache keyed on the text alone would leak
        vocabulary = other if n % 5 == 0 else None
        out["generated"].append(verdict(parse_verdict(text, "FR", vocabulary)))
        out["generated_messages"].append(verdict(parse_message(_as_message(n, text))))
    lines = {line for text in texts[:800] for line in text.splitlines()}
    lines |= {line for m in corpus + fresh for line in message_text(m).splitlines()}
    out["helpers"] = [[line, *_helpers(line, other)] for line in sorted(lines)]
    out["_inputs"] = {"generated": texts, "recorded": [r for r, _ in recorded]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("save", "check"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--extra", type=Path, action="append", default=[])
    args = parser.parse_args()
    now = json.loads(json.dumps(results(args.extra), ensure_ascii=False))
    counts = {key: len(value) for key, value in now.items() if key != "_inputs"}
    if args.mode == "save":
        args.path.write_text(json.dumps(now, ensure_ascii=False), encoding="utf-8")
        print(f"saved {counts} to {args.path}")
        return
    before = json.loads(args.path.read_text(encoding="utf-8"))
    differ = 0
    for key, rows in now.items():
        if key == "_inputs":
            continue
        for n, (old, new) in enumerate(zip(before[key], rows, strict=True)):
            if old != new:
                differ += 1
                if differ <= 5:
                    source = now["_inputs"].get(key.split("_")[0], [])
                    shown = source[n] if n < len(source) else n
                    print(f"DIFF {key}[{n}] input={shown!r}\n  before={old}\n  after= {new}")
    total = sum(counts.values())
    print(f"{total} results compared ({counts}): {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
