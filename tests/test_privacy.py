"""What the product keeps about people: nothing that says who they are.

A resident with a distinctive id, username and name talks to `python -m bot run` through the
local Bot API test server while `python -m bot web` serves a web-chat visitor and a failed staff
login (the password typed into the name field, as happens). Then every table of the database,
every file in the data folder and both processes' log output are searched for each of them.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
from sqlalchemy import MetaData, func, select

from bot.store import Exchange, make_engine, make_sessionmaker
from tests.botapi import BotApiServer
from tests.helpers import BotProcess, bot_env, free_port

RESIDENT_ID = 7350912846
USERNAME = "zq_privacy_probe"
FIRST_NAME = "Hanakoprobe"
LAST_NAME = "Zyxwvutsson"
CHAT_ADDRESS = "203.0.113.77"  # the web-chat visitor, as the proxy in front reports them
STAFF_ADDRESS = "198.51.100.9"  # the failed login's address may be logged: it is a security event
PASSWORD = "Zq-Passw0rd-4417-not-a-name"

NAMES = (USERNAME, FIRST_NAME, LAST_NAME, PASSWORD, CHAT_ADDRESS)


def _mentions(text: str, secret: str) -> bool:
    """`secret` as a whole token: a number inside a hex digest or a longer number does not count."""
    pattern = rf"(?<![0-9A-Za-z_.]){re.escape(secret)}(?![0-9A-Za-z_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _leaks(texts: dict[str, str], secrets: Iterable[str]) -> list[tuple[str, str]]:
    return [(where, secret) for where, text in texts.items() for secret in secrets if _mentions(text, secret)]


def _files(data_dir: Path) -> dict[str, str]:
    """Every file in the data folder, byte for byte (ASCII probes match in any encoding)."""
    return {
        str(path.relative_to(data_dir)): path.read_bytes().decode("latin-1")
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def _tables(data_dir: Path) -> dict[str, str]:
    """Every row of every table in the database, as text."""
    engine = make_engine(f"sqlite:///{data_dir / 'planbot.sqlite3'}")
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        dump = {
            f"table {table.name}": "\n".join(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }
    engine.dispose()
    return dump


def _wait_for_web(base: str, web: BotProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/chat/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the web process did not start:\n{web.output}")


def _wait_exchanges(data_dir: Path, count: int) -> None:
    sessions = make_sessionmaker(make_engine(f"sqlite:///{data_dir / 'planbot.sqlite3'}"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with sessions() as session:
            if (session.scalar(select(func.count()).select_from(Exchange)) or 0) >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} exchanges were logged")


def _telegram_conversation(api: BotApiServer) -> list[int]:
    """A question, a rating and a second question; the updates' ids."""
    api.mark()
    ids = [
        api.send_text(RESIDENT_ID, "空き家", first_name=FIRST_NAME, last_name=LAST_NAME, username=USERNAME)
    ]
    reply = api.wait_reply(RESIDENT_ID)
    down = next(data for data in reply.callback_data if data.startswith("f:-:"))
    api.mark()
    ids.append(api.press_button(RESIDENT_ID, reply.message_id, down))
    api.wait_for("answerCallbackQuery")
    api.mark()
    ids.append(
        api.send_text(
            RESIDENT_ID, "保育園が足りない", first_name=FIRST_NAME, last_name=LAST_NAME, username=USERNAME
        )
    )
    api.wait_reply(RESIDENT_ID)
    return ids


def _web_visits(base: str) -> None:
    """A web-chat question from CHAT_ADDRESS and a failed staff login from STAFF_ADDRESS."""
    reply = httpx.post(
        f"{base}/api/chat",
        json={"message": "公園を増やして", "language": "ja"},
        headers={"x-forwarded-for": CHAT_ADDRESS},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    with httpx.Client(base_url=base, headers={"x-forwarded-for": STAFF_ADDRESS}, timeout=30) as browser:
        form = browser.get("/staff/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text
        login = browser.post(
            "/staff/login", data={"name": PASSWORD, "password": PASSWORD, "csrf_token": token[1]}
        )
        assert login.status_code == 401


def test_nothing_kept_says_who_residents_are_or_what_staff_typed_as_a_password(tmp_path: Path) -> None:
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    base = f"http://127.0.0.1:{free_port()}"
    with BotApiServer(token="123:ABC") as api:
        env = bot_env(api.base_url, api.base_file_url, data_dir)
        bot = BotProcess(env, logs / "bot.log")
        api.wait_polling()  # the bot has migrated the database: the web process finds it ready
        web = BotProcess(env, logs / "web.log", "web", "--port", base.rsplit(":", 1)[1])
        try:
            _wait_for_web(base, web)
            update_ids = _telegram_conversation(api)
            _web_visits(base)
            _wait_exchanges(data_dir, 3)
            # What the running processes keep on disk (the update journal among it).
            running = _files(data_dir) | _tables(data_dir)
        finally:
            assert bot.stop() == 0, bot.output
            assert web.stop() in (0, -signal.SIGTERM), web.output  # uvicorn re-raises it once shut down
        sent = "\n".join(json.dumps(api.get_update(update_id)) for update_id in update_ids)
    # The search finds each of them where they are: in what Telegram sent.
    assert _leaks({"sent": sent}, (str(RESIDENT_ID), USERNAME, FIRST_NAME, LAST_NAME)) == [
        ("sent", str(RESIDENT_ID)),
        ("sent", USERNAME),
        ("sent", FIRST_NAME),
        ("sent", LAST_NAME),
    ]
    assert _leaks(running, NAMES) == []
    kept = _files(data_dir) | _tables(data_dir) | {"bot log": bot.output, "web log": web.output}
    assert _leaks(kept, (str(RESIDENT_ID), *NAMES)) == []
    assert _mentions(web.output, STAFF_ADDRESS)  # the failed login is logged, by address
    assert "INFO alembic" not in web.output + bot.output  # migrations say nothing when all is well
    database_files = list(data_dir.glob("planbot.sqlite3*"))
    assert database_files and all(path.stat().st_mode & 0o777 == 0o600 for path in database_files)


def test_the_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "planbot.sqlite3"
    make_engine(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)  # as an earlier release left it
    make_engine(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o600
