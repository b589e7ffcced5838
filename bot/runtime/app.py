"""The composition root: builds the runtime (database, Slack gateway, classifiers, worker), the
Bolt app with its listeners and the WSGI application around it. The only module that imports
`handlers/`: services never do, so Slack's surfaces can change without touching the rules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.cases import service as cases
from bot.cases.home import home_renderer
from bot.classification.llm import LLMClassifier
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import TaxonomyError, load_taxonomy
from bot.digests import service as digests
from bot.runtime.background import RequestActivity
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.runtime import Runtime
from bot.runtime.settings import ConfigError, Settings
from bot.slack.gateway import BotIdentity, SlackDeliveryError, SlackGateway, make_web_client
from bot.slack.outbox import OutboxDispatcher
from bot.slack.pace import ChannelPace
from handlers import actions, commands, context, errors, events, shortcuts, web
from storage.db import make_engine, make_sessionmaker
from storage.migrate import schema_problem

log = logging.getLogger(__name__)


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    *,
    check_slack: bool = True,
    request_threads: int = 0,
) -> Runtime:
    """Connect to the database and Slack and check both; raise ConfigError with one clear line.
    `request_threads`: how many requests this process may answer at once (its pool's size)."""
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url, pool_size=pool_size(request_threads))
    try:
        problem = schema_problem(engine)
    except Exception as exc:  # connection refused, bad credentials, unknown database...
        engine.dispose()
        raise ConfigError(
            [
                f"DATABASE_URL: cannot open the database ({type(exc).__name__}: {exc})".splitlines()[
                    0
                ]
            ]
        ) from None
    if problem:
        engine.dispose()
        raise ConfigError([f"DATABASE_URL: {problem}"])
    try:
        taxonomy = load_taxonomy()
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
        taxonomy, team_language=settings.team.language, provisional=llm is not None
    )
    activity = RequestActivity()
    dispatcher = OutboxDispatcher(
        factory,
        gateway,
        clock,
        cases.card_renderer(settings.team, taxonomy, clock),
        home_renderer(settings.team, taxonomy, clock, bot.url),
        send_digest=digests.sender(factory, gateway),
        pause=activity.between_items,
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
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or rt.bot.team_id,
            bot_token=rt.settings.slack_bot_token,
            bot_id=rt.bot.bot_id,
            bot_user_id=rt.bot.user_id,
        )

    app = App(
        authorize=authorize,
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


def create_web_app(rt: Runtime) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Slack's endpoint, the webhooks, health and metrics."""
    return web.create_wsgi_app(create_bolt_app(rt), rt)
