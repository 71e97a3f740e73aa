"""Fault suite: the database stopped, hung and restarted under load, the bot SIGKILLed and restarted.

Real PostgreSQL (its processes frozen with SIGSTOP for a hang), the real bot in a
subprocess (`python -m bot run` or `serve`) on one data folder across restarts, and
the local Bot API test server playing Telegram. Every scenario ends with the same
checks: every reply a resident received has its exchange in the database, no
question is logged twice, and every question sent was answered in the end.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from bot.console import run_chat
from bot.service import PlanService
from bot.store import Exchange, upgrade
from bot.update_journal import exchange_uid
from bot.web import SECRET_HEADER, webhook_path, webhook_secret
from tests.botapi import BotApiServer
from tests.helpers import BotProcess, bot_env, converse, free_port, make_settings
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

TOKEN = "123:ABC"
BOT_ID = 123
QUESTIONS = ("保育園が足りない", "空き家", "ゴミの分別どうなるの？", "バス少なすぎ", "公園を増やして")
USERS = range(8001, 8013)


@pytest.fixture
def database(pg_database: str, postgres_server: PostgresServer) -> Iterator[str]:
    upgrade(pg_database)
    yield pg_database
    with contextlib.suppress(subprocess.CalledProcessError):
        postgres_server.start()  # a failed test must not leave the server down for the next one


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        yield server


class Residents:
    """Residents asking numbered questions; what they were sent back is read from the Bot API server."""

    def __init__(self, api: BotApiServer, deliver: Callable[[int], None] | None = None) -> None:
        self.api = api
        self.deliver = deliver  # webhook mode: how Telegram hands an update to the bot
        self.sent: dict[int, str] = {}  # update id -> question
        self._lock = threading.Lock()

    def ask(self, count: int, *, interval: float = 0.0) -> None:
        for _ in range(count):
            with self._lock:
                number = len(self.sent)
                text = f"{QUESTIONS[number % len(QUESTIONS)]}（その{number}）"
                user = USERS[number % len(USERS)]
                update_id = self.api.send_text(user, text, deliver=self.deliver is None)
                self.sent[update_id] = text
            if self.deliver is not None:
                self.deliver(update_id)
            time.sleep(interval)

    @contextlib.contextmanager
    def asking(self, count: int, *, interval: float) -> Iterator[None]:
        """Questions keep arriving in the background while the block runs (and until they are all sent)."""
        thread = threading.Thread(target=self.ask, args=(count,), kwargs={"interval": interval})
        thread.start()
        try:
            yield
        finally:
            thread.join(60)

    def replied(self) -> list[str]:
        """The exchange uid of every answer a resident received (its 👍 button), duplicates included."""
        return [
            data.split(":", 2)[2]
            for user in USERS
            for message in self.api.messages(user)
            for data in message.callback_data
            if data.startswith("f:+:")
        ]

    def expected(self) -> set[str]:
        with self._lock:
            return {exchange_uid(BOT_ID, update_id) for update_id in self.sent}

    def wait_replies(self, count: int, timeout: float = 30.0) -> None:
        _wait(lambda: len(set(self.replied())) >= count, timeout, f"{count} answered questions")

    def wait_all_answered(self, timeout: float = 30.0) -> None:
        _wait(lambda: self.expected() <= set(self.replied()), timeout, "every question answered")


def _hold_back_after(api: BotApiServer, answers: int) -> None:
    """Flood control after the next `answers` replies: the rest wait, so a worker killed after
    them always leaves questions unanswered, however late the test notices (clear_faults ends it)."""
    api.fail_next("sendMessage", status=429, retry_after=60, times=10_000, after=answers)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def _stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row.uid, row.question) for row in connection.execute(select(Exchange.uid, Exchange.question))
        ]


def _assert_nothing_lost(residents: Residents, url: str, timeout: float = 30.0) -> None:
    """Every received reply is logged, nothing twice, every question answered."""
    residents.wait_all_answered()
    engine = create_engine(url, poolclass=NullPool)
    try:
        replied = set(residents.replied())

        def all_stored() -> bool:
            with contextlib.suppress(Exception):
                return replied <= {uid for uid, _question in _stored(engine)}
            return False

        _wait(all_stored, timeout, "exchange in the database for every reply")
        rows = _stored(engine)
    finally:
        engine.dispose()
    twice = [question for question, count in Counter(q for _uid, q in rows).items() if count > 1]
    assert twice == []
    assert {uid for uid, _question in rows} == residents.expected() == replied
    assert sorted(question for _uid, question in rows) == sorted(residents.sent.values())


class Worker:
    """`python -m bot run` (or `serve`) on one data folder, restarted after each kill."""

    def __init__(self, env: dict[str, str], data_dir: Path, command: str = "run") -> None:
        self.env, self.data_dir, self.command = env, data_dir, command
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        log = self.data_dir.parent / f"{self.data_dir.name}-{self.command}-{self.starts}.log"
        self.process = BotProcess(self.env, log, self.command)

    def restart(self) -> None:
        """SIGKILL, then start again on the same data folder."""
        self.process.process.kill()
        self.process.process.wait(10)
        self.start()

    def wait_started(self) -> None:
        _wait(lambda: "Application started" in self.process.output, 30, "the bot up")

    def stop(self) -> None:
        """SIGTERM once the process is up (before that, Python's default handler just ends it)."""
        self.wait_started()
        # uvicorn (`serve`) re-raises SIGTERM once it has shut down cleanly.
        clean = (0, -signal.SIGTERM) if self.command == "serve" else (0,)
        assert self.process.stop() in clean, self.process.output


@pytest.fixture
def worker_factory(api: BotApiServer, database: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def make(command: str = "run", **extra: str) -> Worker:
        data_dir = tmp_path / "data"
        env = bot_env(api.base_url, api.base_file_url, data_dir, DATABASE_URL=database, **extra)
        workers.append(Worker(env, data_dir, command))
        return workers[-1]

    yield make
    for worker in workers:
        if worker.process.process.poll() is None:
            worker.process.process.kill()
    # Shown by pytest only when the test failed: what each process of the worker said.
    for log in sorted(tmp_path.glob("data-*.log")):
        print(f"===== {log.name}\n{log.read_text(encoding='utf-8')}")


def test_database_stopped_worker_killed_and_restarted_during_the_outage(
    api: BotApiServer, database: str, postgres_server: PostgresServer, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    residents = Residents(api)
    residents.ask(6)
    residents.wait_replies(6)
    postgres_server.stop()
    _hold_back_after(api, 4)
    with residents.asking(24, interval=0.1):
        residents.wait_replies(10)
        worker.restart()  # SIGKILL mid-burst; the new process starts with the database down
        api.clear_faults()
    worker.wait_started()
    residents.wait_all_answered()
    assert "database unavailable at start-up" in worker.process.output
    postgres_server.start()
    _assert_nothing_lost(residents, database)
    worker.stop()


def test_database_hung_worker_killed_and_restarted_during_the_hang(
    api: BotApiServer, database: str, postgres_server: PostgresServer, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    residents = Residents(api)
    residents.ask(4)
    residents.wait_replies(4)
    with postgres_server.hung():
        _hold_back_after(api, 4)
        with residents.asking(16, interval=0.1):
            residents.wait_replies(8)
            worker.restart()
            api.clear_faults()
        worker.wait_started()  # its start waits out the database's connect timeout first
        residents.wait_all_answered()  # answered while the database still hangs
    _assert_nothing_lost(residents, database)
    output = worker.process.output
    # Quiet: a line when the outage is noticed and one when it ends, not one per exchange.
    assert output.count("database unavailable (seen by") <= 2 and "Traceback" not in output, output
    worker.stop()


def test_worker_killed_mid_burst_and_mid_replay_while_the_database_restarts(
    api: BotApiServer, database: str, postgres_server: PostgresServer, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    residents = Residents(api)
    _hold_back_after(api, 8)
    residents.ask(40)  # one burst: fetched and acknowledged in batches, long before all are answered
    residents.wait_replies(8)
    api.mark()  # before the kill: the next process may answer what was left before it logs that it started
    worker.restart()
    api.clear_faults()
    worker.wait_started()
    api.wait_for("sendMessage", predicate=lambda call: call.ok, count=2, timeout=30)
    worker.restart()  # killed again while it handles what the first one left
    postgres_server.stop()
    postgres_server.start()
    residents.ask(10, interval=0.05)
    residents.wait_all_answered()
    residents.ask(30)  # a graceful stop in a burst finishes every update it has taken
    residents.wait_replies(len(set(residents.replied())) + 2)
    worker.stop()
    assert list((worker.data_dir / "updates").glob("*.jsonl")) == []
    worker.start()
    _assert_nothing_lost(residents, database)
    worker.stop()


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


def test_webhook_worker_killed_and_database_stopped_under_load(
    api: BotApiServer, database: str, postgres_server: PostgresServer, worker_factory: Callable[..., Worker]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = worker_factory("serve", PORT=str(port), WEBHOOK_URL="https://bot.example.jp")

    def deliver(update_id: int) -> None:
        """Like Telegram: POST until the bot answers 200, retrying while it is down."""
        body = json.dumps(api.get_update(update_id)).encode()
        headers = {SECRET_HEADER: webhook_secret(TOKEN), "Content-Type": "application/json"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            request = urllib.request.Request(base + webhook_path(TOKEN), body, headers, method="POST")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(request, timeout=5) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"update {update_id} was never accepted")

    _wait(lambda: _get(base + "/healthz")[0] == 200, 30, "web process up")
    residents = Residents(api, deliver)
    residents.ask(4)
    residents.wait_replies(4)
    postgres_server.stop()
    _hold_back_after(api, 4)
    with residents.asking(20, interval=0.05):
        _wait(lambda: _get(base + "/healthz")[1].get("status") == "degraded", 15, "degraded /healthz")
        residents.wait_replies(8)
        worker.restart()
        api.clear_faults()
    residents.wait_all_answered()
    postgres_server.start()
    _assert_nothing_lost(residents, database)
    _wait(lambda: _get(base + "/healthz")[1].get("status") == "ok", 15, "healthy /healthz")
    worker.stop()


def test_console_keeps_answering_while_the_database_hangs(
    database: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    service = PlanService.start(make_settings(tmp_path, DATABASE_URL=database))
    converse(service, "console", "staff", "空き家")
    assert service.log.flush()
    script = iter([*QUESTIONS, "/quit"])
    written: list[str] = []
    chat = threading.Thread(
        target=run_chat, args=(service,), kwargs={"read": lambda _p: next(script), "write": written.append}
    )
    try:
        with postgres_server.hung():
            chat.start()
            chat.join(20)  # a console waiting on the database would still be stuck here
            assert not chat.is_alive()
            _wait(lambda: not service.health.available, 10, "the hang noticed")
        assert sum("\n■ " in f"\n{text}" for text in written) >= 3  # measure cards
        assert service.log.flush(timeout=30)
        assert service.health.available
        engine = create_engine(database, poolclass=NullPool)
        assert len(_stored(engine)) == 1 + len(QUESTIONS)
        engine.dispose()
    finally:
        service.close()
