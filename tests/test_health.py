"""Database health: an outage is one log line when it starts and one when it ends; a hang counts too."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.health import DatabaseHealth

REFUSED = OperationalError("SELECT 1", {}, Exception("connection refused"))


def _attempt(health: DatabaseHealth, error: Exception | None = None) -> None:
    try:
        with health.call("a test"):
            if error is not None:
                raise error
    except Exception as raised:
        assert raised is error


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DatabaseHealth()
    with caplog.at_level(logging.INFO, logger="bot.health"):
        for _ in range(20):
            _attempt(health, REFUSED)
        assert not health.available
        for _ in range(5):
            _attempt(health)
    assert health.available
    assert [record.getMessage().split(" (")[0] for record in caplog.records] == [
        "database unavailable",
        "database available again",
    ]


def test_a_refused_entry_is_not_an_outage() -> None:
    health = DatabaseHealth()
    _attempt(health, IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert health.available


def test_a_call_that_does_not_return_counts_as_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    health = DatabaseHealth(hang_seconds=0.3)
    release = threading.Event()

    def hung_call() -> None:
        with health.call("a test"):
            release.wait(10)

    caller = threading.Thread(target=hung_call)
    with caplog.at_level(logging.INFO, logger="bot.health"):
        caller.start()
        deadline = time.monotonic() + 5
        while health.available and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not health.available
        deadline = time.monotonic() + 5
        while "database unavailable" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)  # logged by the watcher: the caller itself is stuck
        assert "database unavailable" in caplog.text
        release.set()
        caller.join(5)
    assert health.available
    assert "database available again" in caplog.text
