"""What a resident reads, in Japanese or English: answers and the chapter browser as lines of text.

Every reply is first built as styled lines and then rendered as plain text (console,
`ask`) or Telegram HTML, so every channel says the same thing. Plan text is shown
as the plan writes it (Japanese); only the bot's own words, and the titles the plan
data translates (`title_en`), change with the language. Nothing here invents content:
why a measure matched comes from the search, where to go next from the plan data.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from index import Chapter, Field, Hit, Located, Measure, Middle, Plan, Reason, Route, SearchResult

__all__ = [
    "EXAMPLE_QUESTIONS",
    "Language",
    "Line",
    "Style",
    "about_lines",
    "candidates",
    "card_lines",
    "chapter_lines",
    "chapter_title",
    "complaint_lines",
    "declined_lines",
    "field_lines",
    "help_lines",
    "measure_lines",
    "measure_title",
    "middle_title",
    "render_html",
    "render_plain",
    "route_line",
    "runners_up",
    "say",
    "short_label",
    "small_talk_lines",
    "welcome_lines",
    "why_line",
    "written_in",
]

TELEGRAM_LIMIT = 4096
QUOTE_LIMIT = 40
LABEL_LIMIT = 20  # a button label: the full title is in the card it opens
MAX_CANDIDATES = 3
# A runner-up scoring under this share of the best answer is noise, not a candidate.
CANDIDATE_SHARE = 0.25
GOAL_PREVIEW = 40  # the first goal on a card is cut here; 詳しく shows them all


class Language(StrEnum):
    JA = "ja"
    EN = "en"


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
    ROUTE = "route"
    BLANK = "blank"


@dataclass(frozen=True, slots=True)
class Line:
    style: Style
    text: str = ""


BLANK = Line(Style.BLANK)

EXAMPLE_QUESTIONS = {
    Language.JA: ("保育園が足りない", "ゴミの分別どうなるの？", "空き家"),
    Language.EN: ("Where can I recycle old clothes?", "daycare", "disaster preparedness"),
}

# The bot's own words. Plan text never goes through this table.
_TEXT: dict[str, dict[Language, str]] = {
    "welcome": {
        Language.JA: "こんにちは。朝霞市の総合計画について、質問にお答えするボットです。",
        Language.EN: "Hello! I answer questions about Asaka City's Comprehensive Plan.",
    },
    "welcome_more": {
        Language.JA: "{title}（計画期間：{period}）から、"
        "ご質問に関係する施策と目指す姿を、計画の章番号つきでお示しします。",
        Language.EN: "I show the measures of the plan ({period}) that match your question, with their goals"
        " and where they stand in the plan. The plan itself is in Japanese.",
    },
    "for_example": {Language.JA: "たとえば", Language.EN: "For example"},
    "examples_short": {Language.JA: "たとえば：{examples}", Language.EN: "For example: {examples}"},
    "chapters": {Language.JA: "計画の分野（章）", Language.EN: "The plan's fields (chapters)"},
    "choose_chapter": {
        Language.JA: "計画の分野（章）を選んでください。",
        Language.EN: "Choose a field (chapter) of the plan.",
    },
    "source": {Language.JA: "出典：{title}", Language.EN: "Source: {title} (Japanese)"},
    "japanese_note": {
        Language.JA: "",
        Language.EN: "Plan text in Japanese (titles translated).",
    },
    "explain": {
        Language.JA: "※施策＝市の取り組み、目指す姿＝めざすまちの姿",
        Language.EN: "Measure (施策): what the city will do; goals (目指す姿): what it aims for.",
    },
    "outline": {
        Language.JA: "※骨子＝計画の骨組み。このあと素案を経て、計画が完成します。",
        Language.EN: "The outline (骨子) is the plan's skeleton; a draft (素案) and the plan follow.",
    },
    "items": {Language.JA: "主な取組", Language.EN: "Main actions"},
    "goals": {Language.JA: "目指す姿", Language.EN: "Goals"},
    "first_goal": {Language.JA: "目指す姿：{goal}", Language.EN: "Goal: {goal}"},
    "why": {Language.JA: "見つけた理由：{pairs}", Language.EN: "Matched: {pairs}"},
    "route": {Language.JA: "{where}", Language.EN: "Ask: {where}"},
    "route_city": {Language.JA: "（代表）", Language.EN: ""},
    "procedure": {
        Language.JA: "総合計画は市の方針を定める計画で、"
        "手続き・日時・場所・料金などは載っていません。窓口はこちらです。",
        Language.EN: "The comprehensive plan sets the city's policy; it does not list procedures, dates,"
        " places or fees. Where to ask:",
    },
    "related": {
        Language.JA: "計画に直接の記載は見当たりませんが、関連しそうな施策です。",
        Language.EN: "The plan does not say this directly, but these measures look related.",
    },
    "maybe": {Language.JA: "もしかして", Language.EN: "Did you mean"},
    "related_heading": {Language.JA: "関係しそうな施策", Language.EN: "Related measures"},
    "see_more": {Language.JA: "詳しく見る", Language.EN: "See more"},
    "field": {Language.JA: "{label} の施策です。", Language.EN: "The measures of {label}."},
    "more_lead": {Language.JA: "ほかに関係する施策です。", Language.EN: "Another related measure."},
    "no_more": {
        Language.JA: "前の質問に関係する施策は、これで全部です。別の言葉で聞くか、章から探してください。",
        Language.EN: "That was every related measure. Ask in other words, or browse the chapters.",
    },
    "no_context": {
        Language.JA: "何について知りたいか、ことばで教えてください（例：「保育園が足りない」）。"
        "前の回答から30分たつと、続きの質問は新しい質問として扱います。",
        Language.EN: "Tell me what you would like to know (e.g. “daycare”). After 30 minutes a follow-up"
        " is treated as a new question.",
    },
    "together": {
        Language.JA: "前の質問「{topic}」と合わせて探しました。",
        Language.EN: "Searched together with your previous question “{topic}”.",
    },
    "detail_lead": {Language.JA: "この施策の全文です。", Language.EN: "The whole measure."},
    "other_city": {
        Language.JA: "朝霞市の総合計画についてお答えしています。"
        "ほかの市町村のことは、その市町村にお問い合わせください。",
        Language.EN: "I answer about Asaka City's plan only. Please ask the other city about its own plans.",
    },
    "off_topic": {
        Language.JA: "この種のご依頼（おすすめのお店、文章づくり、代わりの手続きなど）には、"
        "総合計画からはお答えできません。",
        Language.EN: "I can only answer from Asaka City's plan, "
        "not recommend shops, write texts or run errands.",
    },
    "no_terms": {
        Language.JA: "ご質問の言葉を読み取れませんでした。知りたいことを言葉で書いてください。",
        Language.EN: "I could not read a question there. Please write what you would like to know.",
    },
    "not_found": {
        Language.JA: "「{question}」について、総合計画（骨子）には該当する施策が見つかりませんでした。",
        Language.EN: "The plan has nothing on “{question}”.",
    },
    "try_other": {
        Language.JA: "分野やことばを変えて聞くか、下の章から探してください。",
        Language.EN: "Try other words, or browse the chapters below.",
    },
    "city_route": {Language.JA: "市のことは：{where}", Language.EN: "For anything else: {where}"},
    "greeting": {
        Language.JA: "こんにちは。朝霞市の総合計画（これからの市の方針）について、なんでも聞いてください。",
        Language.EN: "Hello! Ask me anything about Asaka City's Comprehensive Plan.",
    },
    "thanks": {
        Language.JA: "どういたしまして。ほかにも気になることがあれば、どうぞ。",
        Language.EN: "You're welcome! Ask again any time.",
    },
    "goodbye": {
        Language.JA: "ありがとうございました。またいつでもどうぞ。",
        Language.EN: "Thank you, goodbye! Come back any time.",
    },
    "identity": {
        Language.JA: "朝霞市の総合計画について、計画の文章からお答えするボットです。人ではありません。",
        Language.EN: "I am a bot that answers from the text of Asaka City's Comprehensive Plan,"
        " not a person.",
    },
    "abilities": {
        Language.JA: "市がこれから何に取り組むか（施策）と、めざす姿を、計画からお示しします。"
        "窓口もご案内します。",
        Language.EN: "I show what the city plans to do (measures) and what it aims for, from the plan,"
        " and whom to ask.",
    },
    "praise": {
        Language.JA: "ありがとうございます。お役に立ててうれしいです。",
        Language.EN: "Thank you, glad to help!",
    },
    "complaint": {
        Language.JA: "うまくお答えできず、すみません。"
        "ことばを変えて聞くか、回答の 👎 で教えてください。改善に使います。",
        Language.EN: "Sorry I could not help. Try other words, or press 👎 under an answer:"
        " we use it to improve.",
    },
    "complaint_city": {
        Language.JA: "ご不便をおかけして申し訳ありません。市へのご意見・ご要望は、こちらへお寄せください。",
        Language.EN: "We are sorry for the trouble. Please send your opinion or request to the city:",
    },
    "help_ask": {
        Language.JA: "知りたいことを、ふだんの言葉で送ってください（例：「保育園が足りない」）。",
        Language.EN: "Send your question in your own words (e.g. “daycare”).",
    },
    "help_follow": {
        Language.JA: "回答のあとに「他には？」「詳しく」と送ると、続きをお見せします。",
        Language.EN: "After an answer, send “What else?” or “more detail” to go on.",
    },
    "help_chapters": {
        Language.JA: "/chapters 計画の章から施策をたどる",
        Language.EN: "/chapters browse the plan",
    },
    "help_about": {Language.JA: "/about 総合計画とは", Language.EN: "/about what the plan is"},
    "help_rate": {
        Language.JA: "回答の下の 👍 / 👎 で、役に立ったかどうか教えてください。",
        Language.EN: "Rate an answer with 👍 / 👎 below it.",
    },
    "help_console": {
        Language.JA: "番号を送るとその選択肢を開きます。+ / - でひとつ前の回答を評価、/quit で終了。",
        Language.EN: "Type a number to open that choice; + / - rates the last answer; /quit ends.",
    },
    "help_english": {
        Language.JA: "英語でも質問できます（計画の本文は日本語です）。",
        Language.EN: "The plan text is in Japanese; the bot's words and titles are in English.",
    },
    "usage": {Language.JA: "使い方", Language.EN: "How to use"},
    "empty": {
        Language.JA: "知りたいことを文字で送ってください（例：「保育園が足りない」）。",
        Language.EN: "Please type what you would like to know (e.g. “daycare”).",
    },
    "too_long": {
        Language.JA: "質問が長すぎます。{limit}文字までにして、もう一度送ってください。",
        Language.EN: "That question is too long. Please send it again in {limit} characters or fewer.",
    },
    "unknown_command": {
        Language.JA: "そのコマンドはありません。/help で使い方をご覧ください。",
        Language.EN: "There is no such command. See /help.",
    },
    "stale": {
        Language.JA: "この項目は計画の改訂で変わりました。章の一覧からお探しください。",
        Language.EN: "This item changed when the plan was revised. Please browse the chapters.",
    },
    "not_text": {
        Language.JA: "申し訳ありません。文字で送られた質問にだけお答えできます。"
        "知りたいことを文字で送ってください。",
        Language.EN: "Sorry, I can only answer questions sent as text."
        " Please type what you would like to know.",
    },
    "edited": {
        Language.JA: "メッセージの編集には対応していません。お手数ですが、質問をもう一度送ってください。",
        Language.EN: "I cannot answer edited messages. Please send your question again.",
    },
    "apology": {
        Language.JA: "申し訳ありません。回答の準備中にエラーが起きました。"
        "少し時間をおいて、もう一度お試しください。",
        Language.EN: "Sorry, something went wrong while preparing the answer. Please try again in a moment.",
    },
    "helpful": {Language.JA: "👍 役に立った", Language.EN: "👍 Helpful"},
    "unhelpful": {Language.JA: "👎 役に立たなかった", Language.EN: "👎 Not helpful"},
    "rated_up": {Language.JA: "ご評価ありがとうございます。", Language.EN: "Thank you for your rating."},
    "rated_down": {
        Language.JA: "ご意見ありがとうございます。改善に役立てます。",
        Language.EN: "Thank you, we will use it to improve.",
    },
    "detail_button": {Language.JA: "目指す姿・詳しく", Language.EN: "Goals and details"},
    "back_chapters": {Language.JA: "← 章の一覧", Language.EN: "← Chapters"},
    "back_chapter": {Language.JA: "← 第{number}章", Language.EN: "← Chapter {number}"},
    "period": {Language.JA: "計画期間", Language.EN: "Plan period"},
}


def say(language: Language, key: str, **values: str) -> str:
    return _TEXT[key][language].format(**values)


# Hiragana, katakana and kanji (after NFKC, which widens half-width katakana).
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Capitals Japanese writes as they are (DX, SDGs, NPO, OK): they say nothing of the writer's language.
_ACRONYM = re.compile(r"\b[A-Z]{2,}s?\b")


def written_in(question: str) -> Language | None:
    """The language a question is written in: Japanese when it holds any kana or kanji, English when
    its other letters are mostly Latin; None when nothing tells (an acronym, digits, emoji)."""
    text = unicodedata.normalize("NFKC", question)
    if _KANA_KANJI.search(text):
        return Language.JA
    letters = [ch for ch in _ACRONYM.sub(" ", text) if ch.isalpha()]
    if not letters:
        return None
    latin = sum(1 for ch in letters if ch.isascii())
    return Language.EN if latin / len(letters) > 0.6 else Language.JA


def quote(question: str) -> str:
    """The question shortened for a lead line (a 10,000-character message stays readable)."""
    flat = " ".join(question.split())
    return flat if len(flat) <= QUOTE_LIMIT else flat[: QUOTE_LIMIT - 1] + "…"


def short_label(text: str, limit: int = LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chapter_title(chapter: Chapter, language: Language) -> str:
    return chapter.label_en if language is Language.EN else chapter.label


def measure_title(measure: Measure, language: Language) -> str:
    if language is Language.EN and measure.title_en:
        return f"{measure.number} {measure.title_en}"
    return measure.label


def middle_title(middle: Middle, language: Language) -> str:
    return middle.title_en if language is Language.EN and middle.title_en else middle.title


def source_note(plan: Plan, language: Language) -> Line:
    return Line(Style.NOTE, say(language, "source", title=plan.info.title))


def _where(route: Route, language: Language) -> str:
    parts: list[str] = []
    if route.contact is not None:
        name = route.contact.name + (say(language, "route_city") if route.level == "city" else "")
        parts.append(f"{name} {route.contact.phone}" if route.contact.phone else name)
    if route.url:
        parts.append(route.url)
    return " ／ ".join(parts)


def route_line(route: Route, language: Language) -> Line:
    """Where the resident can go next: the measure's department, its chapter's, or the city's."""
    return Line(Style.ROUTE, say(language, "route", where=_where(route, language)))


