"""The composition root: builds the runtime (database, Slack gateway, classifiers, worker), the
Bolt app with its listeners and the WSGI application around it. The only module that imports
`handlers/`: services never do, so Slack's surfaces can change without touching the rules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.cases import service as cases
from bot.cases.home import home_renderer
from bot.classification import learning
from bot.classification.llm import LLMClassifier
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import TaxonomyError, load_taxonomy
from bot.digests import service as digests
from bot.runtime import logs
from bot.runtime.background import RequestActivity
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.leases import lease_override
from bot.runtime.runtime import Runtime
from bot.runtime.settings import ConfigError, Settings
from bot.slack import outbox
from bot.slack.gateway import BotIdentity, SlackDeliveryError, SlackGateway, make_web_client
from bot.slack.outbox import OutboxDispatcher
from bot.slack.pace import ChannelPace
from handlers import actions, commands, context, errors, events, shortcuts, web
from storage.db import connect_problem, make_engine, make_sessionmaker, sqlite_problem
from storage.migrate import schema_problem

log = logging.getLogger(__name__)


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    *,
    check_slack: bool = True,
    request_threads: int = 0,
    lease: timedelta | None = None,
) -> Runtime:
    """Connect to the database and Slack and check both; raise ConfigError with one clear line.
    `request_threads`: how many requests this process may answer at once (its pool's size).
    `lease`: tests only, replaces every row lease (default: TRIAGE_LEASE_SECONDS, else none)."""
    clock = clock or SystemClock()
    lease = lease or lease_override()
    # Checked first: opening a SQLite file that is not there would create an empty one.
    missing = sqlite_problem(settings.database_url)
    if missing:
        raise ConfigError([f"DATABASE_URL: {missing}"])
    engine = make_engine(settings.database_url, pool_size=pool_size(request_threads))
    try:
        problem = schema_problem(engine)
    except Exception as exc:  # connection refused, bad credentials, unknown database...
        engine.dispose()
        raise ConfigError(
            [f"DATABASE_URL: {connect_problem(settings.database_url, exc)}"]
        ) from None
    if problem:
        engine.dispose()
        raise ConfigError([f"DATABASE_URL: {problem}"])
    try:
        taxonomy = load_taxonomy(settings.team.taxonomy)
    except TaxonomyError as exc:
        raise ConfigError([str(exc)]) from None
    unknown = sorted(r for r in settings.team.policy.deadline_by_reason if r not in taxonomy)
    if unknown:
        engine.dispose()
        raise ConfigError(
            [
                f"{settings.config_path}: policy.deadline_by_reason.{r}: not a reason of the "
                f"taxonomy (one of {', '.join(taxonomy.ids())})"
                for r in unknown
            ]
        )
    gateway = SlackGateway(make_web_client(settings.slack_bot_token, settings.slack_api_url))
    bot = BotIdentity(user_id="", bot_id="", team_id="")
    if check_slack:
        try:
            bot = gateway.identity()
        except SlackDeliveryError as exc:
            where = settings.slack_api_url or "https://slack.com/api/"
            hint = (
                "Slack rejected the token" if exc.permanent else f"Slack is unreachable at {where}"
            )
            engine.dispose()
            raise ConfigError([f"SLACK_BOT_TOKEN: {hint} ({exc.error})"]) from None
    factory = make_sessionmaker(engine)
    # Every post, from any process, waits for its channel's slot in Slack's pace.
    gateway.pace = ChannelPace(factory, settings.team.slack)
    llm = LLMClassifier.from_settings(settings, taxonomy) if settings.openai_api_key else None
    classifier = OfflineClassifier(
        taxonomy,
        team_language=settings.team.language,
        provisional=llm is not None,
        brand=settings.team.brand,
    )
    # The newest learned model stored by any process: a restart classifies as before it.
    classifier.learned = learning.load_newest(factory, taxonomy)
    if llm is not None:  # the LLM's prompt gets the team's most similar labelled examples
        llm.similar = classifier.similar
    activity = RequestActivity()
    dispatcher = OutboxDispatcher(
        factory,
        gateway,
        clock,
        cases.card_renderer(settings.team, taxonomy, clock),
        home_renderer(settings.team, taxonomy, clock, bot.url),
        send_digest=digests.sender(factory, gateway),
        pause=activity.between_items,
        lease=lease or outbox.LEASE,
    )
    return Runtime(
        settings,
        engine,
        factory,
        clock,
        gateway,
        taxonomy,
        classifier,
        bot,
        dispatcher,
        llm,
        activity=activity,
        lease=lease,
    )


# SQLAlchemy's default pool size: a connection opened beyond it is closed when given back.
DEFAULT_POOL_SIZE = 5


def pool_size(request_threads: int) -> int:
    """Connections a process keeps open: one per request thread and one for its background
    worker. A smaller pool would close and reopen connections under load (a new PostgreSQL
    connection costs the server a process and the ack milliseconds)."""
    return max(DEFAULT_POOL_SIZE, request_threads + 1)


def create_bolt_app(rt: Runtime) -> App:
    """The Bolt app with every listener registered."""

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # Bolt's default asks auth.test on the first request; during a Slack outage that would
        # drop incoming events. The identity was checked at start, so no call is needed here.
        # Always the installation's own ids, never the payload's: a request from another
        # workspace or org is refused by the context middleware (handlers/context.py).
        return AuthorizeResult(
            enterprise_id=rt.bot.enterprise_id or enterprise_id,
            team_id=rt.bot.team_id or team_id,
            bot_token=rt.settings.slack_bot_token,
            bot_id=rt.bot.bot_id,
            bot_user_id=rt.bot.user_id,
        )

    _drop_unused_token_warning()
    app = App(
        authorize=authorize,
        # Bolt copies the root logger's level onto its own loggers and logs a rejected request's
        # whole body at INFO: its loggers get an explicit level and the privacy filter instead.
        logger=logs.library_logger("slack_bolt.App"),
        signing_secret=rt.settings.slack_signing_secret or "",
        # Without a token here: Bolt hands listeners a client carrying the token from authorize().
        client=WebClient(base_url=rt.gateway.client.base_url),
        # Listeners record work in the database before Slack gets its ack, then the worker acts:
        # a crash after the ack loses nothing, and the ack never waits on Slack or the LLM.
        process_before_response=True,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    context.install(app, rt, case_buttons=actions.CASE_BUTTONS, case_views=actions.CASE_VIEWS)
    # Bolt tries listeners in this order, each costing a match: the most frequent go first.
    actions.register_claim(app, rt)
    commands.register(app, rt)
    events.register(app, rt)
    actions.register(app, rt)
    shortcuts.register(app, rt)
    errors.register(app, rt)
    return app


class _UnusedTokenWarning(logging.Filter):
    """Drops Bolt's "As you gave `client` as well, `token` will be unused." and nothing else.

    Bolt takes SLACK_BOT_TOKEN from the environment whenever no token is passed, and warns
    when a client is passed too. The bot must pass a client (its base_url is SLACK_API_URL)
    and `authorize` (no auth.test per request), and the environment holds the token for
    load_settings: no construction avoids the warning (a token without a client draws a like
    warning about `authorize`), and it describes exactly what is intended. Left alone, every
    web worker logs it at start, and operators learn to ignore warnings."""

    MESSAGE = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


def _drop_unused_token_warning() -> None:
    bolt = logging.getLogger("slack_bolt.App")  # the logger Bolt's App warns on
    if not any(isinstance(f, _UnusedTokenWarning) for f in bolt.filters):
        bolt.addFilter(_UnusedTokenWarning())


def create_web_app(rt: Runtime) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Slack's endpoint, the webhooks, health and metrics."""
    return web.create_wsgi_app(create_bolt_app(rt), rt)
