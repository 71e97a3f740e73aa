"""Button data: every kind the bot writes reads back as itself and fits Telegram's 64 bytes."""

from __future__ import annotations

import typing

import pytest

from bot import callback_data as codec
from bot.answer_log import new_uid
from index import PlanBundle


def every_action(bundle: PlanBundle) -> list[codec.Action]:
    """Each kind of button with every real chapter, major and middle measure, and a real uid."""
    plan = bundle.plan
    uid = new_uid()  # as the answer log makes them
    middles = [middle.id for chapter in plan.chapters for m in chapter.measures for middle in m.middles]
    return [
        codec.ChapterMenu(),
        *(codec.ChapterView(c.number) for c in plan.chapters),
        *(codec.MeasureView(c.number, m.number) for c in plan.chapters for m in c.measures),
        *(codec.MiddleView(id) for id in middles),
        *(codec.OpenCard(id) for id in middles),
        *(codec.WholeCard(id) for id in middles),
        codec.FeedbackPress(True, uid),
        codec.FeedbackPress(False, uid),
    ]


def test_every_kind_reads_back_as_itself_within_telegrams_limit(bundle: PlanBundle) -> None:
    actions = every_action(bundle)
    assert {type(a) for a in actions} == set(typing.get_args(codec.Action))
    for action in actions:
        data = codec.encode(action)
        assert len(data.encode()) <= codec.LIMIT_BYTES, data
        assert codec.parse(data) == action


def test_the_wire_format_is_unchanged() -> None:
    """Buttons on messages sent before an upgrade keep working."""
    uid = "0123456789abcdef0123456789abcdef"
    assert [
        codec.parse(d)
        for d in ("c", "c:2", "mm:2-2", "m:2-2-4", "o:2-2-4", "d:2-2-4", f"f:+:{uid}", f"f:-:{uid}")
    ] == [
        codec.ChapterMenu(),
        codec.ChapterView(2),
        codec.MeasureView(2, 2),
        codec.MiddleView("2-2-4"),
        codec.OpenCard("2-2-4"),
        codec.WholeCard("2-2-4"),
        codec.FeedbackPress(True, uid),
        codec.FeedbackPress(False, uid),
    ]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "x",
        "c:",
        "c:two",
        "mm:2",
        "mm:2-",
        "m:",
        "m:abc",
        "d:",
        "d:abc",
        "f:+:short",
        "f:?:" + "0" * 32,
        None,
        7,
    ],
)
def test_data_the_bot_never_writes_is_no_action(data: object) -> None:
    assert codec.parse(data) is None