def why_line(hit: Hit, language: Language) -> Line | None:
    """Which of the resident's words matched which plan words (from the search, never invented).

    Only plan words the measure itself writes are named (the shortest, when the search found
    several), a question word that is part of a longer one (保育 in 保育園) is left out, and at
    most three pairs are shown.
    """
    own = " ".join((hit.located.middle.title, *hit.located.middle.items))
    pairs: dict[str, str] = {}
    for match in hit.matched:
        known = pairs.get(match.question_word)
        if match.plan_word in own and (known is None or len(match.plan_word) < len(known)):
            pairs[match.question_word] = match.plan_word
    words = [w for w in pairs if not any(w != other and w in other for other in pairs)]
    if not words:
        return None
    shown = [f"「{w}」" if pairs[w] == w else f"「{w}」→「{pairs[w]}」" for w in words[:3]]
    return Line(Style.NOTE, say(language, "why", pairs="、".join(shown)))


def card_lines(located: Located, language: Language = Language.JA, *, full: bool = False) -> list[Line]:
    """One middle measure: title once, where it stands, items, goals (the first one, or all when `full`)."""
    middle, measure = located.middle, located.measure
    # English chapter names are long; the number is enough above the measure's own title.
    chapter = f"Chapter {located.chapter.number}" if language is Language.EN else located.chapter.label
    lines = [
        Line(Style.HEADING, middle_title(middle, language)),
        Line(Style.CITATION, f"{chapter} › {measure_title(measure, language)} › ({middle.number})"),
    ]
    if language is Language.EN and middle.title_en:
        lines.append(Line(Style.TEXT, middle.title))
    if full and middle.description:
        lines.append(Line(Style.TEXT, middle.description))
    if middle.items:
        last = len(middle.items) - 1
        lines += [
            Line(Style.ITEM, item + (" 等" if middle.more and i == last else ""))
            for i, item in enumerate(middle.items)
        ]
    if measure.goals:
        if full:
            lines.append(Line(Style.LABEL, f"{say(language, 'goals')}（{measure_title(measure, language)}）"))
            lines += [Line(Style.GOAL, goal) for goal in measure.goals]
            if measure.description:
                lines.append(Line(Style.TEXT, measure.description))
        else:
            first = measure.goals[0]
            preview = first if len(first) <= GOAL_PREVIEW else first[: GOAL_PREVIEW - 1] + "…"
            lines.append(Line(Style.GOAL, say(language, "first_goal", goal=preview)))
    if full and middle.url:
        lines.append(Line(Style.TEXT, middle.url))
    return lines


