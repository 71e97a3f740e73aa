"""Staff commands over the answer log: logs filters and formats, stats, retention."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.cli import cli
from bot.redact import mask
from bot.reports import REASONS, LogFilter, WordTally, count_exchanges, list_exchanges, rows_to_csv
from bot.service import PlanService
from bot.store import Exchange, ExchangeHit, Feedback
from tests.helpers import converse, make_settings


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An answer log filled through the real answer path, and the environment to read it."""
    service = PlanService.start(make_settings(tmp_path))
    try:
        asked = {}
        for user, question in enumerate(
            [
                "保育園が足りない",
                "空き家",
                "ゴミ捨て場のカラス",
                "将棋の駒の動かし方",
                "ゴミの話とラーメン屋",
                "公園の遊具",
                '=HYPERLINK("http://x")',
            ]
        ):
            asked[question] = converse(service, "telegram", user, question).uid
        service.record_feedback("telegram", 1, asked["空き家"], False)
        service.record_feedback("telegram", 0, asked["保育園が足りない"], True)
        assert service.log.flush()
        old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        with service.sessions() as session, session.begin():
            session.execute(
                update(Exchange).where(Exchange.uid == asked["公園の遊具"]).values(created_at=old)
            )
    finally:
        service.close()
    return {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}


def _json(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["logs", "--format", "json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _questions(env: dict[str, str], *args: str) -> set[str]:
    return {str(row["question"]) for row in _json(env, *args)}


def test_logs_filters(env: dict[str, str]) -> None:
    assert "将棋の駒の動かし方" in _questions(env, "--unanswered")
    assert "空き家" not in _questions(env, "--unanswered")
    assert _questions(env, "--feedback", "down") == {"空き家"}
    assert _questions(env, "--feedback", "up") == {"保育園が足りない"}
    assert _questions(env, "--measure", "5-4-1") == {"空き家"}
    assert "保育園が足りない" in _questions(env, "--chapter", "2")
    assert _questions(env, "--search", "ゴミ") == {"ゴミ捨て場のカラス", "ゴミの話とラーメン屋"}
    assert _questions(env, "--until", "2020-01-01") == {"公園の遊具"}
    assert "公園の遊具" not in _questions(env, "--since", "2021-01-01")
    assert len(_json(env, "--limit", "2")) == 2


def test_logs_json_rows_carry_citations(env: dict[str, str]) -> None:
    [row] = _json(env, "--search", "空き家")
    hits = row["hits"]
    assert isinstance(hits, list)
    assert hits[0]["citation"] == "第5章 都市基盤・産業振興 › 4 住宅 › (1) 安心で快適な住環境の整備"
    assert row["feedback"] == {"helpful": 0, "unhelpful": 1}


def test_logs_csv_opens_in_excel_with_citations(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["logs", "--format", "csv"], env=env)
    assert result.output.startswith("\ufeff時刻,")
    rows = list(csv.reader(io.StringIO(result.output.removeprefix("\ufeff"))))
    assert any(r[2] == '\'=HYPERLINK("http://x")' for r in rows)  # text, not a formula, in Excel
    akiya = next(r for r in rows if r[2] == "空き家")
    assert "第5章 都市基盤・産業振興 › 4 住宅 › (1) 安心で快適な住環境の整備" in akiya[6]
    assert akiya[7] == "役に立たなかった 1"  # words, not emoji
    assert {r[4] for r in rows[1:]} <= {"回答", "回答（分野の一覧）"} | {
        r for r in REASONS.values() if "なし" in r
    }


def test_logs_table_is_the_default(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["logs", "--unanswered"], env=env)
    assert result.output.splitlines()[0].startswith("time (JST)")
    assert "将棋の駒の動かし方" in result.output


def test_bad_date_is_a_clear_error(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["logs", "--since", "yesterday"], env=env)
    assert result.exit_code == 2 and "is not a date" in result.output


def test_stats_figures(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["stats", "--json"], env=env)
    stats = json.loads(result.output)
    assert stats["exchanges"] == 7
    assert stats["feedback"] == {"helpful": 1, "unhelpful": 1, "ratio": 0.5}
    assert {
        "id": "5-4-1",
        "citation": "第5章 都市基盤・産業振興 › 4 住宅 › (1) 安心で快適な住環境の整備",
        "count": 1,
    } in stats["top_measures"]
    words = [w["word"] for w in stats["unanswered_words"]]
    assert "将棋" in words
    assert all("-" not in word for word in words)  # residents' words, never lemmas


def test_stats_table(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["stats", "--since", "2021-01-01"], env=env)
    assert "exchanges: 6" in result.output
    assert "thesaurus to-do list" in result.output


def test_purge_is_a_dry_run_unless_confirmed(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["logs", "purge", "--older-than", "365"], env=env)
    assert "would delete (dry run; add --yes to delete) 1 exchange(s)" in result.output
    assert len(_json(env)) == 7
    result = CliRunner().invoke(cli, ["logs", "purge", "--older-than", "365", "--yes"], env=env)
    assert "deleted 1 exchange(s)" in result.output
    assert "公園の遊具" not in _questions(env)
    assert len(_json(env)) == 6


def test_small_talk_is_neither_answered_nor_unanswered(tmp_path: Path) -> None:
    from bot.conversation import Conversation, Turn

    service = PlanService.start(make_settings(tmp_path))
    try:
        conversation = Conversation(service)
        for user, text in enumerate(["こんにちは", "ありがとう！", "将棋の駒の動かし方", "空き家"]):
            conversation.record(
                conversation.reply(Turn("telegram", service.user_key("telegram", user), text=text))
            )
        assert service.log.flush()
    finally:
        service.close()
    env = {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}
    assert _questions(env, "--unanswered") == {"将棋の駒の動かし方"}
    stats = CliRunner().invoke(cli, ["stats", "--json"], env=env)
    data = json.loads(stats.output)
    assert data["exchanges"] == 4 and data["small_talk"] == 2
    assert data["answered_rate"] == 0.5  # one of the two questions


# What `logs` shows in its answered column for each kind of turn.
ANSWERED_COLUMN = {
    "こんにちは": "—",  # small talk
    "他には？": "—",  # a follow-up with nothing before it: a prompt
    "詳しく": "—",
    "電話で相談したい": "rel",  # related measures
    "空き家": "yes",
    "将棋の駒の動かし方": "NO",
}


def test_logs_table_tells_small_talk_and_related_answers_apart(tmp_path: Path) -> None:
    from bot.conversation import Conversation, Turn

    service = PlanService.start(make_settings(tmp_path))
    try:
        conversation = Conversation(service)
        for user, text in enumerate(ANSWERED_COLUMN):
            conversation.record(
                conversation.reply(Turn("telegram", service.user_key("telegram", user), text=text))
            )
        assert service.log.flush()
    finally:
        service.close()
    env = {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}
    assert _questions(env, "--unanswered") == {"電話で相談したい", "将棋の駒の動かし方"}
    table = CliRunner().invoke(cli, ["logs"], env=env).output.splitlines()
    assert table[0].split()[4] == "ans"
    # date, time, channel, question, answered, …
    shown = {line.split()[3]: line.split()[4] for line in table[2:]}
    assert shown == ANSWERED_COLUMN


def _record(service: PlanService, *questions: str) -> None:
    for user, question in enumerate(questions):
        converse(service, "web", f"r{user}", question)
    assert service.log.flush()


def test_csv_cells_are_words_and_never_formulas(service: PlanService) -> None:
    _record(service, "＝１＋１", "＋８１の電話", "－5度の日", "＠ホーム", "=1+1", "将棋の駒の動かし方")
    with service.sessions() as session:
        text = rows_to_csv(list_exchanges(session, LogFilter(), service.active.bundle.plan))
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {r[2] for r in rows[1:]} >= {"'＝１＋１", "'＋８１の電話", "'－5度の日", "'＠ホーム", "'=1+1"}
    assert next(r for r in rows if r[2] == "将棋の駒の動かし方")[4] in REASONS.values()
    assert all(r[4] in REASONS.values() for r in rows[1:])


def test_staff_search_folds_spelling_like_the_bot(service: PlanService) -> None:
    _record(service, "ごみの収集日", "ゴミ捨て場", "ｺﾞﾐ袋", "ＤＸの推進", "公園の遊具")

    def found(word: str) -> set[str]:
        with service.sessions() as session:
            rows = list_exchanges(session, LogFilter(search=word), None)
            assert count_exchanges(session, LogFilter(search=word)) == len(rows)
        return {row.question for row in rows}

    assert found("ゴミ") == found("ごみ") == found("ｺﾞﾐ") == {"ごみの収集日", "ゴミ捨て場", "ｺﾞﾐ袋"}
    assert found("dx") == found("ＤＸ") == {"ＤＸの推進"}
    assert found("遊具") == {"公園の遊具"}


def test_word_lists_group_by_lemma_and_drop_fragments() -> None:
    tally = WordTally()
    for question in (
        "グリーンカーテンを広めたい",
        "グリーンカーテンの補助",
        '<script>alert("c")</script>',
        '<script>alert("c")</script>',
        "c の本",
        "c の本",
        "山田太郎の件",
        "山田太郎の件",
    ):
        tally.add(question)
    words = dict(tally.most_common(20))
    assert words["グリーンカーテン"] == 2
    assert not {"グリーン", "カーテン", "c", "script", "alert", "山田", "太郎"} & set(words), words


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("山田太郎と申します。保育園に入れません", "〔氏名〕と申します。保育園に入れません"),
        ("電話は090-1234-5678です", "電話は〔電話番号〕です"),
        ("電話０４８－４６３－１１１１まで", "電話〔電話番号〕まで"),
        ("+81 48 463 1111", "〔電話番号〕"),
        ("連絡は taro.yamada@example.jp へ", "連絡は 〔メール〕 へ"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "〔メール〕"),
        ("朝霞市本町1-2-3に住んでいます", "〔住所〕に住んでいます"),
        ("埼玉県朝霞市本町一丁目2番3号の前", "〔住所〕の前"),
        ("施策2-2-4の保育園が足りない", "施策2-2-4の保育園が足りない"),
        ("2026年11月の公園、定員100人", "2026年11月の公園、定員100人"),
    ],
)
def test_personal_details_are_masked(typed: str, shown: str) -> None:
    assert mask(typed) == shown


