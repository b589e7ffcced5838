"""The runtime: everything a handler or job needs (settings, database, clock, Slack, classifiers,
background worker), built once per process by the composition root (`bot.runtime.app`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.cases import reminders
from bot.cases import service as cases
from bot.cases.actions import Actor
from bot.cases.permissions import Managers
from bot.classification import learning
from bot.classification import service as classification
from bot.classification.llm import LLMClassifier
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import Taxonomy
from bot.digests import service as digests
from bot.intake import model_reading
from bot.intake import slack_messages as slack_intake
from bot.intake.connectors import service as connectors
from bot.runtime.background import BackgroundWorker, RequestActivity
from bot.runtime.clock import Clock
from bot.runtime.settings import Settings
from bot.slack.gateway import BotIdentity, SlackGateway
from bot.slack.outbox import OutboxDispatcher
from bot.slack.private_notes import PrivateNotes
from storage.db import yielding_writes


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
    lease: timedelta | None = None  # tests only (TRIAGE_LEASE_SECONDS): replaces every row lease
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
        """One background pass, in this order: apply recorded Claim clicks, turn recorded intake
        into cases, send due reminders, escalations and expiries, queue due digests, deliver due
        Slack writes, then run LLM classification and reading jobs. Every step claims its rows,
        so any number of processes may run it; returns the work done."""
        with yielding_writes():  # the acks' writes go first, in every process
            return self._pass()

    def _pass(self) -> int:
        done = cases.apply_claims(
            self.factory, self.settings.team, pause=self.activity.between_items
        )
        done += slack_intake.process_pending(
            self.factory,
            self.gateway,
            self.classifier,
            self.settings.team,
            self.clock,
            lease=self.lease or slack_intake.LEASE,
        )
        if self.settings.team.connectors:  # survey responses to fetch (SurveyMonkey)
            done += connectors.process_fetches(
                self.factory, self.classifier, self.settings, self.clock
            )
        done += reminders.sweep(
            self.factory,
            self.settings.team,
            self.clock,
            taxonomy=self.taxonomy,
            team_url=self.bot.url,
            lease=self.lease or reminders.LEASE,
        )
        # Due digests: the database decides which process posts each run (insert-or-skip).
        done += self.digest_schedule.run_due(
            self.factory, self.settings.team, self.clock.now(), self.taxonomy, self.bot.url
        )
        report = self.dispatcher.deliver_due()
        # Retrain when the team's examples changed, and use the newest stored model version.
        done += learning.refresh(self.factory, self.classifier, self.clock)
        if self.llm is not None:  # after the delivery, so provisional cards never wait on it
            done += classification.process_llm_jobs(
                self.factory, self.llm, self.settings.team, self.clock
            )
            # Messages with no verbatim the parser found, for the model to read.
            done += model_reading.process_read_jobs(
                self.factory, self.llm, self.classifier, self.settings.team, self.clock
            )
        return done + report.sent

    def close(self) -> None:
        """Stop the worker and release database connections."""
        self.worker.stop()
        self.notes.close()
        if self.llm is not None:
            self.llm.close()
        self.engine.dispose()
