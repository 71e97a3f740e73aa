"""What every channel shares in one process: the active plan, the database and the answer log.

Channels (console, Telegram, web) answer through `bot.conversation`, which searches
`bundle` and hands each exchange to `log`. The log only appends to a local journal
(see `answer_log`), so logging never delays what the resident sees; Telegram
records before replying, so that a reply a resident saw is never missing from the
log, even if the process is killed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from index import Hit, PlanBundle, SearchResult

from .answer_log import AnswerLog, ExchangeRecord, FeedbackRecord, HitRecord
from .config import Settings
from .health import DatabaseHealth
from .store import open_database, pseudonym, utcnow
from .versions import ActivePlan

__all__ = ["Answered", "PlanService"]


# A longer question is not searched: every channel asks for it again within the limit
# (the web page's box stops there). Nobody's question about the plan needs more, and it
# bounds the work per message.
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

    def record_feedback(self, channel: str, user_id: object, exchange_uid: str, helpful: bool) -> None:
        key = self.user_key(channel, user_id)
        self.log.record(FeedbackRecord(exchange_uid, key, helpful, utcnow()))

    def close(self) -> None:
        self.active.stop()
        self.log.close()
