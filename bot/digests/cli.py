"""`triage digest --print`: a digest in the terminal, its chart saved to a file (no Slack needed)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.runtime.settings import ConfigError, DigestConfig


def _cmd_digest(args: argparse.Namespace) -> int:
    from bot.digests import service as digests
    from bot.runtime.app import build_runtime
    from bot.runtime.settings import load_settings

    if not args.print:
        print(
            "triage: digest: use --print to see a digest here; Slack gets them on their schedule "
            "or with `/triage digest now`",
            file=sys.stderr,
        )
        return 2
    settings = load_settings()
    team = settings.team
    if not team.digests and args.name is None:
        # Nothing configured yet: show what a weekly digest would say, to help write the config.
        print("(no digests configured: showing a weekly digest)", file=sys.stderr)
        fallback = DigestConfig(name="weekly", channel=team.channels.triage, schedule="0 8 * * 1")
        team = team.model_copy(update={"digests": [fallback]})
    rt = build_runtime(settings, check_slack=False)
    try:
        now = _when(args.at) if args.at else rt.clock.now()
        with rt.factory() as session:
            text, digest = digests.render_text(session, team, args.name, now, rt.taxonomy)
        chart = Path(args.chart or digests.chart_filename(digest))
        chart.write_bytes(digests.chart_png(digest))
    except digests.DigestError as exc:
        print(f"triage: digest: {exc}", file=sys.stderr)
        return 2
    finally:
        rt.close()
    print(text)
    print(f"\nchart saved to {chart}")
    return 0


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError([f"--at: {value!r} is not an ISO 8601 time"]) from None
    if moment.tzinfo is None:
        raise ConfigError([f"--at: {value!r} needs a time zone, like 2026-11-23T08:00+01:00"])
    return moment


def add_parsers(sub: Any) -> None:
    """Register `triage digest`."""
    digest = sub.add_parser(
        "digest",
        help="print a digest in the terminal and save its chart",
        description=(
            "Print a digest over the period ending now (or --at), as Slack would show it, and "
            "save its chart as a PNG. Reads DATABASE_URL and the team config's `digests:`."
        ),
    )
    digest.add_argument("--print", action="store_true", help="print the digest here")
    digest.add_argument("--name", help="which digest (default: the first configured)")
    digest.add_argument("--chart", help="where to save the chart (default: ./digest-NAME-DATE.png)")
    digest.add_argument("--at", help="end of the period, ISO 8601 with a zone (default: now)")
    digest.set_defaults(func=_cmd_digest)
