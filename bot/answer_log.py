"""Writing the answer log without ever delaying a reply or losing an entry.

Handlers hand a record to `AnswerLog.record()` before the reply goes out: it is
appended to this process's journal file (a write that reaches the operating
system, so it survives the process being killed) and nothing else happens on the
caller's thread. One writer thread per process fsyncs the journal in batches and
copies it, in order, to the database; when the database is down, locked or hung
the entries simply wait in the journal, which is the only queue (memory holds
one batch at most). Inserts are keyed by the record's uid, so replaying a
journal that was half written, or a record written twice, adds nothing twice. A
journal left by a process that died is adopted at the next start.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .health import DatabaseHealth, unavailable
from .journal_files import adopt_orphans, create_locked
from .store import Exchange, ExchangeCandidate, ExchangeHit, Feedback

__all__ = ["AnswerLog", "ExchangeRecord", "FeedbackRecord", "HitRecord", "new_uid"]

logger = logging.getLogger(__name__)

BATCH = 200  # records per transaction, and the most the writer holds in memory
READ_BYTES = 1 << 20


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
    # What the search ranked for a related or declined question (shown or not), for staff
    # resolving it; empty for answered questions.
    candidates: tuple[HitRecord, ...] = ()


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
        # Lines journalled before candidates were logged have none.
        data["candidates"] = tuple(HitRecord(**hit) for hit in data.get("candidates", ()))
        return ExchangeRecord(**data)
    return FeedbackRecord(**data)


def _write(session: Session, record: Record) -> None:
    """Store one record idempotently: writing the same record twice changes nothing."""
    if isinstance(record, ExchangeRecord):
        if session.scalar(select(Exchange.id).where(Exchange.uid == record.uid)) is not None:
            return
        fields = {k: v for k, v in asdict(record).items() if k not in ("hits", "candidates")}
        exchange = Exchange(
            **fields,
            hits=[ExchangeHit(**asdict(hit)) for hit in record.hits],
            candidates=[ExchangeCandidate(**asdict(hit)) for hit in record.candidates],
        )
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


class _Journal:
    """This process's journal file, locked so that no other process adopts it while we live.

    Appends come from request threads, everything else from the writer thread (and, at
    shutdown, the closing thread); one lock orders them. `_stored` is the byte offset up to
    which entries are in the database: the file is emptied whenever everything is.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.rejected = directory / "rejected.jsonl.txt"  # not *.jsonl: never replayed
        self._fd, self.path = create_locked(directory)
        self._lock = threading.Lock()
        self._stored = 0
        self._dirty = False
        self._closed = False
        self.pending = 0

    def append(self, record: Record) -> None:
        """One write(2) of one whole line: in the kernel's hands once this returns."""
        data = (_to_line(record) + "\n").encode()
        with self._lock:
            if self._closed:
                raise RuntimeError("the answer log is closed")
            os.write(self._fd, data)
            self._dirty = True
            self.pending += 1

    def sync(self) -> None:
        """fsync what was appended since the last call (one fsync for a whole batch)."""
        with self._lock:
            if self._dirty and not self._closed:
                os.fsync(self._fd)
                self._dirty = False

    def unstored(self) -> list[tuple[Record, int]]:
        """Up to BATCH entries not yet in the database, each with the offset just past it."""
        with self._lock:
            if self._closed:
                return []
            data = os.pread(self._fd, READ_BYTES, self._stored)
        entries: list[tuple[Record, int]] = []
        offset = self._stored
        for line in data.splitlines(keepends=True)[:BATCH]:
            if not line.endswith(b"\n"):
                break  # beyond READ_BYTES: read with the next batch
            offset += len(line)
            entries.append((_from_line(line.decode()), offset))
        return entries

    def stored(self, offset: int, count: int) -> None:
        """Entries up to `offset` are in the database; empty the file when all of it is."""
        with self._lock:
            self._stored = offset
            self.pending -= count
            if not self._closed and offset == os.fstat(self._fd).st_size:
                os.ftruncate(self._fd, 0)
                self._stored = 0

    def reject(self, records: list[Record]) -> None:
        """Keep entries the database refuses for good where staff can find them."""
        with self._lock, self.rejected.open("a", encoding="utf-8") as rejected:
            rejected.writelines(_to_line(record) + "\n" for record in records)

    def adopt_orphans(self) -> None:
        """Move entries of journals left by processes that died into ours, oldest file first."""
        adopt_orphans(self.directory, self.path, self._adopt)

    def _adopt(self, lines: list[str]) -> None:
        for line in filter(str.strip, lines):
            try:
                self.append(_from_line(line))
            except (ValueError, KeyError, TypeError):
                # A line torn by a crash: keep the text, do not block start-up.
                with self._lock, self.rejected.open("a", encoding="utf-8") as rejected:
                    rejected.write(line + "\n")
        self.sync()  # on disk in ours before the orphan goes

    def close(self) -> None:
        """Release the file: deleted when empty, else left (synced) for the next start to adopt."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.fsync(self._fd)
            if self.pending == 0:
                self.path.unlink(missing_ok=True)
            os.close(self._fd)


class AnswerLog:
    """The per-process answer-log writer: `record()` never waits for the database, `flush()` does."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        spool_dir: Path,
        *,
        retry_seconds: float = 2.0,
        health: DatabaseHealth | None = None,
    ) -> None:
        self._sessions = sessions
        self._journal = _Journal(spool_dir)
        self._retry_seconds = retry_seconds
        self._health = health or DatabaseHealth()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        self._outage_written: int | None = None  # entries written since the database came back
        self._thread = threading.Thread(target=self._run, name="answer-log", daemon=True)
        self._journal.adopt_orphans()
        self._thread.start()

    @property
    def spooled(self) -> int:
        """Entries in the journal that are not in the database yet."""
        return self._journal.pending

    @property
    def journal_path(self) -> Path:
        return self._journal.path

    def record(self, record: Record) -> None:
        """Journal the entry (durable against a killed process) and wake the writer."""
        self._idle.clear()
        self._journal.append(record)
        self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the journal is empty, everything recorded so far in the database (and
        whatever other threads record meanwhile); False on timeout.

        The writer may mark itself idle for a drain that ended just before our entries came, so
        idle with entries pending means: wake it again, until the journal is empty or time is up.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._idle.clear()
            self._wake.set()  # an immediate drain attempt, even while retrying
            if not self._idle.wait(max(deadline - time.monotonic(), 0.0)):
                return False
            if self._journal.pending == 0:
                return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer; whatever it could not store by `timeout` stays in the journal."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        # A writer stuck on a hung database may still finish its batch; replaying it adds nothing.
        self._journal.close()

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            # While the database is unavailable, try again every few seconds (or when flushed).
            self._wake.wait(self._retry_seconds if failing else None)
            self._wake.clear()
            failing = not self._step()
        self._step()

    def _step(self) -> bool:
        """Sync the journal and write it to the database; False when the database is unavailable."""
        try:
            self._journal.sync()
            return self._drain()
        except Exception:  # disk full, a bug: logged, never fatal; the journal keeps the entries
            logger.exception("answer log: writer step failed; retrying")
            return False

    def _drain(self) -> bool:
        while entries := self._journal.unstored():
            written = self._store(entries)
            if written:
                self._journal.stored(entries[written - 1][1], written)
                if self._outage_written is not None:
                    self._outage_written += written
            if written < len(entries):
                if self._outage_written is None:
                    logger.warning(
                        "answer log: database unavailable; %d entries wait in %s",
                        self._journal.pending,
                        self._journal.path,
                    )
                self._outage_written = 0
                return False
        if self._outage_written is not None:
            logger.info("answer log: wrote %d entries kept during the outage", self._outage_written)
            self._outage_written = None
        self._idle.set()
        return True

    def _store(self, entries: list[tuple[Record, int]]) -> int:
        """Store entries in one transaction, else one by one; how many are done (stored or kept aside)."""
        records = [record for record, _offset in entries]
        try:
            self._transaction(records)
            return len(records)
        except Exception as error:
            if unavailable(error):
                return 0
        for done, record in enumerate(records):
            if not self._write_one(record):
                return done
        return len(records)

    def _write_one(self, record: Record) -> bool:
        """True when the record is stored (or kept aside for good); False while the database is away."""
        refusal: Exception | None = None
        for _attempt in (1, 2):
            try:
                self._transaction([record])
                return True
            except IntegrityError as error:
                # Usually another process stored the same entry between our check and insert:
                # writing again finds it and adds nothing. A second failure is a bad entry.
                refusal = error
            except Exception as error:
                if unavailable(error):
                    return False
                refusal = error
                break
        # An entry the database refuses for good must not block the ones behind it;
        # it is kept aside for staff instead of being lost.
        logger.error("answer log: entry rejected, kept in %s", self._journal.rejected, exc_info=refusal)
        self._journal.reject([record])
        return True

    def _transaction(self, records: list[Record]) -> None:
        with self._health.call("the answer log"), self._sessions() as session, session.begin():
            for record in records:
                _write(session, record)
