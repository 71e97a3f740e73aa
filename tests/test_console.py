"""The terminal chat as a resident uses it: `python -m bot chat` reading its stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

SCRIPT = [
    "/chapters",
    "2",  # the second choice: 第2章
    "2",  # its second major measure
    "こんにちは",
    "保育園が足りない",
    "他には？",
    "詳しく",
    "+",
    "/help",
    "/quit",
]


def test_console_conversation_through_stdin(tmp_path: Path) -> None:
    settings = {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}
    env = {**os.environ, **settings, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="\n".join(SCRIPT) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    turns = done.stdout.split("質問> ")
    assert "[2] 第2章 福祉・こども・健康" in turns[1]  # /chapters: numbered choices
    assert (
        turns[2].startswith("■ 第2章 福祉・こども・健康") and "[2] 2 こども・若者応援、子育て支援" in turns[2]
    )
    assert "こどもまんなか社会" in turns[3] and "[4] (4) 幼児期等の教育と保育の充実" in turns[3]
    assert "なんでも聞いてください" in turns[4] and "(+ / -)" not in turns[4]
    assert "■ 幼児期等の教育と保育の充実" in turns[5] and "(+ / -)" in turns[5]
    assert turns[6].startswith("前の質問に関係する施策は、これで全部です")  # nothing else close to 保育園
    assert turns[7].startswith("この施策の全文です") and "幼児期等の教育と保育の充実" in turns[7]
    assert "ご評価ありがとうございます" in turns[8]
    assert "番号を送るとその選択肢を開きます" in turns[9] and "👍" not in turns[9]
    logged = CliRunner().invoke(cli, ["logs", "--format", "json"], env=settings)
    rows = json.loads(logged.output)
    assert [row["question"] for row in rows] == ["詳しく", "他には？", "保育園が足りない", "こんにちは"]
    assert [row["feedback"]["helpful"] for row in rows] == [1, 0, 0, 0]
