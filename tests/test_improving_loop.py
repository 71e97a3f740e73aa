"""The improving-answers loop end to end, with the real bots: a question the Telegram bot cannot answer
is resolved, the suggested synonym accepted and published, and the running bot and the console chat
then answer it with the chosen measure; a rollback restores the previous answer.

The same loop through the dashboard's pages is tested in the browser tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.botapi import BotApiServer
from tests.helpers import BotProcess, bot_env

GREEN = "グリーンカーテンってやってる？"
MEASURE_TITLE = "低炭素・循環型社会の推進"  # 4-1-2
RESIDENT = 6001


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[tuple[BotApiServer, dict[str, str]]]:
    with BotApiServer(token="123:ABC") as api:
        env = bot_env(api.base_url, api.base_file_url, tmp_path / "data")
        process = BotProcess(env, tmp_path / "bot.log")
        try:
            api.wait_polling()
            yield api, env
        finally:
            assert process.stop() == 0, process.output


def _staff(env: dict[str, str], *args: str) -> str:
    """A staff command on the bot's own database."""
    result = CliRunner().invoke(cli, list(args), env={**env, "TELEGRAM_BOT_TOKEN": ""})
    assert result.exit_code == 0, result.output
    return result.output


def _ask(api: BotApiServer, text: str) -> str:
    seen = len(api.messages(RESIDENT))
    api.send_text(RESIDENT, text)
    deadline = time.monotonic() + 15
    while len(api.messages(RESIDENT)) <= seen and time.monotonic() < deadline:
        time.sleep(0.05)
    replies = api.messages(RESIDENT)
    assert len(replies) > seen, "no reply"
    return replies[seen].plain_text


def _asked_until(api: BotApiServer, answered: bool, seconds: float = 15.0) -> str:
    """Ask until the bot (polling for the active version) answers with the measure, or stops doing so."""
    deadline = time.monotonic() + seconds
    while True:
        reply = _ask(api, GREEN)
        if (MEASURE_TITLE in reply) == answered or time.monotonic() > deadline:
            return reply
        time.sleep(0.5)


def _logged_id(env: dict[str, str]) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = json.loads(_staff(env, "logs", "--search", GREEN, "--format", "json"))
        if rows:
            return int(rows[-1]["id"])
        time.sleep(0.2)
    raise AssertionError("the exchange was never logged")


def _console(env: dict[str, str], question: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input=question + "\n",
        env={**os.environ, **env, "TELEGRAM_BOT_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_resolve_accept_publish_then_every_channel_answers_and_rollback_restores(
    bot: tuple[BotApiServer, dict[str, str]],
) -> None:
    api, env = bot
    first = _ask(api, GREEN)
    assert MEASURE_TITLE not in first
    exchange = _logged_id(env)

    _staff(env, "resolve", str(exchange), "--measure", "4-1-2", "--by", "tanaka")
    assert "added to the draft: synonym: 低炭素 ← グリーンカーテン" in _staff(
        env, "suggest", str(exchange), "--accept", "1", "--by", "tanaka"
    )
    assert "+ グリーンカーテンってやってる？" in _staff(env, "preview")
    assert "as version 2" in _staff(env, "publish", "--label", "グリーンカーテン", "--by", "tanaka")

    assert MEASURE_TITLE in _asked_until(api, answered=True)
    assert f"■ {MEASURE_TITLE}" in _console(env, GREEN)

    _staff(env, "reindex", "--activate", "1", "--by", "tanaka")
    assert MEASURE_TITLE not in _asked_until(api, answered=False)
    assert f"■ {MEASURE_TITLE}" not in _console(env, GREEN)
