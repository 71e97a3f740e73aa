"""The answering service every channel shares: search the active plan, then log the exchange.

Channels (console, Telegram, web) call `answer()`, show the reply, and only then
call `record()`, so writing the log never delays what the resident sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from index import PlanBundle, SearchResult

from .answer_log import AnswerLog, ExchangeRecord, FeedbackRecord, HitRecord, new_uid
from .config import Settings
from .store import open_database, pseudonym, utcnow
from .versions import ActivePlan, ensure_initial_version

__all__ = ["Answered", "PlanService"]


# A question longer than this is answered from its beginning (and stored so):
# nobody's question about the plan needs more, and it bounds the work per message.
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Answered:
    uid: str
    channel: str
    user_key: str
    result: SearchResult
    bundle: PlanBundle
    latency_ms: float

    def log_record(self) -> ExchangeRecord:
        hits = self.result.hits
        return ExchangeRecord(
            uid=self.uid,
            created_at=utcnow(),
            channel=self.channel,
            user_key=self.user_key,
            question=self.result.question,
            answered=self.result.answered,
            reason=self.result.reason,
            plan_version=self.bundle.digest,
            latency_ms=self.latency_ms,
            hits=tuple(HitRecord(h.id, rank, round(h.score, 4), h.chapter) for rank, h in enumerate(hits, 1)),
        )


class PlanService:
    """Search + answer log for one process. Build with `PlanService.start(settings)`."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], active: ActivePlan, log: AnswerLog
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.active = active
        self.log = log

    @classmethod
    def start(cls, settings: Settings) -> PlanService:
        """Connect, migrate the embedded database, make sure a plan version exists, start the log writer."""
        sessions = open_database(settings.database_url, migrate=settings.embedded_database)
        ensure_initial_version(sessions)
        active = ActivePlan.from_database(sessions)
        log = AnswerLog(sessions, Path(settings.data_dir) / "spool")
        return cls(settings, sessions, active, log)

    @property
    def bundle(self) -> PlanBundle:
        return self.active.bundle

    def user_key(self, channel: str, user_id: object) -> str:
        return pseudonym(self.settings.log_salt, channel, user_id)

    def answer(self, channel: str, user_id: object, question: str) -> Answered:
        """Search the active plan version (one whole bundle, whatever reindexing happens meanwhile)."""
        started = time.perf_counter()
        bundle = self.active.bundle
        result = bundle.index.search(question[:MAX_QUESTION_CHARS])
        latency_ms = (time.perf_counter() - started) * 1000
        return Answered(new_uid(), channel, self.user_key(channel, user_id), result, bundle, latency_ms)

    def record(self, answered: Answered) -> None:
        self.log.record(answered.log_record())

    def record_feedback(self, channel: str, user_id: object, exchange_uid: str, helpful: bool) -> None:
        key = self.user_key(channel, user_id)
        self.log.record(FeedbackRecord(exchange_uid, key, helpful, utcnow()))

    def close(self) -> None:
        self.log.close()