def runners_up(result: SearchResult) -> tuple[Hit, ...]:
    """The measures after the best one that score close enough to it to offer (「もしかして」, 他には)."""
    if not result.hits:
        return ()
    floor = CANDIDATE_SHARE * result.hits[0].score
    return tuple(hit for hit in result.hits[1:] if hit.score >= floor)


def candidates(result: SearchResult) -> tuple[Hit, ...]:
    """The 「もしかして」 measures: at most three runners-up."""
    return runners_up(result)[:MAX_CANDIDATES]


def chapter_lines(chapter: Chapter, language: Language) -> list[Line]:
    """One chapter in the browser: its major measures."""
    return [
        Line(Style.HEADING, chapter_title(chapter, language)),
        *(Line(Style.ITEM, measure_title(m, language)) for m in chapter.measures),
    ]


def measure_lines(chapter: Chapter, measure: Measure, language: Language) -> list[Line]:
    """One major measure in the browser: its goals (its middle measures are the buttons)."""
    return [
        Line(Style.HEADING, measure_title(measure, language)),
        Line(Style.CITATION, chapter_title(chapter, language)),
        Line(Style.LABEL, say(language, "goals")),
        *(Line(Style.GOAL, goal) for goal in measure.goals),
    ]


def field_lines(field: Field, language: Language) -> list[Line]:
    """A whole field: its major measures with their middle measures (and the goals of one measure)."""
    label = chapter_title(field.chapter, language)
    if field.measure is not None:
        label += f" › {measure_title(field.measure, language)}"
    lines = [Line(Style.LEAD, say(language, "field", label=label))]
    measures = (field.measure,) if field.measure else field.chapter.measures
    for measure in measures:
        lines.append(Line(Style.HEADING, measure_title(measure, language)))
        lines += [Line(Style.ITEM, f"({m.number}) {middle_title(m, language)}") for m in measure.middles]
        if field.measure is not None:
            lines.append(Line(Style.LABEL, say(language, "goals")))
            lines += [Line(Style.GOAL, goal) for goal in measure.goals]
    return lines


