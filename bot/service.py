"""The answering service every channel shares: search the active plan, then log the exchange.

Channels (console, Telegram, web) call `answer()` and `record()`, and show the
reply. `record()` only appends to a local journal (see `answer_log`), so logging
never delays what the resident sees; Telegram records before replying, so that a
reply a resident saw is never missing from the log, even if the process is killed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from index import Hit, PlanBundle, SearchResult

from .answer_log import AnswerLog, ExchangeRecord, FeedbackRecord, HitRecord, new_uid
from .config import Settings
from .health import DatabaseHealth
from .store import open_database, pseudonym, utcnow
from .versions import ActivePlan

__all__ = ["Answered", "PlanService"]


# A question longer than this is answered from its beginning (and stored so):
# nobody's question about the plan needs more, and it bounds the work per message.
MAX_QUESTION_CHARS = 1000
# The search's candidates logged for a related or declined question: enough to resolve it from.
LOGGED_CANDIDATES = 5


def _ranked(hits: tuple[Hit, ...]) -> tuple[HitRecord, ...]:
    return tuple(HitRecord(h.id, rank, round(h.score, 4), h.chapter) for rank, h in enumerate(hits, 1))


@dataclass(frozen=True, slots=True)
class Answered:
    uid: str
    channel: str
    user_key: str
    result: SearchResult
    bundle: PlanBundle
    latency_ms: float

    def log_record(self, state: dict[str, object] | None = None) -> ExchangeRecord:
        """The exchange as the answer log stores it; `state` is the conversation after it."""
        result = self.result
        return ExchangeRecord(
            uid=self.uid,
            created_at=utcnow(),
            channel=self.channel,
            user_key=self.user_key,
            question=result.question,
            answered=result.answered,
            reason=result.reason,
            plan_version=self.bundle.digest,
            latency_ms=self.latency_ms,
            hits=_ranked(result.hits),
            state=state,
            candidates=() if result.answered else _ranked(result.candidates[:LOGGED_CANDIDATES]),
        )


class PlanService:
    """Search + answer log for one process. Build with `PlanService.start(settings)`."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        active: ActivePlan,
        log: AnswerLog,
        health: DatabaseHealth,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.active = active
        self.log = log
        self.health = health

    @classmethod
    def start(cls, settings: Settings) -> PlanService:
        """Migrate the embedded database, load the active plan and follow it, start the log writer.

        Works while PostgreSQL is down or hung: answers come from the last plan version this
        data folder knew, and the log waits in the journal until the database is back.
        """
        sessions = open_database(settings.database_url, migrate=settings.embedded_database)
        health = DatabaseHealth()
        active = ActivePlan.start(sessions, Path(settings.data_dir), health)
        active.follow()
        log = AnswerLog(sessions, Path(settings.data_dir) / "spool", health=health)
        return cls(settings, sessions, active, log, health)

    @property
    def bundle(self) -> PlanBundle:
        return self.active.bundle

    def user_key(self, channel: str, user_id: object) -> str:
        return pseudonym(self.settings.log_salt, channel, user_id)

    def answer(self, channel: str, user_id: object, question: str, *, uid: str | None = None) -> Answered:
        """Search the active plan version (one whole bundle, whatever reindexing happens meanwhile).

        `uid` names the exchange when the channel can handle one message twice (Telegram after
        a crash), so that the answer log keeps it once.
        """
        started = time.perf_counter()
        bundle = self.active.bundle
        result = bundle.index.search(question[:MAX_QUESTION_CHARS])
        latency_ms = (time.perf_counter() - started) * 1000
        return Answered(
            uid or new_uid(), channel, self.user_key(channel, user_id), result, bundle, latency_ms
        )

    def record(self, answered: Answered) -> None:
        self.log.record(answered.log_record())

    def record_feedback(self, channel: str, user_id: object, exchange_uid: str, helpful: bool) -> None:
        key = self.user_key(channel, user_id)
        self.log.record(FeedbackRecord(exchange_uid, key, helpful, utcnow()))

    def close(self) -> None:
        self.active.stop()
        self.log.close()
