"""The plan as immutable values: chapters → major measures → middle measures.

Everything the bot tells a resident is read from these objects, so they mirror the
plan's own structure and wording; search-only data (keywords) is kept apart from
the text that is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Chapter",
    "Contact",
    "Indicator",
    "Introduction",
    "Layer",
    "Located",
    "Measure",
    "Middle",
    "Plan",
    "PlanInfo",
    "Route",
    "TimelineStep",
]

SEPARATOR = " › "

RouteLevel = Literal["measure", "chapter", "city"]


@dataclass(frozen=True, slots=True)
class Indicator:
    """A KPI a revised plan may attach to a measure (all but the name optional)."""

    name: str
    baseline: str | None = None
    target: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom a resident can ask: a department (担当課) and, when known, its phone number."""

    name: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Where a resident can go next about a measure: the nearest part of the plan that says so.

    `level` tells renderers how specific the route is: "measure" (the middle or major
    measure's own), "chapter", or "city" (the switchboard and website in plan.yaml).
    """

    contact: Contact | None
    url: str | None
    level: RouteLevel


@dataclass(frozen=True, slots=True)
class Middle:
    """A middle measure (施策・中柱): the unit residents get as an answer."""

    id: str
    number: int
    title: str
    items: tuple[str, ...]
    more: bool
    description: str | None = None
    keywords: tuple[str, ...] = ()
    indicators: tuple[Indicator, ...] = ()
    url: str | None = None
    contact: Contact | None = None
    title_en: str | None = None  # unofficial English translation of `title`


@dataclass(frozen=True, slots=True)
class Measure:
    """A major measure (施策・大柱) with its goals (目指す姿)."""

    number: int
    title: str
    goals: tuple[str, ...]
    middles: tuple[Middle, ...]
    description: str | None = None
    keywords: tuple[str, ...] = ()
    indicators: tuple[Indicator, ...] = ()
    url: str | None = None
    contact: Contact | None = None
    title_en: str | None = None  # unofficial English translation of `title`

    @property
    def label(self) -> str:
        """Number and title, as the plan writes a major measure in citations, menus and headings."""
        return f"{self.number} {self.title}"


@dataclass(frozen=True, slots=True)
class Chapter:
    """A chapter (章・分野)."""

    number: int
    title: str
    measures: tuple[Measure, ...]
    description: str | None = None
    keywords: tuple[str, ...] = ()
    url: str | None = None
    contact: Contact | None = None
    title_en: str | None = None  # unofficial English translation of `title`

    @property
    def label(self) -> str:
        return f"第{self.number}章 {self.title}"

    @property
    def label_en(self) -> str:
        """e.g. "Chapter 2: Welfare, Children and Health"; the Japanese title when untranslated."""
        return f"Chapter {self.number}: {self.title_en or self.title}"


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    description: str
    drafted_now: bool


@dataclass(frozen=True, slots=True)
class TimelineStep:
    year: str
    steps: tuple[str, ...]
    more: bool


@dataclass(frozen=True, slots=True)
class Introduction:
    """総合計画とは: what the comprehensive plan is and how it is drafted."""

    title: str
    summary: str
    layers: tuple[Layer, ...]
    timeline: tuple[TimelineStep, ...]
    completion: str | None = None
    consultation_events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanInfo:
    title: str
    period: str
    source: str
    version: str
    date: str
    introduction: Introduction
    contact: Contact  # the city-wide route: the switchboard …
    url: str  # … and the city's website
    period_note: str | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """A middle measure with the chapter and major measure it stands in."""

    chapter: Chapter
    measure: Measure
    middle: Middle

    @property
    def citation(self) -> str:
        """Where the measure stands, e.g. 第2章 福祉・… › 2 こども・… › (4) 幼児期…"""
        return SEPARATOR.join(
            (
                self.chapter.label,
                self.measure.label,
                f"({self.middle.number}) {self.middle.title}",
            )
        )


@dataclass(frozen=True, slots=True)
class Plan:
    info: PlanInfo
    chapters: tuple[Chapter, ...]
    _by_id: dict[str, Located] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        located = {
            middle.id: Located(chapter, measure, middle)
            for chapter in self.chapters
            for measure in chapter.measures
            for middle in measure.middles
        }
        object.__setattr__(self, "_by_id", located)

    def located(self) -> Iterator[Located]:
        """Every middle measure in plan order."""
        yield from self._by_id.values()

    def locate(self, middle_id: str) -> Located:
        """The middle measure with this id; KeyError if the plan has none."""
        return self._by_id[middle_id]

    def route(self, middle_id: str) -> Route:
        """Where to go about this middle measure: its own contact/url, else its major measure's,
        else its chapter's, else the city's. KeyError if the plan has no such measure.

        A part's contact and url travel together: a measure with only a page does not borrow
        its chapter's phone, so a route never mixes two departments.
        """
        located = self._by_id[middle_id]
        return self._nearest(
            ((located.middle, "measure"), (located.measure, "measure"), (located.chapter, "chapter"))
        )

    def field_route(self, chapter: Chapter, measure: Measure | None = None) -> Route:
        """Where to go about a whole chapter or major measure (「第3章」): the major measure's own
        contact/url, else its chapter's, else the city's; never one middle measure's."""
        parts: tuple[tuple[Measure | Chapter, RouteLevel], ...] = (
            ((measure, "measure"),) if measure is not None else ()
        )
        return self._nearest((*parts, (chapter, "chapter")))

    def _nearest(self, parts: Iterable[tuple[Middle | Measure | Chapter, RouteLevel]]) -> Route:
        for part, level in parts:
            if part.contact is not None or part.url is not None:
                return Route(part.contact, part.url, level)
        return Route(self.info.contact, self.info.url, "city")

    def chapter(self, number: int) -> Chapter:
        for chapter in self.chapters:
            if chapter.number == number:
                return chapter
        raise KeyError(number)
