"""Per-process journal files on disk: created locked, adopted when their process died.

Both journals (the answer log's and Telegram's updates) keep one append-only JSONL file
per process in a folder of the data directory. A live process holds an exclusive flock
on its file for as long as it runs, so a starting process can tell a dead process's file
(lock free: adopt it) from a running one's (locked: leave it).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["adopt_orphans", "create_locked"]


def create_locked(directory: Path) -> tuple[int, Path]:
    """A new journal file for this process, open for appending and locked.

    It is created under another name and locked before it becomes visible as a journal, so a
    starting process can never adopt it in the instant before the lock.
    """
    name = f"{os.getpid()}-{os.urandom(4).hex()}"
    unlocked = directory / f"{name}.new"
    fd = os.open(unlocked, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    path = directory / f"{name}.jsonl"
    unlocked.rename(path)
    return fd, path


def adopt_orphans(directory: Path, own: Path, adopt: Callable[[list[str]], None]) -> None:
    """Hand the lines of every journal left by a dead process to `adopt`, oldest file first, then
    delete that file. `adopt` must make the lines durable in our own journal before it returns."""
    for path in sorted(directory.glob("*.jsonl")):
        if path == own:
            continue
        try:
            with path.open("r", encoding="utf-8") as orphan:
                try:
                    fcntl.flock(orphan, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive
                adopt(orphan.read().split("\n"))  # not splitlines(): U+2028 is text
                path.unlink()
        except FileNotFoundError:
            continue  # its process closed it, or another process adopted it first
