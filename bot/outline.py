"""The plan as an outline (for reading) and as JSON (for other tools: `plan --json`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from index import Chapter, Measure, Middle, Plan

from .answer import BLANK, Line, Style

__all__ = ["TITLE_EN_NOTE", "outline_lines", "plan_json"]

TITLE_EN_NOTE = "unofficial English translation of title; the plan itself is in Japanese"


def outline_lines(plan: Plan) -> list[Line]:
    info = plan.info
    lines = [
        Line(Style.HEADING, info.title),
        Line(Style.TEXT, f"計画期間：{info.period}"),
        Line(Style.TEXT, f"版：{info.version}（{info.date}）"),
        BLANK,
    ]
    for chapter in plan.chapters:
        lines.append(Line(Style.HEADING, chapter.label))
        for measure in chapter.measures:
            lines.append(Line(Style.TEXT, f"  {measure.label}"))
            lines += [Line(Style.TEXT, f"      ({m.number}) {m.title}  [{m.id}]") for m in measure.middles]
        lines.append(BLANK)
    return lines


def _optional(**fields: Any) -> dict[str, Any]:
    """Optional plan fields, present in the JSON only when the plan data sets them."""
    return {key: value for key, value in fields.items() if value not in (None, (), [])}


def _route(part: Chapter | Measure | Middle) -> dict[str, Any]:
    """The optional route and translation fields every level of the plan shares."""
    return _optional(
        title_en=part.title_en,
        contact=None if part.contact is None else _optional(**asdict(part.contact)),
        url=part.url,
    )


def plan_json(plan: Plan) -> dict[str, Any]:
    """{"plan": {...}, "chapters": [{"number", "title", "measures": [...]}]}: a contract for other tools.

    `title_en` is an unofficial English translation, said so in "notes" for tools that show it.
    """
    info = plan.info
    return {
        "plan": {
            "title": info.title,
            "period": info.period,
            "period_note": info.period_note,
            "source": info.source,
            "version": info.version,
            "date": info.date,
            "contact": _optional(**asdict(info.contact)),
            "url": info.url,
            "introduction": asdict(info.introduction),
        },
        "notes": {"title_en": TITLE_EN_NOTE},
        "chapters": [
            {
                "number": chapter.number,
                "title": chapter.title,
                **_optional(description=chapter.description, keywords=list(chapter.keywords)),
                **_route(chapter),
                "measures": [
                    {
                        "number": measure.number,
                        "title": measure.title,
                        "goals": list(measure.goals),
                        **_optional(
                            description=measure.description,
                            keywords=list(measure.keywords),
                            indicators=[asdict(i) for i in measure.indicators],
                        ),
                        **_route(measure),
                        "middles": [
                            {
                                "id": middle.id,
                                "number": middle.number,
                                "title": middle.title,
                                "items": list(middle.items),
                                "more": middle.more,
                                **_optional(
                                    description=middle.description,
                                    keywords=list(middle.keywords),
                                    indicators=[asdict(i) for i in middle.indicators],
                                ),
                                **_route(middle),
                            }
                            for middle in measure.middles
                        ],
                    }
                    for measure in chapter.measures
                ],
            }
            for chapter in plan.chapters
        ],
    }
