"""Writing the answer log without ever delaying a reply or losing an entry.

Handlers hand a record to `AnswerLog.record()` (a queue put) after the reply is
sent; one writer thread per process stores records in order. When the database
is down or locked, records go to this process's spool file and are written, in
order and exactly once, when it is back: inserts are keyed by the record's uid,
so replaying a spool that was half written adds nothing twice.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .store import Exchange, ExchangeHit, Feedback

__all__ = ["AnswerLog", "ExchangeRecord", "FeedbackRecord", "HitRecord", "new_uid"]

logger = logging.getLogger(__name__)


def new_uid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class HitRecord:
    measure_id: str
    rank: int
    score: float
    chapter: int


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    uid: str
    created_at: dt.datetime
    channel: str
    user_key: str
    question: str
    answered: bool
    reason: str
    plan_version: str
    latency_ms: float
    hits: tuple[HitRecord, ...] = ()
    state: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    exchange_uid: str
    user_key: str
    helpful: bool
    created_at: dt.datetime
    reason: str | None = None


Record = ExchangeRecord | FeedbackRecord


def _to_line(record: Record) -> str:
    data = asdict(record)
    data["created_at"] = record.created_at.isoformat()
    data["type"] = "exchange" if isinstance(record, ExchangeRecord) else "feedback"
    return json.dumps(data, ensure_ascii=False)


def _from_line(line: str) -> Record:
    data: dict[str, Any] = json.loads(line)
    kind = data.pop("type")
    data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
    if kind == "exchange":
        data["hits"] = tuple(HitRecord(**hit) for hit in data["hits"])
        return ExchangeRecord(**data)
    return FeedbackRecord(**data)


def _write(session: Session, record: Record) -> None:
    """Store one record idempotently: writing the same record twice changes nothing."""
    if isinstance(record, ExchangeRecord):
        if session.scalar(select(Exchange.id).where(Exchange.uid == record.uid)) is not None:
            return
        fields = {k: v for k, v in asdict(record).items() if k != "hits"}
        exchange = Exchange(**fields, hits=[ExchangeHit(**asdict(hit)) for hit in record.hits])
        session.add(exchange)
        return
    exchange_id = session.scalar(select(Exchange.id).where(Exchange.uid == record.exchange_uid))
    if exchange_id is None:
        logger.warning("feedback for unknown exchange %s dropped", record.exchange_uid)
        return
    feedback = session.scalar(
        select(Feedback).where(Feedback.exchange_id == exchange_id, Feedback.user_key == record.user_key)
    )
    if feedback is None:
        feedback = Feedback(exchange_id=exchange_id, user_key=record.user_key)
        session.add(feedback)
    feedback.helpful = record.helpful
    feedback.reason = record.reason
    feedback.created_at = record.created_at


class _Spool:
    """This process's spool file, locked so that no other process drains it while we live.

    Its methods are called by the writer thread and, at shutdown, by the closing thread.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.rejected = directory / "rejected.jsonl.txt"  # not *.jsonl: never replayed
        name = f"{os.getpid()}-{new_uid()[:8]}"
        # Created under another name and locked before it becomes visible as a spool, so a
        # starting process can never adopt it in the instant before the lock.
        unlocked = directory / f"{name}.new"
        self._handle: IO[str] = unlocked.open("a+", encoding="utf-8")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        self.path = unlocked.rename(directory / f"{name}.jsonl")
        self._lock = threading.Lock()
        self.pending = 0

    def append(self, record: Record) -> None:
        with self._lock:
            self._handle.write(_to_line(record) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.pending += 1

    def reject(self, records: list[Record]) -> None:
        """Keep entries the database refuses for good where staff can find them."""
        with self._lock, self.rejected.open("a", encoding="utf-8") as rejected:
            rejected.writelines(_to_line(record) + "\n" for record in records)

    def adopt_orphans(self) -> None:
        """Move entries of spools left by processes that died into ours, oldest file first."""
        for path in sorted(self.directory.glob("*.jsonl")):
            if path == self.path:
                continue
            try:
                with path.open("r+", encoding="utf-8") as orphan:
                    try:
                        fcntl.flock(orphan, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its process is alive and will drain it
                    self._adopt(orphan.read().splitlines())
                    path.unlink()
            except FileNotFoundError:
                continue  # its process closed it, or another process adopted it first

    def _adopt(self, lines: list[str]) -> None:
        for line in filter(str.strip, lines):
            try:
                self.append(_from_line(line))
            except (ValueError, KeyError, TypeError):
                # A line torn by a crash: keep the text, do not block start-up.
                with self._lock, self.rejected.open("a", encoding="utf-8") as rejected:
                    rejected.write(line + "\n")

    def read(self) -> list[Record]:
        with self._lock:
            self._handle.seek(0)
            return [_from_line(line) for line in self._handle.read().splitlines() if line.strip()]

    def keep(self, records: list[Record]) -> None:
        """Rewrite the spool with only `records` (the ones not yet stored)."""
        with self._lock:
            self._handle.seek(0)
            self._handle.truncate()
            for record in records:
                self._handle.write(_to_line(record) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.pending = len(records)

    def close(self) -> None:
        with self._lock:
            empty = self.pending == 0
            self._handle.close()
            if empty:
                self.path.unlink(missing_ok=True)


_STOP = object()


class AnswerLog:
    """The per-process answer-log writer: `record()` never blocks, `flush()` waits for the database."""

    def __init__(
        self, sessions: sessionmaker[Session], spool_dir: Path, *, retry_seconds: float = 2.0
    ) -> None:
        self._sessions = sessions
        self._spool = _Spool(spool_dir)
        self._retry_seconds = retry_seconds
        self._queue: queue.Queue[object] = queue.Queue()
        self._idle = threading.Event()
        self._in_flight: Record | None = None
        self._thread = threading.Thread(target=self._run, name="answer-log", daemon=True)
        self._spool.adopt_orphans()
        self._thread.start()

    @property
    def spooled(self) -> int:
        """Entries waiting in the spool for the database to come back."""
        return self._spool.pending

    def record(self, record: Record) -> None:
        self._idle.clear()
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far is in the database; False on timeout."""
        self._idle.clear()
        self._queue.put(None)  # wakes the writer for an immediate drain attempt
        return self._idle.wait(timeout) and self._queue.empty() and self._spool.pending == 0

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer; whatever it could not store by `timeout` stays in the spool."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():  # the database hangs: keep the queue on disk for the next start
            # The entry being written may still land too; replaying it later adds nothing.
            if self._in_flight is not None:
                self._spool.append(self._in_flight)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, ExchangeRecord | FeedbackRecord):
                    self._spool.append(item)
        self._spool.close()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._retry_seconds)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._safely(self._drain)
                return
            if isinstance(item, ExchangeRecord | FeedbackRecord):
                self._in_flight = item
                self._safely(self._store, item)
                self._in_flight = None
            else:
                self._safely(self._drain)
            if self._queue.empty() and not self._spool.pending:
                self._idle.set()

    def _safely(self, step: Callable[..., object], *args: object) -> None:
        """One writer step; an unexpected failure (disk full, a bug) is logged, never fatal."""
        try:
            step(*args)
        except Exception:
            logger.exception("answer log: writer step failed; retrying in %.1fs", self._retry_seconds)
            time.sleep(self._retry_seconds)

    def _store(self, record: Record) -> None:
        # Keep order: while older entries wait in the spool, new ones queue behind them.
        if self._spool.pending and not self._drain():
            self._spool.append(record)
            return
        if not self._try_write([record]):
            self._spool.append(record)

    def _drain(self) -> bool:
        """Write spooled entries in order; True when the spool is empty afterwards."""
        if not self._spool.pending:
            return True
        records = self._spool.read()
        stored = 0
        for record in records:
            if not self._try_write([record]):
                break
            stored += 1
        if stored:
            self._spool.keep(records[stored:])
            logger.info("answer log: wrote %d spooled entries, %d left", stored, self._spool.pending)
        return self._spool.pending == 0

    def _try_write(self, records: list[Record], *, retry: bool = True) -> bool:
        """True when the records are stored (or kept aside for good); False to spool them."""
        try:
            with self._sessions() as session, session.begin():
                for record in records:
                    _write(session, record)
            return True
        except IntegrityError:
            # Usually another process stored the same entry between our check and insert:
            # writing again finds it and adds nothing. A second failure is a bad entry.
            if retry:
                return self._try_write(records, retry=False)
            self._reject(records)
            return True
        except DBAPIError as error:
            if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
                logger.warning("answer log: database unavailable, spooling (%s)", type(error).__name__)
                return False
            self._reject(records)
            return True
        except Exception:
            self._reject(records)
            return True

    def _reject(self, records: list[Record]) -> None:
        # An entry the database refuses for good must not block the ones behind it;
        # it is kept aside for staff instead of being lost.
        logger.exception("answer log: entry rejected, kept in %s", self._spool.rejected)
        self._spool.reject(records)
