"""`triage classify` and `triage eval` as a person runs them: subprocesses, no Slack, no database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import team_config
from tests.openai_server import Answer, OpenAIStub, Recorded, classification, completion
from tests.support import ROOT, bot_command, bot_env
from tests.test_cli import triage


def run_with_stdin(
    *args: str, stdin: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bot_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=bot_env(**(env or {})),
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def llm_env(stub: OpenAIStub, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "triage.yaml"
    prices = {"gpt-test": {"input_per_million": 2.0, "output_per_million": 8.0}}
    settings = team_config(
        classification={"llm_timeout_seconds": 2, "llm_max_retries": 0, "prices": prices}
    )
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_MODEL": "gpt-test",
        "TRIAGE_CONFIG": str(config),
    }


def test_help_lists_classify_and_eval() -> None:
    result = triage("--help")
    assert "classify" in result.stdout and "eval" in result.stdout
    for command in ("classify", "eval"):
        sub = triage(command, "--help")
        assert sub.returncode == 0 and f"usage: triage {command}" in sub.stdout


def test_classify_prints_the_full_result_as_json() -> None:
    result = triage("classify", "Pas de problème de réseau, mais la facture a encore augmenté.")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["primary_reason"] == "price_billing"
    assert data["backend"] == "offline" and data["provisional"] is False
    assert "not a complaint: réseau" in data["cues"]
    for key in ("secondary_reasons", "confidence", "sentiment", "severity", "language", "summary"):
        assert key in data
    assert data["suggested_action"]
    assert data["facts"] == ["The problem keeps coming back."]  # "encore augmenté"


def test_classify_stdin_writes_json_lines_in_order() -> None:
    lines = [
        "Trop cher.",
        json.dumps({"text": "No signal at home, calls drop all the time.", "score": 2}),
        "",
        json.dumps({"txt": "wrong field"}),
        "{not json, just a brace",
        "Mon téléphone est reparti trois fois au SAV.",
    ]
    result = run_with_stdin("classify", "-", stdin="\n".join(lines) + "\n")
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)
    assert [o.get("primary_reason") for o in out] == [
        "price_billing",
        "network_quality",
        "other",
        None,
        "other",
        "after_sales_repairs",
    ]
    assert out[1]["sentiment"] == "negative"
    assert out[3] == {"line": 4, "error": "a JSON line needs a string field `text`"}
    assert result.returncode == 1  # one line was refused, and said so in place


def test_classify_with_the_llm_backend(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.default = Answer(body=completion(classification("price_billing", language="fr")))
    result = triage(
        "classify",
        "--backend",
        "llm",
        "Trop cher, rappelez-moi au 06 12 34 56 78",
        env=llm_env(stub, tmp_path),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["backend"], data["model"], data["primary_reason"]) == (
        "llm",
        "gpt-test",
        "price_billing",
    )
    assert (data["prompt_tokens"], data["completion_tokens"]) == (420, 80)
    assert data["cost_usd"] == pytest.approx((420 * 2 + 80 * 8) / 1e6)
    assert "06 12" not in stub.calls()[0].raw


def test_classify_auto_falls_back_offline_when_the_llm_fails(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    stub.default = Answer(body=completion("{broken"))
    result = triage("classify", "Trop cher.", env=llm_env(stub, tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["backend"] == "offline"
    strict = triage("classify", "--backend", "llm", "Trop cher.", env=llm_env(stub, tmp_path))
    assert strict.returncode == 1 and "malformed" in strict.stderr


def test_llm_backend_without_a_key_says_so() -> None:
    result = triage("classify", "--backend", "llm", "Trop cher.")
    assert result.returncode == 2
    assert result.stderr.strip() == "triage: OPENAI_API_KEY: not set (needed for --backend llm)"


def test_eval_prints_per_reason_scores_macro_f1_and_the_confusion_matrix() -> None:
    result = triage("eval", "prompts/devset.jsonl", "--split", "test")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "precision  recall     F1  support" in out
    assert "macro-F1: " in out and "confusion matrix" in out
    for reason in ("after_sales_repairs", "moving_personal", "other"):
        assert reason in out
    figures = json.loads(triage("eval", "prompts/devset.jsonl", "--json").stdout)
    assert figures["examples"] >= 300 and figures["macro_f1"] >= 0.8
    assert figures["llm_calls"] == 0 and figures["cost_usd"] == 0


def test_eval_with_the_llm_reports_tokens_and_cost(stub: OpenAIStub, tmp_path: Path) -> None:
    examples = [
        {"text": "Trop cher.", "reason": "price_billing"},
        {"text": "Réseau nul.", "reason": "network_quality"},
        {"text": "Trop cher.", "reason": "price_billing"},  # same verbatim: no second call
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")

    def answer(recorded: Recorded) -> Answer:
        text = OpenAIStub.verbatim(recorded)
        primary = "price_billing" if "cher" in text else "customer_service"
        return Answer(body=completion(classification(primary)))

    stub.default = answer
    env = llm_env(stub, tmp_path)
    result = triage("eval", str(path), "--backend", "llm", env=env)
    assert result.returncode == 0, result.stderr
    assert "LLM calls: 2" in result.stdout
    assert "tokens: 840 in, 160 out" in result.stdout
    assert "cost: $0.0030" in result.stdout
    figures = json.loads(triage("eval", str(path), "--backend", "llm", "--json", env=env).stdout)
    assert figures["accuracy"] == pytest.approx(0.667, abs=0.001)
    assert figures["confusion"]["network_quality"] == {"customer_service": 1}


def test_eval_refuses_a_bad_file_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "reason": "vip"}\n', encoding="utf-8")
    result = triage("eval", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("bad.jsonl:1: 'vip' is not a reason of the taxonomy")
