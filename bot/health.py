"""Whether this process can reach its database, as its background threads last saw it.

The answer-log writer and the plan follower are the only code that talks to the
database on its own; they report every attempt here. `/healthz` reads the state,
and an outage is logged once when it begins and once when it ends, not once per
exchange. A call that has not returned after `hang_seconds` counts as an outage
too: a frozen server (a stuck lock, a partition the kernel still acknowledges)
never fails, it just stops answering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

__all__ = ["DatabaseHealth", "unavailable"]

logger = logging.getLogger(__name__)

HANG_SECONDS = 3.0


def unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached (try again later), not that it refused."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class DatabaseHealth:
    """`with health.call("answer log"):` around each database attempt; `available` for /healthz."""

    def __init__(self, *, hang_seconds: float = HANG_SECONDS) -> None:
        self._hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._failed = False
        self._started: dict[int, float] = {}  # call id -> monotonic start, while running
        self._next_id = 0
        self._reported_down = False
        self._watcher: threading.Thread | None = None

    @property
    def available(self) -> bool:
        with self._lock:
            return not self._failed and not self._hung()

    def _hung(self) -> bool:
        now = time.monotonic()
        return any(now - started > self._hang_seconds for started in self._started.values())

    @contextmanager
    def call(self, what: str) -> Iterator[None]:
        """Time one database attempt; an error saying it is unreachable marks it unavailable."""
        with self._lock:
            self._next_id += 1
            call_id = self._next_id
            self._started[call_id] = time.monotonic()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="db-health", daemon=True)
                self._watcher.start()
        failed = True
        try:
            yield
            failed = False
        except Exception as error:
            failed = unavailable(error)
            raise
        finally:
            with self._lock:
                del self._started[call_id]
                self._failed = failed
            self._report(what)

    def _report(self, what: str) -> None:
        """One log line per change of state."""
        with self._lock:
            down = self._failed or self._hung()
            if down == self._reported_down:
                return
            self._reported_down = down
        if down:
            logger.warning("database unavailable (seen by %s): answering on, exchanges kept locally", what)
        else:
            logger.info("database available again (seen by %s)", what)

    def _watch(self) -> None:
        """Notice a call that hangs, which no caller can report while it is stuck in it."""
        while True:
            time.sleep(self._hang_seconds / 3)
            self._report("a call that has not returned")
