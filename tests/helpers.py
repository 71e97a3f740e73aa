"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bot.config import Settings

if TYPE_CHECKING:
    from bot.answer_log import ExchangeRecord
    from bot.service import PlanService
    from bot.store import Exchange
    from tests.botapi import BotApiServer


TEST_SALT = "test-salt-0123456789abcdef0123456789"  # LOG_SALT of every test data folder


def free_port() -> int:
    """A port free now, for a server started later by another process (a bot, PostgreSQL).

    It is taken below the kernel's range for outgoing connections, so no client socket is
    handed it in the meantime, or while a stopped PostgreSQL is away from it.
    """
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    # Below the range when there is room, else above it; a seeded `random` would give every test
    # process the same ports.
    first, last = (10_000, low) if low > 11_000 else (high + 1, 65_536)
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(first, last)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port outside the ephemeral range")


def _logged_exchanges(data_dir: Path) -> list[Exchange]:
    """The exchanges in a data folder's embedded database, oldest first."""
    from sqlalchemy import select

    from bot.store import Exchange, make_engine, make_sessionmaker

    sessions = make_sessionmaker(make_engine(f"sqlite:///{data_dir / 'planbot.sqlite3'}"))
    with sessions() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def wait_logged(data_dir: Path, question: str, timeout: float = 20.0) -> Exchange:
    """The exchange of `question` once a bot process's writer thread has stored it (just after
    the reply the resident saw)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in _logged_exchanges(data_dir) if e.question == question]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"exchange not logged: {question}")


def make_settings(data_dir: Path, **overrides: str) -> Settings:
    """Settings as the environment would give them, on a private data folder."""
    env = {"PLANBOT_DATA_DIR": str(data_dir), "LOG_SALT": TEST_SALT, **overrides}
    return Settings.from_env(env)


def converse(
    service: PlanService, channel: str, user_id: object, text: str, *, log: bool = True
) -> ExchangeRecord:
    """A resident's message through the channels' own path (`bot.conversation`); the exchange
    it logs, handed to the answer log unless `log` is False."""
    from bot.conversation import Conversation, Turn

    conversation = Conversation(service)
    reply = conversation.reply(Turn(channel, service.user_key(channel, user_id), text=text))
    assert reply.exchange is not None, text
    if log:
        conversation.record(reply)
    return reply.exchange


class BotProcess:
    """`python -m bot <command>` in a subprocess, as production starts it, with its output kept.

    The environment points the bot at a local Bot API test server; stop() sends SIGTERM
    and checks that the process shut down cleanly.
    """

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "run", *args: str) -> None:
        import os
        import subprocess
        import sys

        self.log_path = log_path
        self._log = log_path.open("w", encoding="utf-8")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", command, *args],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8")

    def stop(self, timeout: float = 20.0) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code


class RunningBot(NamedTuple):
    """`python -m bot run` talking to its own local Bot API test server, with its data folder."""

    api: BotApiServer
    process: BotProcess
    data_dir: Path


def bot_env(api_base_url: str, api_file_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment an operator would set, pointed at the test server and a private data folder."""
    return {
        "TELEGRAM_BOT_TOKEN": "123:ABC",
        "TELEGRAM_BASE_URL": api_base_url,
        "TELEGRAM_BASE_FILE_URL": api_file_url,
        "PLANBOT_DATA_DIR": str(data_dir),
        "LOG_SALT": TEST_SALT,
        **extra,
    }