_DECLINE_KEYS = {
    Reason.OTHER_CITY: "other_city",
    Reason.OFF_TOPIC: "off_topic",
    Reason.NO_TERMS: "no_terms",
}


def _city(plan: Plan) -> Route:
    return Route(plan.info.contact, plan.info.url, "city")


def declined_lines(plan: Plan, result: SearchResult, language: Language) -> list[Line]:
    """Nothing from the plan: why, in one line, and where the city can be asked."""
    key = _DECLINE_KEYS.get(result.reason)
    lead = say(language, key) if key else say(language, "not_found", question=quote(result.question))
    return [
        Line(Style.LEAD, lead),
        Line(Style.TEXT, say(language, "try_other")),
        Line(Style.ROUTE, say(language, "city_route", where=_where(_city(plan), language))),
    ]


def complaint_lines(plan: Plan, language: Language) -> list[Line]:
    """A complaint about the city (「対応が遅すぎる、最悪」): the plan cannot answer it; the city can."""
    return [Line(Style.LEAD, say(language, "complaint_city")), route_line(_city(plan), language)]


def _examples(language: Language) -> str:
    return (
        "、".join(f"「{q}」" for q in EXAMPLE_QUESTIONS[language])
        if language is Language.JA
        else ", ".join(f"“{q}”" for q in EXAMPLE_QUESTIONS[language])
    )


