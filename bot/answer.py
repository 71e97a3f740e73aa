"""What a resident reads: search results and the chapter browser turned into text, as pure functions.

Every reply is first built as a list of styled lines and then rendered either as
plain text (console, `ask`) or as Telegram HTML, so both channels say the same
thing. Only plan text is shown; nothing here invents content.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from index import Chapter, Field, Grade, Hit, Located, Measure, Plan, Reason, SearchResult

__all__ = [
    "Line",
    "Style",
    "about_lines",
    "answer_lines",
    "browse_prompt_lines",
    "candidates",
    "card_lines",
    "chapter_lines",
    "chapter_menu_lines",
    "field_lines",
    "help_lines",
    "is_english",
    "measure_lines",
    "related_lines",
    "render_html",
    "render_plain",
    "welcome_lines",
]

TELEGRAM_LIMIT = 4096
QUOTE_LIMIT = 40
# A runner-up scoring under this share of the best answer is noise, not a candidate.
CANDIDATE_SHARE = 0.25
EXAMPLE_QUESTIONS = ("ゴミの分別どうなるの？", "保育園が足りない", "空き家")


class Style(Enum):
    PROMPT = "prompt"
    LEAD = "lead"
    HEADING = "heading"
    CITATION = "citation"
    LABEL = "label"
    ITEM = "item"
    GOAL = "goal"
    TEXT = "text"
    NOTE = "note"
    BLANK = "blank"


@dataclass(frozen=True, slots=True)
class Line:
    style: Style
    text: str = ""


BLANK = Line(Style.BLANK)


def is_english(question: str) -> bool:
    """True when a question is written mostly in Latin letters (a foreign resident)."""
    letters = [ch for ch in unicodedata.normalize("NFKC", question) if ch.isalpha()]
    latin = sum(1 for ch in letters if ch.isascii())
    return bool(letters) and latin / len(letters) > 0.6


def quote(question: str) -> str:
    """The question shortened for a lead line (a 10,000-character message stays readable)."""
    flat = " ".join(question.split())
    return flat if len(flat) <= QUOTE_LIMIT else flat[: QUOTE_LIMIT - 1] + "…"


def source_note(plan: Plan) -> Line:
    return Line(Style.NOTE, f"出典：{plan.info.title}。内容は計画の骨子からの引用です。")


def card_lines(located: Located, *, with_goals: bool = True) -> list[Line]:
    """One middle measure: title, citation, items (with 等 when the plan's list goes on), goals."""
    middle = located.middle
    lines = [Line(Style.HEADING, middle.title), Line(Style.CITATION, located.citation)]
    if middle.description:
        lines.append(Line(Style.TEXT, middle.description))
    if middle.items:
        lines.append(Line(Style.LABEL, "主な取組"))
        last = len(middle.items) - 1
        lines += [
            Line(Style.ITEM, item + (" 等" if middle.more and i == last else ""))
            for i, item in enumerate(middle.items)
        ]
    if with_goals and located.measure.goals:
        lines.append(Line(Style.LABEL, f"目指す姿（{located.measure.label}）"))
        lines += [Line(Style.GOAL, goal) for goal in located.measure.goals]
    if middle.url:
        lines.append(Line(Style.TEXT, middle.url))
    return lines


def chapter_menu_lines(plan: Plan) -> list[Line]:
    lines = [Line(Style.LABEL, "計画の分野（章）")]
    lines += [Line(Style.ITEM, chapter.label) for chapter in plan.chapters]
    return lines


def browse_prompt_lines() -> list[Line]:
    """The chapter browser's first step, above the chapter buttons."""
    return [Line(Style.PROMPT, "計画の分野（章）を選んでください。")]


def chapter_lines(chapter: Chapter) -> list[Line]:
    """A chapter in the browser: its major measures (their buttons follow)."""
    return [Line(Style.HEADING, chapter.label), *(Line(Style.ITEM, m.label) for m in chapter.measures)]


def measure_lines(chapter: Chapter, measure: Measure) -> list[Line]:
    """A major measure in the browser: where it stands and its goals (middle measure buttons follow)."""
    return [
        Line(Style.HEADING, measure.label),
        Line(Style.CITATION, chapter.label),
        Line(Style.LABEL, "目指す姿"),
        *(Line(Style.GOAL, goal) for goal in measure.goals),
    ]


def field_lines(plan: Plan, result: SearchResult, field: Field) -> list[Line]:
    """A whole field: its major measures with their middle measures, and the goals."""
    lines = [Line(Style.LEAD, f"{field.label} の施策です。"), BLANK]
    measures = (field.measure,) if field.measure else field.chapter.measures
    for measure in measures:
        lines.append(Line(Style.HEADING, measure.label))
        lines += [Line(Style.ITEM, f"({m.number}) {m.title}") for m in measure.middles]
        if field.measure is not None:
            lines.append(Line(Style.LABEL, "目指す姿"))
            lines += [Line(Style.GOAL, goal) for goal in measure.goals]
    lines += [BLANK, source_note(plan)]
    return lines


def declined_lines(plan: Plan, result: SearchResult) -> list[Line]:
    lines: list[Line] = []
    if is_english(result.question):
        lines += [
            Line(
                Style.LEAD, "The plan has nothing on this question. Try other words, or browse the chapters:"
            )
        ]
    if result.reason is Reason.OTHER_CITY:
        lines.append(
            Line(
                Style.LEAD,
                "朝霞市の総合計画についてお答えしています。ほかの市町村のことは、その市町村にお問い合わせください。",
            )
        )
    elif result.reason is Reason.NO_TERMS:
        lines.append(
            Line(Style.LEAD, "ご質問の言葉を読み取れませんでした。知りたいことを言葉で書いてください。")
        )
    else:
        lines.append(
            Line(
                Style.LEAD,
                f"「{quote(result.question)}」について、総合計画（骨子）には該当する施策が見つかりませんでした。",
            )
        )
    lines += [
        Line(
            Style.TEXT,
            "「子育て支援」「ごみの減量」「空き家」のように、分野やことばを変えて聞いてみてください。",
        ),
        BLANK,
        *chapter_menu_lines(plan),
    ]
    return lines


def candidates(result: SearchResult) -> tuple[Hit, ...]:
    """The 「もしかして」 measures: runners-up close enough to the best to be worth a look."""
    if not result.hits:
        return ()
    floor = CANDIDATE_SHARE * result.hits[0].score
    return tuple(hit for hit in result.hits[1:] if hit.score >= floor)


def related_lines(plan: Plan, result: SearchResult) -> list[Line]:
    """Measures that touch the question when the plan does not hold what it asks."""
    if result.reason is Reason.PROCEDURE:
        lead = f"「{quote(result.question)}」の手続きや日時・場所・料金などは、総合計画には載っていません。"
    else:
        lead = f"「{quote(result.question)}」に直接お答えする施策は、総合計画には見つかりませんでした。"
    lines = [Line(Style.LEAD, lead), Line(Style.LABEL, "関係する施策")]
    lines += [Line(Style.ITEM, f"{hit.title}（{hit.citation}）") for hit in result.hits[:3]]
    lines += [BLANK, source_note(plan)]
    return lines


def answer_lines(plan: Plan, result: SearchResult) -> list[Line]:
    """The reply to a question: the best measure's card, the field, related measures, or a decline."""
    if result.grade is Grade.NONE:
        return declined_lines(plan, result)
    if result.grade is Grade.RELATED:
        return related_lines(plan, result)
    if result.field is not None:
        return field_lines(plan, result, result.field)
    best, others = result.hits[0], candidates(result)
    lines: list[Line] = []
    if is_english(result.question):
        lines.append(
            Line(
                Style.LEAD,
                f"Asaka City's Comprehensive Plan covers this in {best.located.chapter.label}."
                " The plan text below is in Japanese.",
            )
        )
    lines += [Line(Style.LEAD, f"「{quote(result.question)}」に関係する計画の施策です。"), BLANK]
    lines += card_lines(best.located)
    if others:
        lines += [BLANK, Line(Style.LABEL, "もしかして")]
        lines += [Line(Style.ITEM, f"{hit.title}（{hit.located.chapter.label}）") for hit in others]
    lines += [BLANK, source_note(plan)]
    return lines


def welcome_lines(plan: Plan) -> list[Line]:
    return [
        Line(Style.LEAD, "こんにちは。朝霞市の総合計画について、質問にお答えするボットです。"),
        Line(
            Style.TEXT,
            f"{plan.info.title}（計画期間：{plan.info.period}）から、ご質問に関係する施策と目指す姿を、計画の章番号つきでお示しします。",
        ),
        BLANK,
        Line(Style.LABEL, "たとえば"),
        *(Line(Style.ITEM, q) for q in EXAMPLE_QUESTIONS),
        BLANK,
        *chapter_menu_lines(plan),
    ]


def help_lines(plan: Plan) -> list[Line]:
    return [
        Line(Style.LEAD, "使い方"),
        Line(Style.ITEM, "知りたいことを、ふだんの言葉で送ってください（例：「保育園が足りない」）。"),
        Line(Style.ITEM, "/chapters 計画の章から施策をたどる"),
        Line(Style.ITEM, "/about 総合計画とは"),
        Line(Style.ITEM, "回答の下の 👍 / 👎 で、役に立ったかどうか教えてください。"),
        Line(Style.TEXT, "You can also ask in English; the plan itself is in Japanese."),
    ]


def about_lines(plan: Plan) -> list[Line]:
    intro = plan.info.introduction
    lines = [
        Line(Style.HEADING, intro.title),
        Line(Style.TEXT, intro.summary),
        BLANK,
        *(Line(Style.ITEM, f"{layer.name}：{layer.description}") for layer in intro.layers),
        BLANK,
        Line(Style.LABEL, "計画期間"),
        Line(Style.TEXT, f"{plan.info.title}：{plan.info.period}"),
        BLANK,
        source_note(plan),
    ]
    return lines


# How each style of line reads: plain text (console, `ask`) and Telegram HTML.
_PLAIN = {
    Style.HEADING: "■ {}",
    Style.CITATION: "  {}",
    Style.LABEL: "【{}】",
    Style.ITEM: "  ● {}",
    Style.GOAL: "  ◇ {}",
}
_HTML = {
    Style.PROMPT: "<b>{}</b>",
    Style.HEADING: "<b>■ {}</b>",
    Style.CITATION: "<i>{}</i>",
    Style.LABEL: "<b>【{}】</b>",
    Style.ITEM: "● {}",
    Style.GOAL: "◇ {}",
    Style.NOTE: "<i>{}</i>",
}


def render_plain(lines: Iterable[Line]) -> str:
    return "\n".join(_PLAIN.get(line.style, "{}").format(line.text) for line in lines).strip("\n")


def _html_line(line: Line) -> str:
    return _HTML.get(line.style, "{}").format(html.escape(line.text, quote=False))


_TAG = re.compile(r"<[^>]+>")


def render_html(lines: Iterable[Line], limit: int = TELEGRAM_LIMIT) -> str:
    """Telegram HTML, everything escaped, cut at whole lines to stay under Telegram's limit."""
    rendered: list[str] = []
    length = 0
    for line in lines:
        piece = _html_line(line)
        visible = len(html.unescape(_TAG.sub("", piece))) + 1
        if length + visible > limit - 2:
            rendered.append("…")
            break
        rendered.append(piece)
        length += visible
    return "\n".join(rendered).strip("\n")
