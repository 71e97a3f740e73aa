"""Button data: what a button asks for, written and read in one place.

Telegram hands a button's `callback_data` back verbatim when it is pressed, and the web
chat posts the same string back, so the data is a tiny protocol between the keyboards
the bot sends and the handlers that receive the presses. Each kind of press is a frozen
dataclass; `encode` and `parse` are inverse, and `parse` accepts only what `encode` writes,
so buttons from old messages or forged clients fall through to no action. Telegram allows
at most 64 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "LIMIT_BYTES",
    "Action",
    "BrowseAction",
    "ChapterMenu",
    "ChapterView",
    "FeedbackPress",
    "MeasureView",
    "MiddleView",
    "OpenCard",
    "TurnAction",
    "WholeCard",
    "encode",
    "parse",
]

LIMIT_BYTES = 64


@dataclass(frozen=True, slots=True)
class ChapterMenu:
    """Back to the list of chapters."""


@dataclass(frozen=True, slots=True)
class ChapterView:
    """A chapter's major measures."""

    chapter: int


@dataclass(frozen=True, slots=True)
class MeasureView:
    """A major measure's goals and its middle measures (numbers, as the plan counts them)."""

    chapter: int
    measure: int


@dataclass(frozen=True, slots=True)
class MiddleView:
    """A middle measure's card, shown by editing the browsing message."""

    id: str


@dataclass(frozen=True, slots=True)
class OpenCard:
    """A 「もしかして」 candidate's card, sent as a new message under the answer."""

    id: str


@dataclass(frozen=True, slots=True)
class WholeCard:
    """A measure's whole card (every goal, its description and page): 「目指す姿・詳しく」."""

    id: str


@dataclass(frozen=True, slots=True)
class FeedbackPress:
    """👍 or 👎 on the answer whose exchange has this uid."""

    helpful: bool
    uid: str


# The steps of the chapter browser, which edits one message in place.
BrowseAction = ChapterMenu | ChapterView | MeasureView | MiddleView
# What a conversation turn can be asked by a button (👍/👎 are the channel's own).
TurnAction = BrowseAction | OpenCard | WholeCard
Action = TurnAction | FeedbackPress

# The one grammar, one alternative per kind.
_GRAMMAR = re.compile(
    r"(?P<menu>c)"
    r"|c:(?P<chapter>[0-9]+)"
    r"|mm:(?P<m_chapter>[0-9]+)-(?P<m_measure>[0-9]+)"
    r"|m:(?P<middle>[0-9-]+)"
    r"|o:(?P<card>.*)"
    r"|d:(?P<whole>[0-9-]+)"
    r"|f:(?P<sign>[+-]):(?P<uid>[0-9a-f]{32})",
    re.S,
)


def encode(action: Action) -> str:
    """The `callback_data` of a button that asks for `action`."""
    match action:
        case ChapterMenu():
            return "c"
        case ChapterView(chapter):
            return f"c:{chapter}"
        case MeasureView(chapter, measure):
            return f"mm:{chapter}-{measure}"
        case MiddleView(id):
            return f"m:{id}"
        case OpenCard(id):
            return f"o:{id}"
        case WholeCard(id):
            return f"d:{id}"
        case FeedbackPress(helpful, uid):
            return f"f:{'+' if helpful else '-'}:{uid}"


def parse(data: object) -> Action | None:
    """What a pressed button asks for, or None for data this bot never writes."""
    found = _GRAMMAR.fullmatch(data) if isinstance(data, str) else None
    if found is None:
        return None
    group = found.groupdict()
    if group["menu"]:
        return ChapterMenu()
    if group["chapter"]:
        return ChapterView(int(group["chapter"]))
    if group["m_chapter"]:
        return MeasureView(int(group["m_chapter"]), int(group["m_measure"]))
    if group["middle"]:
        return MiddleView(group["middle"])
    if group["whole"]:
        return WholeCard(group["whole"])
    if group["sign"]:
        return FeedbackPress(group["sign"] == "+", group["uid"])
    return OpenCard(group["card"])
