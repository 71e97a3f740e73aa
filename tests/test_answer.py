"""What residents read: pure rendering functions (escaping, length, candidates, English lead)."""

from __future__ import annotations

import html
import re

import pytest

from bot.answer import (
    TELEGRAM_LIMIT,
    Language,
    Line,
    Style,
    candidates,
    card_lines,
    declined_lines,
    quote,
    render_html,
    render_plain,
    short_label,
    why_line,
    written_in,
)
from index import Hit, Match, PlanBundle


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
    lines = card_lines(bundle.index.search("空き家").hits[0].located, full=True)
    plain = render_plain(lines).replace("  ", "").replace("\n", "")
    shown = _visible(render_html(lines)).replace("\n", "")
    assert plain.replace(" ", "") == shown.replace(" ", "")


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Where can I recycle old clothes?", Language.EN),
        ("daycare", Language.EN),
        ("ゴミの分別", Language.JA),
        ("NPOの支援", Language.JA),
        ("<script>alert(1)</script>空き家", Language.JA),  # any kana or kanji: Japanese
        ("ｺﾞﾐ", Language.JA),
        ("🐈", None),
        ("SDGs", None),  # acronyms Japanese writes as they are
        ("DX", None),
        ("OK", None),
    ],
)
def test_written_in(question: str, language: Language | None) -> None:
    assert written_in(question) is language


def test_long_questions_are_quoted_short() -> None:
    assert quote("空き家" * 100).endswith("…") and len(quote("空き家" * 100)) == 40
    assert quote(" 保育園が\n足りない ") == "保育園が 足りない"


def test_candidates_are_close_runners_up_only(bundle: PlanBundle) -> None:
    clear = bundle.index.search("保育園が足りない")  # one measure stands far above the rest
    assert len(clear.hits) > 1 and candidates(clear) == ()
    close = bundle.index.search("ゴミの分別どうなるの？")
    assert [hit.id for hit in candidates(close)] == ["4-2-2"]


def test_a_declined_answer_shows_no_measure(bundle: PlanBundle) -> None:
    lines = declined_lines(bundle.plan, bundle.index.search("今日の天気は？"), Language.JA)
    assert not any(line.style is Style.HEADING for line in lines)
    assert any("048-463-1111" in line.text for line in lines)


def test_why_names_only_words_the_measure_writes(bundle: PlanBundle) -> None:
    located = bundle.plan.locate("2-2-4")
    hit = Hit(
        located,
        1.0,
        (
            Match("保育", "保育"),
            Match("保育園", "保育"),
            Match("保育園", "幼児期"),
            Match("足りない", "不足"),
        ),
    )
    why = why_line(hit, Language.JA)
    # 保育 is part of 保育園; 不足 is not written in this measure; one plan word per question word.
    assert why is not None and why.text == "見つけた理由：「保育園」→「保育」"
    assert why_line(Hit(located, 1.0, (Match("足りない", "不足"),)), Language.JA) is None


def test_a_card_shows_the_title_once_and_the_first_goal_short(bundle: PlanBundle) -> None:
    located = bundle.plan.locate("2-2-4")
    text = render_plain(card_lines(located))
    assert text.count(located.middle.title) == 1
    assert located.measure.goals[0] not in text and "目指す姿：全てのこども・若者が" in text
    full = render_plain(card_lines(located, full=True))
    assert all(goal in full for goal in located.measure.goals)


def test_button_labels_are_short() -> None:
    assert short_label("あ" * 30) == "あ" * 19 + "…"
    assert short_label("空き家対策") == "空き家対策"
