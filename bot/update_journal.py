"""Telegram updates kept on disk from receipt until handled, so a killed process loses no question.

Telegram forgets an update once it is acknowledged: in polling mode by the next
getUpdates offset, in webhook mode by our 200. python-telegram-bot acknowledges a
batch as soon as it is queued, long before its handlers ran. So every update is
appended to this process's journal and fsynced as it enters the Application's
update queue (`JournaledQueue.put`, which both the Updater and the webhook
endpoint await before acknowledging), and marked done when its handlers finished
(`JournaledUpdateProcessor`). A journal left by a process that died is adopted at
the next start and its unfinished updates are handled then, once: update ids seen
before are dropped, whichever way they come back.

An update that was handled but whose done mark did not reach the disk is handled
again after a crash; `exchange_uid` makes its logged exchange the same one.

The journal keeps what handling needs (ids, text, language, button data) and not who
people are: names, usernames and chat titles are blanked before a line is written
(`without_names`). Handled updates leave the file at the next compaction, every few
hundred lines; only their ids stay, enough to drop a redelivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, SimpleUpdateProcessor

from .journal_files import adopt_orphans, create_locked

__all__ = ["JournaledQueue", "JournaledUpdateProcessor", "UpdateJournal", "exchange_uid", "without_names"]

logger = logging.getLogger(__name__)

# Done update ids remembered to drop a redelivery. Telegram redelivers only what it did not see
# acknowledged, within seconds: at most one getUpdates batch (100) or the webhook's connections (≤100).
KEEP_IDS = 200
COMPACT_LINES = 400  # rewrite the journal (pending updates and recent ids only) past this many lines

# Who a person or group is, in every user, chat and contact of an update. first_name is required
# when an update is read back, so it stays as ""; "title" is a name only in a chat (a venue needs its own).
_NAME_KEYS = frozenset({"last_name", "username", "usernames", "active_usernames"})
_CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})


def without_names(value: Any) -> Any:
    """A copy of an update's JSON without names, usernames and chat titles, at any depth."""
    if isinstance(value, list):
        return [without_names(item) for item in value]
    if not isinstance(value, dict):
        return value
    dropped = _NAME_KEYS | ({"title"} if value.get("type") in _CHAT_TYPES else set())
    kept = {key: without_names(item) for key, item in value.items() if key not in dropped}
    if "first_name" in kept:
        kept["first_name"] = ""
    return kept


def exchange_uid(bot_id: int, update_id: int) -> str:
    """The answer-log uid of the exchange an update produces: the same when it is handled again."""
    return hashlib.sha256(f"telegram:{bot_id}:{update_id}".encode()).hexdigest()[:32]


class UpdateJournal:
    """This process's update journal: `{"update": …}` lines when received, `{"done": id}` when handled.

    Locked like the answer-log journal, so a running process's file is never adopted.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._fd, self.path = create_locked(self.directory)
        self._lock = threading.Lock()
        self._seen: dict[int, dict[str, Any] | None] = {}  # id -> the update while pending, None when done
        self._lines = 0
        self._compact_at = COMPACT_LINES
        self._closed = False
        adopt_orphans(directory, self.path, self._adopt)

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Updates received (here or by a process that died) and not yet handled, oldest first."""
        with self._lock:
            return [update for update in self._seen.values() if update is not None]

    def receive(self, update: dict[str, Any]) -> bool:
        """Record an update durably before it is acknowledged; False when it was seen before."""
        update_id = int(update["update_id"])
        with self._lock:
            if update_id in self._seen:
                return False
            update = without_names(update)
            self._seen[update_id] = update
            self._append({"update": update})
            os.fsync(self._fd)
            return True

    def done(self, update_id: int) -> None:
        """The update's handlers have finished (no fsync: losing the mark only means handling it again)."""
        with self._lock:
            if self._seen.get(update_id) is None:
                return
            self._seen[update_id] = None
            self._append({"done": update_id})
            if self._lines >= self._compact_at:
                self._compact()

    def close(self) -> None:
        """Release the file: deleted when nothing is pending, else left for the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.fsync(self._fd)
            if all(value is None for value in self._seen.values()):
                self.path.unlink(missing_ok=True)
            os.close(self._fd)

    def _append(self, entry: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("the update journal is closed")
        os.write(self._fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode())
        self._lines += 1

    def _compact(self) -> None:
        """Move pending updates and the most recent done ids to a new file, then drop the old one.

        A crash in between leaves both files; adopting both handles nothing twice.
        """
        done = [update_id for update_id, update in self._seen.items() if update is None][-KEEP_IDS:]
        kept = set(done)
        self._seen = {i: update for i, update in self._seen.items() if update is not None or i in kept}
        old_fd, old_path = self._fd, self.path
        self._fd, self.path = create_locked(self.directory)
        self._lines = 0
        for update_id, update in self._seen.items():
            self._append({"update": update} if update is not None else {"done": update_id})
        os.fsync(self._fd)
        old_path.unlink()
        os.close(old_fd)
        self._compact_at = max(COMPACT_LINES, 2 * self._lines)

    def _adopt(self, lines: list[str]) -> None:
        adopted: dict[int, dict[str, Any] | None] = {}
        for line in filter(str.strip, lines):
            try:
                entry = json.loads(line)
                if "update" in entry:  # names blanked too if an older release wrote them
                    adopted.setdefault(int(entry["update"]["update_id"]), without_names(entry["update"]))
                else:
                    adopted[int(entry["done"])] = None
            except (ValueError, KeyError, TypeError):
                logger.warning("update journal: skipped a line torn by a crash in %s", self.directory)
        for update_id, update in adopted.items():
            if update_id in self._seen:
                continue
            self._seen[update_id] = update
            self._append({"update": update} if update is not None else {"done": update_id})
        os.fsync(self._fd)  # on disk in ours before the orphan goes
        waiting = sum(update is not None for update in adopted.values())
        if waiting:
            logger.info("update journal: %d update(s) left unhandled by a stopped process", waiting)


class JournaledQueue(asyncio.Queue[object]):
    """The Application's update queue: an update is journaled before `put` returns.

    The Updater awaits `put` for every update of a batch before its next getUpdates
    acknowledges them, and the webhook endpoint awaits it before answering 200.
    Anything else (PTB's stop signal) passes through untouched.
    """

    def __init__(self, journal: UpdateJournal) -> None:
        super().__init__()
        self.journal = journal

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and not self.journal.receive(item.to_dict()):
            return  # a redelivery of an update this data folder already has
        await super().put(item)

    async def replay(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Queue the journal's unhandled updates (call before the Application starts)."""
        for data in self.journal.pending:
            update = Update.de_json(data, application.bot)
            if update is not None:
                await super().put(update)


class JournaledUpdateProcessor(SimpleUpdateProcessor):
    """Concurrent handling (as `concurrent_updates(True)`), marking each update done when handled."""

    def __init__(self, journal: UpdateJournal, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.journal = journal

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        if isinstance(update, Update):
            self.journal.done(update.update_id)