def small_talk_lines(kind: str, language: Language) -> list[Line]:
    """A short, warm reply to greetings, thanks and chat, with example questions."""
    lines = [Line(Style.LEAD, say(language, kind))]
    if kind != "goodbye":
        lines.append(Line(Style.TEXT, say(language, "examples_short", examples=_examples(language))))
    return lines


def welcome_lines(plan: Plan, language: Language = Language.JA) -> list[Line]:
    return [
        Line(Style.LEAD, say(language, "welcome")),
        Line(Style.TEXT, say(language, "welcome_more", title=plan.info.title, period=plan.info.period)),
        BLANK,
        Line(Style.LABEL, say(language, "for_example")),
        *(Line(Style.ITEM, q) for q in EXAMPLE_QUESTIONS[language]),
    ]


def help_lines(language: Language = Language.JA, *, console: bool = False) -> list[Line]:
    """How to use the bot; the console has numbered choices where Telegram has buttons."""
    lines = [
        Line(Style.LEAD, say(language, "usage")),
        Line(Style.ITEM, say(language, "help_ask")),
        Line(Style.ITEM, say(language, "help_follow")),
        Line(Style.ITEM, say(language, "help_chapters")),
        Line(Style.ITEM, say(language, "help_about")),
        Line(Style.ITEM, say(language, "help_console" if console else "help_rate")),
        Line(Style.TEXT, say(language, "help_english")),
    ]
    if language is Language.JA:
        lines.append(Line(Style.TEXT, "You can also ask in English."))
    return lines


