"""Shared fixtures: real settings on a temporary data folder, a real SQLite file, the real plan, and the
bot running as production runs it against a local Bot API test server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from bot.config import Settings
from bot.service import PlanService
from index import PlanBundle, load_bundle
from tests.botapi import BotApiServer
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import BotProcess, RunningBot, bot_env, make_settings
from tests.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def bundle() -> PlanBundle:
    """The bundled plan, built once per test run (it is immutable)."""
    return load_bundle()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> Iterator[PlanService]:
    """The answering service on a fresh SQLite database, migrated and holding plan version 1."""
    service = PlanService.start(settings)
    yield service
    service.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This test process's own PostgreSQL server; tests that need it skip when PostgreSQL is not installed."""
    server = PostgresServer.create()
    if server is None:
        pytest.skip("PostgreSQL is not installed (see README: Tests)")
    yield server
    server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the test PostgreSQL server (dropped afterwards)."""
    import uuid

    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    name = f"planbot_test_{uuid.uuid4().hex[:12]}"
    # No pool: outage tests restart the server, which kills pooled connections.
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_settings(tmp_path: Path, pg_database: str) -> Settings:
    """Settings whose DATABASE_URL is a fresh PostgreSQL database (migrated by `db upgrade`)."""
    from bot.store import upgrade

    upgrade(pg_database)
    return make_settings(tmp_path, DATABASE_URL=pg_database)


@pytest.fixture(scope="module")
def bot_extra_env() -> dict[str, str]:
    """More environment for the module's running bot; a test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, bot_extra_env: dict[str, str]) -> Iterator[RunningBot]:
    """One bot process per test module, listening before the first test starts."""
    data_dir = tmp_path_factory.mktemp("bot")
    with BotApiServer(token="123:ABC") as api:
        env = bot_env(api.base_url, api.base_file_url, data_dir, **bot_extra_env)
        process = BotProcess(env, data_dir / "bot.log")
        try:
            api.wait_polling()
            yield RunningBot(api, process, data_dir)
        finally:
            assert process.stop() == 0, process.output


@pytest.fixture
def api(running: RunningBot) -> BotApiServer:
    return running.api


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium for one test module; each test opens its own context (profile).

    Module scope, not session: Playwright's sync API keeps its event loop set as running in the
    thread while it is started, so pytest-asyncio could not run a later module's async tests.
    """
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    # Assertions wait for a page as long as actions do: a loaded 2-core machine takes seconds to
    # answer a staff preview, beyond Playwright's 5 s default.
    expect.set_options(timeout=15_000)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Modules whose tests take many seconds each, run first: mypy (no cache on a fresh clone) and the
# fault suite (servers stopped and restarted). Started last, they would end one worker's share
# long after the others (xdist hands idle workers the end of a busy worker's queue).
LONG_MODULES = ("test_lint.py", "test_faults.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
