"""`triage connectors test NAME FILE`: replay a saved payload, signed with the configured secret
as the tool signs it, and print what would be stored (in-process, storing nothing), or send it
to a running bot with `--url` and print its answer. A team checks its mapping without the tool.

FILE is the body as the tool sent it, or an envelope `{"content_type": ..., "raw_body": ...}`
(as in tests/data/connectors/mapped/)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bot.intake.connectors.common import Refused, hmac_digest
from bot.intake.connectors.config import ConnectorConfig, url_path
from bot.intake.connectors.service import Ignored, dry_run, find
from bot.runtime.settings import ConfigError, Settings, load_settings

EPILOG = """exit status: 0 it would be stored (or the tool's event is ignored, or --url got a 2xx);
2 the connector is unknown or misconfigured, its secret is not set, FILE cannot be read, or the
payload is refused (the line says why, as the bot would answer the tool); 1 --url got a 4xx/5xx.
Without --url nothing is stored and no database is used. Example:
  TYPEFORM_SECRET=... triage connectors test typeform saved_delivery.json"""


def _body(path: str) -> tuple[bytes, str]:
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        envelope = json.loads(raw)
    except ValueError:
        return raw, "application/json"
    if isinstance(envelope, dict) and isinstance(envelope.get("raw_body"), str):
        return envelope["raw_body"].encode(), str(envelope.get("content_type") or "")
    return raw, "application/json"


def signed_headers(
    config: ConnectorConfig, secret: str, body: bytes, content_type: str
) -> dict[str, str]:
    """The headers the tool would send with this body."""
    headers = {"Content-Type": content_type}
    if config.kind == "typeform":
        headers["Typeform-Signature"] = (
            "sha256=" + base64.b64encode(hmac_digest(secret, body)).decode()
        )
    elif config.kind == "delighted":
        headers["X-Delighted-Webhook-Signature"] = "sha256=" + hmac_digest(secret, body).hex()
    elif config.kind == "surveymonkey":
        key = f"{config.api_key}&{secret}"
        headers["Sm-Signature"] = base64.b64encode(hmac_digest(key, body, "sha1")).decode()
        headers["Sm-Apikey"] = config.api_key or ""
    elif config.auth == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    else:
        headers[config.signature_header] = "sha256=" + hmac_digest(secret, body).hex()
    return headers


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def run(args: argparse.Namespace) -> int:
    try:
        settings: Settings = load_settings()
        config = find(
            settings, args.name, args.name not in ("typeform", "surveymonkey", "delighted")
        )
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"{args.name}: {exc.reason}", file=sys.stderr)
        return 2
    secret = settings.secrets.get(config.secret_env or "")
    if not secret:
        print(
            f"{args.name}: set {config.secret_env or 'secret_env'} to sign the payload",
            file=sys.stderr,
        )
        return 2
    try:
        body, content_type = _body(args.file)
    except OSError as exc:
        print(f"{args.file}: cannot read ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 2
    headers = signed_headers(config, secret, body, content_type)
    if args.url:
        try:
            status, answer = _send(
                args.url.rstrip("/") + url_path(args.name, config), body, headers
            )
        except (OSError, ValueError) as exc:
            print(f"{args.url}: no answer ({type(exc).__name__}: {exc})", file=sys.stderr)
            return 2
        print(json.dumps({"status": status, "answer": answer}, ensure_ascii=False, indent=2))
        return 0 if status < 300 else 1
    try:
        would = dry_run(settings, args.name, {k.lower(): v for k, v in headers.items()}, body)
    except Ignored as exc:
        print(f"ignored: {exc.reason}")
        return 0
    except Refused as exc:  # the mapping or the payload does not fit: the bot would refuse it
        print(f"{args.name}: refused (HTTP {exc.status}): {exc.reason}", file=sys.stderr)
        return 2
    print(json.dumps({"would_store": would}, ensure_ascii=False, indent=2))
    return 0


def add_parsers(sub: Any) -> None:
    """Register `triage connectors test` on the CLI's subcommands."""
    connectors = sub.add_parser(
        "connectors", help="survey-tool connectors", description="Survey-tool connectors."
    )
    actions = connectors.add_subparsers(dest="connectors_command", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test",
        help="replay a saved payload, signed, and print what would be stored",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument(
        "name", help="the connector's name in the team config (typeform, qualtrics...)"
    )
    test.add_argument("file", help="the saved payload (`-`: stdin)")
    test.add_argument("--url", help="send it to a running bot at this base URL instead")
    test.set_defaults(func=run)
