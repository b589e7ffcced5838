"""The `triage` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from bot.runtime.clock import SystemClock
from bot.runtime.settings import (
    ConfigError,
    TeamConfig,
    describe,
    load_settings,
    load_team_config,
    normalise_database_url,
)

log = logging.getLogger("triage")

DESCRIPTION = """\
Verdict triage bot: turns customer survey verdicts posted in Slack into triage threads
that someone must act on before their deadline.

Settings come from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN,
SLACK_API_URL, DATABASE_URL, TRIAGE_CONFIG, PORT, ...) and the YAML file TRIAGE_CONFIG
(default ./triage.yaml; see triage.example.yaml).
"""


def _setup_logging(verbose: bool = False) -> None:
    from bot.runtime import logs

    logs.setup(verbose)  # JSON lines off a terminal (or LOG_FORMAT=json), readable on one


def _fail(exc: ConfigError) -> int:
    for problem in exc.problems:
        print(f"triage: {problem}", file=sys.stderr)
    return 2


def _cmd_serve(args: argparse.Namespace) -> int:
    from bot.runtime.app import build_runtime
    from bot.runtime.server import SOCKET_MODE_THREADS, run_gunicorn, run_socket_mode, start_local

    settings = load_settings()
    settings.require_slack()
    port = args.port or settings.port
    if not settings.slack_app_token and not args.dev:
        _share_metrics_between_workers()
    if settings.slack_app_token:
        rt = build_runtime(settings, request_threads=SOCKET_MODE_THREADS)
        log.info("Socket Mode: connecting to Slack (no public URL needed)")
        run_socket_mode(rt, background=args.background)
        return 0
    # Fail at start, in the master, with one clear line, rather than in every worker.
    build_runtime(settings).close()
    if args.dev:
        rt = build_runtime(settings)
        server = start_local(rt, args.host, port, background=args.background)
        log.info("HTTP (development server) on %s: POST /slack/events, GET /healthz", server.url)
        _wait_forever()
        return 0
    log.info(
        "HTTP on %s:%s with %s workers: POST /slack/events, GET /healthz",
        args.host,
        port,
        args.workers,
    )
    if not args.background:
        log.info("background pass off: run `triage worker` to process intake and post to Slack")
    run_gunicorn(settings, args.host, port, args.workers, args.threads, background=args.background)
    return 0


def _share_metrics_between_workers() -> None:
    """Gunicorn's workers are processes: their counters meet in PROMETHEUS_MULTIPROC_DIR
    (a fresh temporary directory unless the operator names one), set before any import of
    prometheus_client, and emptied at start as its documentation asks."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return
    made = tempfile.mkdtemp(prefix="triage-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    atexit.register(shutil.rmtree, made, True)


def _wait_forever() -> None:
    import threading

    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def _cmd_worker(args: argparse.Namespace) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.privacy import erasure
    from bot.runtime import jobs
    from bot.runtime.app import build_runtime

    settings = load_settings()
    rt = build_runtime(settings)
    scheduler = BlockingScheduler(timezone="UTC")

    def sweep() -> None:
        while rt.run_pending() > 0:
            pass

    # The job store stays in memory: due work lives in our tables, claimed per row.
    jobs.add_recurring(scheduler, "sweep", sweep, seconds=args.interval, first=rt.clock.now())
    # Retention: tried hourly by every worker; the database lets one process run it per day.
    jobs.add_recurring(
        scheduler,
        "retention",
        lambda: erasure.run_retention(rt.factory, rt.settings.team, rt.clock),
        seconds=3600,
        first=rt.clock.now(),
    )
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host)
        log.info("worker: metrics on %s:%s/metrics", args.metrics_host, args.metrics_port)
    log.info(
        "worker: sweeping every %ss (intake, reminders and deadlines, Slack outbox)", args.interval
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        rt.close()
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.runtime.settings import DEFAULT_DATABASE_URL, normalise_database_url
    from storage.db import connect_problem, make_engine, sqlite_problem
    from storage.migrate import current_revision, upgrade

    url = normalise_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    # The database file is this command's to create, its folder is not: a mistyped path
    # would leave folders behind.
    missing = sqlite_problem(url, file_needed=False)
    if missing:
        raise ConfigError([f"DATABASE_URL: {missing}"])
    engine = make_engine(url)
    try:
        before = current_revision(engine)
    except Exception as exc:
        engine.dispose()
        raise ConfigError([f"DATABASE_URL: {connect_problem(url, exc)}"]) from None
    try:
        upgrade(engine, args.revision)
        after = current_revision(engine)
    except Exception as exc:
        first = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError([f"DATABASE_URL: cannot migrate ({first})"]) from None
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    print(f"database {where}: {before or 'empty'} -> {after}")
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    path = args.file or os.environ.get("TRIAGE_CONFIG") or "triage.yaml"
    try:
        team = load_team_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return _fail(exc)
    print(f"{path}: OK\n{describe(team, SystemClock().now())}")
    if team.connectors:  # the survey tools' webhook URLs (docs/connectors.md)
        from bot.intake.connectors.config import describe as connectors

        print("connectors:\n" + "\n".join(connectors(team.connectors, dict(os.environ))))
    _check_stored_reasons(team)
    return 0


def _check_stored_reasons(team: TeamConfig) -> None:
    """Reasons the database at DATABASE_URL uses that the configured taxonomy lacks."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return
    from bot.classification.learn_cli import retired_reasons
    from bot.classification.taxonomy import TaxonomyError, load_taxonomy

    try:
        taxonomy = load_taxonomy(team.taxonomy)
    except TaxonomyError as exc:
        print(f"triage: {exc}", file=sys.stderr)
        return
    for line in retired_reasons(normalise_database_url(url), taxonomy):
        print(line)


def _jobs(value: str) -> int:
    if not value.isdigit() or int(value) > 32:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes from 0 to 32")
    return int(value)


def _cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from bot.intake import importer
    from bot.intake.file_rows import RowError
    from bot.runtime.app import build_runtime

    path = Path(args.file)
    if not path.is_file():
        print(f"triage: {path}: no such file", file=sys.stderr)
        return 2
    data = path.read_bytes()
    rows = max(0, data.count(b"\n") - (0 if path.suffix.lower() in (".jsonl", ".ndjson") else 1))
    rt = build_runtime(load_settings(), check_slack=False)
    try:
        columns = (
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=args.quiet or not sys.stderr.isatty()) as bar:
            task = bar.add_task("import", total=rows or None)
            summary = importer.import_rows(
                rt.factory,
                path.name,
                data,
                rt.classifier,
                rt.settings.team,
                rt.clock,
                progress=lambda n: bar.advance(task, n),
                workers=importer.default_workers() if args.jobs is None else args.jobs,
            )
    except RowError as exc:
        print(f"triage: {path}: {exc}", file=sys.stderr)
        return 2
    finally:
        rt.close()
    print(f"{path}:")
    print("\n".join(summary.lines()))  # the command line speaks English, as its --help
    print(f"classified with {rt.classifier.model}")  # the learned model's version, if any
    try:
        rejected = importer.write_rejected(path, summary)
    except RowError as exc:  # a symbolic link where the rejected rows would go
        print(f"triage: rejected rows not written: {exc}", file=sys.stderr)
        return 1
    if rejected:
        print(f"rejected rows written to {rejected}")
    print("case cards are posted to Slack by `triage serve` or `triage worker`")
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_sandbox

    return run_sandbox(keep_running=args.keep_running, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with a --help on every command."""
    parser = argparse.ArgumentParser(
        prog="triage", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)",
        description="Run the bot. With SLACK_APP_TOKEN it connects over Socket Mode; otherwise it serves HTTP: POST /slack/events, GET /healthz.",
    )
    serve.add_argument("--host", default="0.0.0.0", help="HTTP interface to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default $PORT or 3000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn worker processes (default $WEB_CONCURRENCY or 2)",
    )
    serve.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    serve.add_argument(
        "--dev", action="store_true", help="single-process development server instead of gunicorn"
    )
    serve.add_argument(
        "--no-background",
        dest="background",
        action="store_false",
        help="only answer requests: leave intake, reminders and Slack delivery to `triage worker` "
        "processes (by default every serve process also runs that pass, so a small install "
        "needs no worker)",
    )
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="run the scheduler: intake, reminders, escalations, expiry, queued Slack messages",
        description="Run the background worker (APScheduler): processes recorded intake, sends due reminders, escalations and expiries, and delivers the Slack outbox. Safe to run several: due work is claimed per row in the database.",
    )
    worker.add_argument(
        "--interval", type=float, default=2.0, help="seconds between sweeps (default 2)"
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("METRICS_PORT") or 0),
        help="serve this worker's Prometheus metrics on this port (default $METRICS_PORT; 0: off)",
    )
    worker.add_argument(
        "--metrics-host", default="0.0.0.0", help="interface for --metrics-port (default 0.0.0.0)"
    )
    worker.set_defaults(func=_cmd_worker)

    db = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser(
        "upgrade",
        help="apply migrations (DATABASE_URL)",
        description=(
            "Apply the Alembic migrations to DATABASE_URL (default: sqlite:///triage.db). "
            "On SQLite it creates the database file when there is none, but not a missing "
            "folder: create the folder first (a mistyped path then leaves nothing behind)."
        ),
    )
    up.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    up.set_defaults(func=_cmd_db_upgrade)

    config = sub.add_parser(
        "config", help="configuration tools", description="Configuration tools."
    )
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check",
        help="validate a config file and print what it understood",
        description="Validate the team's YAML file and print what it understood.",
    )
    check.add_argument(
        "file", nargs="?", help="the YAML file (default $TRIAGE_CONFIG or ./triage.yaml)"
    )
    check.set_defaults(func=_cmd_config_check)

    imp = sub.add_parser(
        "import",
        help="import verdicts from a CSV or JSONL file",
        description=(
            "Import verdicts from a CSV or JSONL file. Columns are found by header name "
            "(text/verbatim/comment, customer/email/phone, status, churned_on, channel, source, "
            "score, consent, received_at, id; English or French names). Rejected rows are written "
            "beside the file (NAME.rejected.csv or .jsonl) with their row number and reason."
        ),
    )
    imp.add_argument("file", help="the CSV (comma, semicolon or tab separated) or JSONL file")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    imp.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help=(
            "processes that parse and classify rows while this one stores them "
            "(default: one per CPU core beyond the first, at least 1, at most 4; 0: none)"
        ),
    )
    imp.set_defaults(func=_cmd_import)

    sandbox = sub.add_parser(
        "sandbox",
        help="demo on a local Slack emulator, SQLite and the offline classifier",
        description="Start the bot against a local Slack emulator on a temporary SQLite database, feed sample verdicts, claim a case, and print the Slack conversation.",
    )
    sandbox.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the bot and emulator up and read verdicts from the terminal",
    )
    sandbox.add_argument(
        "--port",
        type=int,
        default=0,
        help="port for the bot's HTTP endpoint (default: any free port)",
    )
    sandbox.set_defaults(func=_cmd_sandbox)

    from bot.classification import cli as cli_classify
    from bot.digests import cli as cli_digest
    from bot.intake import parse_cli
    from bot.intake.connectors import cli as cli_connectors

    cli_classify.add_parsers(sub)  # classify, eval
    cli_digest.add_parsers(sub)  # digest --print
    parse_cli.add_parsers(sub)  # parse -, parse --explain
    cli_connectors.add_parsers(sub)  # connectors test NAME FILE
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `triage` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