def about_lines(plan: Plan, language: Language = Language.JA) -> list[Line]:
    intro = plan.info.introduction
    return [
        Line(Style.HEADING, intro.title),
        Line(Style.TEXT, intro.summary),
        BLANK,
        *(Line(Style.ITEM, f"{layer.name}：{layer.description}") for layer in intro.layers),
        BLANK,
        Line(Style.TEXT, say(language, "explain")),
        Line(Style.TEXT, say(language, "outline")),
        BLANK,
        Line(Style.LABEL, say(language, "period")),
        Line(Style.TEXT, f"{plan.info.title}：{plan.info.period}"),
        BLANK,
        source_note(plan, language),
    ]


# How each style of line reads: plain text (console, `ask`) and Telegram HTML.
_PLAIN = {
    Style.HEADING: "■ {}",
    Style.CITATION: "  {}",
    Style.LABEL: "【{}】",
    Style.ITEM: "  ● {}",
    Style.GOAL: "  ◇ {}",
    Style.ROUTE: "▶ {}",
}
_HTML = {
    Style.PROMPT: "<b>{}</b>",
    Style.HEADING: "<b>■ {}</b>",
    Style.CITATION: "<i>{}</i>",
    Style.LABEL: "<b>【{}】</b>",
    Style.ITEM: "● {}",
    Style.GOAL: "◇ {}",
    Style.NOTE: "<i>{}</i>",
    Style.ROUTE: "▶ {}",
}


def render_plain(lines: Iterable[Line]) -> str:
    return "\n".join(_PLAIN.get(line.style, "{}").format(line.text) for line in lines).strip("\n")


def _html_line(line: Line) -> str:
    return _HTML.get(line.style, "{}").format(html.escape(line.text, quote=False))


_TAG = re.compile(r"<[^>]+>")


def render_html(lines: Sequence[Line], limit: int = TELEGRAM_LIMIT) -> str:
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
