"""What one running service holds: settings, database, clock, metrics and the ingestor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .broker_files import BrokerFiles, write_broker_files
from .clock import Clock, SystemClock
from .db import make_engine, make_session_factory
from .metrics import Metrics
from .services.ingest import IngestOptions, Ingestor
from .services.reminders import ReminderPolicy
from .settings import Settings
from .telemetry_history import DatabaseHistory, TelemetryHistory, VictoriaHistory

__all__ = ["CloudState"]


@dataclass
class CloudState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    metrics: Metrics
    ingestor: Ingestor
    history: TelemetryHistory = field(default_factory=DatabaseHistory)  # telemetry windows read back
    sink: Any = None  # the telemetry sink, when one is configured
    downlink: Any = None  # the rollout command publisher, when MQTT is configured

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock | None = None, engine: Engine | None = None
    ) -> CloudState:
        engine = engine or make_engine(settings.db_url)
        sessions = make_session_factory(engine)
        clock = clock or SystemClock()
        options = IngestOptions(
            auto_dispatch=settings.auto_dispatch,
            bulk_summaries=settings.ingest_bulk_summaries,
            reminders=ReminderPolicy(
                reminder_lead=timedelta(days=settings.reminder_lead_days),
                replacement_lead=timedelta(days=settings.replacement_lead_days),
            ),
        )
        history: TelemetryHistory = DatabaseHistory()
        if settings.history_source == "victoriametrics":
            assert settings.influx_url is not None  # the settings refuse it otherwise
            history = VictoriaHistory(settings.influx_url, settings.influx_token)
        return cls(
            settings, engine, sessions, clock, Metrics(), Ingestor(sessions, clock, options), history=history
        )

    def sync_broker(self, session: Session) -> BrokerFiles | None:
        """Rewrite the broker's password file and ACL after the registry changed (when the
        service is configured to keep them: ``PROGNOS_BROKER_AUTH_DIR``)."""
        if self.settings.broker_auth_dir is None:
            return None
        session.flush()
        return write_broker_files(session, self.settings.broker_auth_dir, self.settings.broker_pid_file)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def verification_window(self) -> timedelta:
        return timedelta(hours=self.settings.verification_window_h)

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.settings.offline_after_s)
