"""A resident's conversation context: what they were last shown, for 30 minutes.

「他には？」 and 「詳しく」 need the previous answer. Several processes may serve one
bot, so the context lives in the answer log (`exchanges.state`, written with each
exchange); but the log is written after the reply, by a writer thread, so the
freshest context is also kept in this process. `recall()` takes whichever is newer:
the database is read on every turn, since another process may have answered the
resident since (a button pressed on one, a message sent to the other).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .health import DatabaseHealth
from .store import Exchange, utcnow

__all__ = ["CONTEXT_READERS", "Context", "Contexts"]

logger = logging.getLogger(__name__)

CONTEXT_TTL = dt.timedelta(minutes=30)
# Residents kept in memory; older contexts are still found in the database.
MEMORY_CAPACITY = 10_000
# How long a reply waits for the database's copy of the context.
READ_WAIT_SECONDS = 1.0
# Threads reading contexts for every turn of the process. A read takes about a millisecond,
# so a few serve many residents at once; starting a thread per turn cost more than the read.
CONTEXT_READERS = 4


@dataclass(frozen=True, slots=True)
class Context:
    """What a resident's last answer showed and what it can still offer."""

    language: str
    topic: str  # the question last searched, added to a too-short follow-up
    shown: tuple[str, ...] = ()  # measure ids whose cards were shown
    pending: tuple[str, ...] = ()  # measure ids to offer on 他には, best first
    focus: str | None = None  # the measure 詳しく opens
    explained: bool = False  # 施策／目指す姿 were explained in this conversation
    at: dt.datetime = field(default_factory=utcnow)

    def as_json(self) -> dict[str, object]:
        """The form stored in `exchanges.state` (the time is the exchange's own)."""
        return {
            "language": self.language,
            "topic": self.topic,
            "shown": list(self.shown),
            "pending": list(self.pending),
            "focus": self.focus,
            "explained": self.explained,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], at: dt.datetime) -> Context:
        def ids(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        focus = data.get("focus")
        return cls(
            language=str(data.get("language") or "ja"),
            topic=str(data.get("topic") or ""),
            shown=ids("shown"),
            pending=ids("pending"),
            focus=focus if isinstance(focus, str) else None,
            explained=bool(data.get("explained")),
            at=at,
        )

    def showing(self, measure_id: str) -> Context:
        """This context after the card of `measure_id` was shown."""
        shown = self.shown if measure_id in self.shown else (*self.shown, measure_id)
        pending = tuple(m for m in self.pending if m != measure_id)
        return replace(self, shown=shown, pending=pending, focus=measure_id, at=utcnow())


class Contexts:
    """Recall and remember contexts: this process's memory and the answer log, newest wins."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        health: DatabaseHealth,
        *,
        ttl: dt.timedelta = CONTEXT_TTL,
        read_wait: float = READ_WAIT_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._health = health
        self._ttl = ttl
        self._read_wait = read_wait
        self._memory: OrderedDict[str, Context] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, user_key: str, context: Context) -> None:
        with self._lock:
            self._memory[user_key] = context
            self._memory.move_to_end(user_key)
            while len(self._memory) > MEMORY_CAPACITY:
                self._memory.popitem(last=False)

    def recall(self, user_key: str) -> Context | None:
        """The resident's context if it is younger than 30 minutes, else None (a new conversation)."""
        oldest = utcnow() - self._ttl
        with self._lock:
            remembered = self._memory.get(user_key)
        stored = self._stored(user_key, oldest) if self._health.available else None
        newest = max(
            (c for c in (remembered, stored) if c is not None and c.at >= oldest),
            key=lambda c: c.at,
            default=None,
        )
        return newest

    def _stored(self, user_key: str, oldest: dt.datetime) -> Context | None:
        """The context of the resident's latest exchange in the answer log, read by a shared reader
        thread so that a database that stops answering delays the reply by `read_wait` at most."""
        query = (
            select(Exchange.state, Exchange.created_at)
            .where(Exchange.user_key == user_key, Exchange.created_at >= oldest, Exchange.state.is_not(None))
            .order_by(Exchange.created_at.desc())
            .limit(1)
        )

        def read() -> Context | None:
            try:
                with self._health.call("conversation context"), self._sessions() as session:
                    row = session.execute(query).first()
            except SQLAlchemyError:  # the database is down: this process's memory still serves
                logger.warning("could not read conversation context; using this process's memory")
                return None
            if row is not None and isinstance(row.state, dict):
                return Context.from_json(row.state, row.created_at)
            return None

        return _READERS.run(read, self._read_wait)


_Job = tuple[Future[Context | None], Callable[[], Context | None]]


class _Readers:
    """A few daemon threads that run the context reads of every turn in this process.

    Daemon threads, so that a read stuck on a database that stopped answering never holds up
    the process's exit; a read still waiting for a thread when its turn gave up is dropped.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, read: Callable[[], Context | None], seconds: float) -> Context | None:
        """What `read` returns, or None if it has not returned within `seconds`."""
        self._start()
        future: Future[Context | None] = Future()
        self._jobs.put((future, read))
        try:
            return future.result(timeout=seconds)
        except TimeoutError:
            future.cancel()
            return None

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self._size:
                name = f"context-read-{len(self._threads) + 1}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            future, read = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(read())
            except BaseException as error:  # handed to the turn waiting for it
                future.set_exception(error)


_READERS = _Readers(CONTEXT_READERS)