def test_purge_one_exchange(env: dict[str, str]) -> None:
    [row] = _json(env, "--search", "空き家")
    dry = CliRunner().invoke(cli, ["logs", "purge", "--exchange", str(row["id"])], env=env)
    assert dry.exit_code == 0 and "would delete (dry run; add --yes to delete) exchange" in dry.output
    assert _questions(env, "--search", "空き家") == {"空き家"}
    done = CliRunner().invoke(cli, ["logs", "purge", "--exchange", str(row["id"]), "--yes"], env=env)
    assert done.exit_code == 0 and f"deleted exchange {row['id']}" in done.output
    assert _questions(env, "--search", "空き家") == set()
    missing = CliRunner().invoke(cli, ["logs", "purge", "--exchange", "999999", "--yes"], env=env)
    assert missing.exit_code == 1 and "no exchange 999999" in missing.output
    neither = CliRunner().invoke(cli, ["logs", "purge"], env=env)
    assert neither.exit_code == 2 and "--older-than or --exchange" in neither.output
    service = PlanService.start(make_settings(Path(env["PLANBOT_DATA_DIR"])))
    try:
        with service.sessions() as session:
            for model in (ExchangeHit, Feedback):
                assert session.query(model).filter(model.exchange_id == row["id"]).count() == 0
    finally:
        service.close()
