"""The composition root: builds the runtime (database, Slack gateway, classifier, worker) and
the Bolt app with its handlers. The only module, with the CLI, that imports handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import cases, classification, digests, reminders, slack_intake
from bot.background import BackgroundWorker, RequestActivity
from bot.case_actions import Actor
from bot.classify_llm import LLMClassifier
from bot.classify_offline import OfflineClassifier
from bot.clock import Clock, SystemClock
from bot.config import ConfigError, Settings
from bot.home import home_renderer
from bot.outbox import OutboxDispatcher
from bot.pace import ChannelPace
from bot.permissions import Managers
from bot.private_notes import PrivateNotes
from bot.slack_gateway import BotIdentity, SlackDeliveryError, SlackGateway, make_web_client
from bot.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from storage.db import make_engine, make_sessionmaker, yielding_writes
from storage.migrate import schema_problem

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a handler or job needs, built once per process."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    clock: Clock
    gateway: SlackGateway
    taxonomy: Taxonomy
    classifier: OfflineClassifier
    bot: BotIdentity
    dispatcher: OutboxDispatcher
    llm: LLMClassifier | None = None  # set when OPENAI_API_KEY is: reclassifies after intake
    # The Slack and webhook requests being answered: background work waits for their gaps.
    activity: RequestActivity = field(default_factory=RequestActivity)
    worker: BackgroundWorker = field(init=False)
    notes: PrivateNotes = field(init=False)  # private answers to clicks that changed nothing
    managers: Managers = field(init=False)
    digest_schedule: digests.DigestScheduler = field(init=False)  # when each digest is due

    def __post_init__(self) -> None:
        self.worker = BackgroundWorker(self.run_pending, activity=self.activity)
        self.notes = PrivateNotes(self.gateway, self.activity)
        self.managers = Managers(self.settings.team, self.gateway)
        self.digest_schedule = digests.DigestScheduler()

    def actor(self, user_id: str) -> Actor:
        """The person acting on a case now, with what they are allowed to do."""
        return Actor(
            user_id, self.settings.team, self.managers, self.managers.user_ids, self.clock.now()
        )

    def run_pending(self) -> int:
        """One pass: apply recorded clicks on Claim, process recorded intake, send due reminders,
        escalations and expiries (claimed per row, so every process may run it), then deliver due
        Slack writes; returns work done."""
        with yielding_writes():  # the acks' writes go first, in every process
            return self._pass()

    def _pass(self) -> int:
        done = cases.apply_claims(
            self.factory, self.settings.team, pause=self.activity.between_items
        )
        done += slack_intake.process_pending(
            self.factory, self.gateway, self.classifier, self.settings.team, self.clock
        )
        done += reminders.sweep(
            self.factory,
            self.settings.team,
            self.clock,
            taxonomy=self.taxonomy,
            team_url=self.bot.url,
        )
        # Due digests: the database decides which process posts each run (insert-or-skip).
        done += self.digest_schedule.run_due(
            self.factory, self.settings.team, self.clock.now(), self.taxonomy, self.bot.url
        )
        report = self.dispatcher.deliver_due()
        if self.llm is not None:  # after the delivery, so provisional cards never wait on it
            done += classification.process_llm_jobs(
                self.factory, self.llm, self.settings.team, self.clock
            )
        return done + report.sent

    def close(self) -> None:
        """Stop the worker and release database connections."""
        self.worker.stop()
        self.notes.close()
        if self.llm is not None:
            self.llm.close()
        self.engine.dispose()


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
    from handlers import actions, commands, errors, events, shortcuts

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
    # Bolt tries listeners in this order, each costing a match: the most frequent go first.
    actions.register_claim(app, rt)
    commands.register(app, rt)
    events.register(app, rt)
    actions.register(app, rt)
    shortcuts.register(app, rt)
    errors.register(app, rt)
    return app
