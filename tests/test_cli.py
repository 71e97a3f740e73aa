"""The `python -m bot` command line: help for every command, the ask/evaluate contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import cli

DATA = Path(__file__).parent / "data"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path, asked through click's API so lazily loaded groups count too."""
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_ask_json_contract() -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "保育園が足りない"])
    data = json.loads(result.output)
    assert set(data) == {"question", "answered", "grade", "reason", "hits"}
    assert data["question"] == "保育園が足りない" and data["answered"] is True
    assert (data["grade"], data["reason"]) == ("answer", "matched")
    assert 1 <= len(data["hits"]) <= 5
    best = data["hits"][0]
    assert set(best) == {"id", "score", "title", "citation", "chapter"}
    assert (best["id"], best["chapter"]) == ("2-2-4", 2)
    assert best["citation"].startswith("第2章 福祉・こども・健康 › ")
    scores = [hit["score"] for hit in data["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_plain_text_reads_like_the_bot() -> None:
    result = CliRunner().invoke(cli, ["ask", "空き家"])
    assert "■ 安心で快適な住環境の整備" in result.output
    assert "第5章 都市基盤・産業振興 › 4 住宅 › (1)\n" in result.output  # the title once, above
    assert result.output.count("安心で快適な住環境の整備") == 1
    assert "● 空き家対策の推進" in result.output
    assert "目指す姿" in result.output


def test_ask_batch_mode_reads_stdin_line_by_line() -> None:
    result = CliRunner().invoke(cli, ["ask"], input="空き家\n\n今日の天気\n保育園が足りない\n")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["question"] for line in lines] == ["空き家", "今日の天気", "保育園が足りない"]
    assert [line["answered"] for line in lines] == [True, False, True]
    assert [line["grade"] for line in lines] == ["answer", "none", "answer"]
    assert lines[1]["reason"] == "no_match" and lines[1]["hits"] == []


def test_ask_imports_neither_telegram_nor_the_database_stack() -> None:
    code = (
        "import sys; from bot.cli import cli\n"
        "try:\n    cli(['ask', '--json', '空き家'])\nexcept SystemExit: pass\n"
        "heavy = {'telegram', 'starlette', 'sqlalchemy', 'alembic', 'psycopg', 'uvicorn', 'jinja2'}\n"
        "loaded = heavy & {name.split('.')[0] for name in sys.modules}\n"
        "assert not loaded, loaded\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr


def test_evaluate_prints_figures_per_kind(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q, ensure_ascii=False)
            for q in (
                {"q": "空き家", "relevant": ["5-4-1"], "kind": "keyword"},
                {"q": "将棋の駒の動かし方", "relevant": [], "kind": "out_of_scope"},
            )
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["evaluate", str(questions), "-v"])
    assert result.exit_code == 0
    assert "keyword       n=1    hit@1=1.000 hit@3=1.000 MRR@5=1.000" in result.output
    assert "out-of-scope handled (not answer): 1/1 = 1.000" in result.output
    assert "answerable wrongly declined (none): 0/1 = 0.000" in result.output
    assert "answerable graded related: 0/1 = 0.000" in result.output


def test_evaluate_rejects_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "x"}\nnot json\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(bad)])
    assert result.exit_code == 1
    assert "bad.jsonl:2: not a labelled question" in result.output


def test_run_without_token_is_a_one_line_error(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "", "PLANBOT_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in result.output


@pytest.mark.parametrize("command", [["versions"], ["staff", "list"]], ids=" ".join)
@pytest.mark.parametrize("name, value", [("STAFF_TELEGRAM_IDS", "tanaka"), ("PORT", "eighty")])
def test_a_configuration_mistake_is_a_one_line_error(
    tmp_path: Path, command: list[str], name: str, value: str
) -> None:
    result = CliRunner().invoke(cli, command, env={"PLANBOT_DATA_DIR": str(tmp_path), name: value})
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {name} must be") and result.output.count("\n") == 1


def test_chat_answers_logs_and_takes_feedback(tmp_path: Path) -> None:
    env = {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}
    result = CliRunner().invoke(cli, ["chat"], input="保育園が足りない\n+\n/chapters\n\n/quit\n", env=env)
    assert result.exit_code == 0, result.output
    assert "幼児期等の教育と保育の充実" in result.output
    assert "ご評価ありがとうございます" in result.output
    logged = CliRunner().invoke(cli, ["logs", "--format", "json"], env=env)
    [row] = json.loads(logged.output)
    assert row["channel"] == "console" and row["feedback"] == {"helpful": 1, "unhelpful": 0}
