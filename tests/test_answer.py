"""What residents read: pure rendering functions (escaping, length, candidates, English lead)."""

from __future__ import annotations

import html
import re

import pytest

from bot.answer import (
    TELEGRAM_LIMIT,
    Line,
    Style,
    answer_lines,
    candidates,
    is_english,
    quote,
    render_html,
    render_plain,
)
from index import PlanBundle


def _visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_html_escapes_everything_data_derived() -> None:
    rendered = render_html([Line(Style.HEADING, "<script>alert(1)</script> & co")])
    assert rendered == "<b>■ &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</b>"


def test_html_stays_under_telegrams_limit_cutting_at_whole_lines() -> None:
    lines = [Line(Style.ITEM, "あ" * 300) for _ in range(30)]
    rendered = render_html(lines)
    assert len(_visible(rendered)) <= TELEGRAM_LIMIT
    assert rendered.endswith("…")
    assert all(line in ("…", "● " + "あ" * 300) for line in rendered.split("\n"))


def test_plain_and_html_say_the_same_thing(bundle: PlanBundle) -> None:
    lines = answer_lines(bundle.plan, bundle.index.search("空き家"))
    plain = render_plain(lines).replace("  ", "").replace("\n", "")
    shown = _visible(render_html(lines)).replace("\n", "")
    assert plain.replace(" ", "") == shown.replace(" ", "")


@pytest.mark.parametrize(
    ("question", "english"),
    [("Where can I recycle old clothes?", True), ("ゴミの分別", False), ("NPOの支援", False), ("🐈", False)],
)
def test_is_english(question: str, english: bool) -> None:
    assert is_english(question) is english


def test_long_questions_are_quoted_short() -> None:
    assert quote("空き家" * 100).endswith("…") and len(quote("空き家" * 100)) == 40
    assert quote(" 保育園が\n足りない ") == "保育園が 足りない"


def test_candidates_are_close_runners_up_only(bundle: PlanBundle) -> None:
    clear = bundle.index.search("保育園が足りない")  # one measure stands far above the rest
    assert len(clear.hits) > 1 and candidates(clear) == ()
    close = bundle.index.search("ゴミの分別どうなるの？")
    assert [hit.id for hit in candidates(close)] == ["4-2-2"]


def test_a_declined_answer_shows_no_measure(bundle: PlanBundle) -> None:
    lines = answer_lines(bundle.plan, bundle.index.search("今日の天気は？"))
    assert not any(line.style is Style.HEADING for line in lines)
    assert any("第1章 災害対策・防犯" in line.text for line in lines)


@pytest.mark.parametrize(
    ("question", "lead"),
    [
        ("保育園の申し込みはいつから？", "手続きや日時・場所・料金など"),
        ("電話で相談したい", "直接お答えする施策"),
    ],
)
def test_a_related_answer_says_so_and_lists_measures_not_a_card(
    bundle: PlanBundle, question: str, lead: str
) -> None:
    result = bundle.index.search(question)
    text = render_plain(answer_lines(bundle.plan, result))
    assert lead in text and "【関係する施策】" in text
    assert result.hits[0].title in text
    assert "目指す姿" not in text and "■" not in text  # no measure card
