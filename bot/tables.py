"""Plain-text tables for the staff command line."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from index import Reason

from .reports import ExchangeRow, Stats

__all__ = ["render_stats", "render_table"]


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    out, used = "", 0
    for ch in " ".join(text.split()):
        w = _width(ch)
        if used + w > width:
            return out[:-1] + "…" + " " * (width - used)
        out, used = out + ch, used + w
    return out + " " * (width - used)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[int]) -> str:
    lines = ["  ".join(_fit(h, w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(_fit(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _answered(row: ExchangeRow) -> str:
    """yes; rel (related measures shown, not an answer); — (small talk: not a question); NO."""
    if row.answered:
        return "yes"
    if row.reason == Reason.SMALL_TALK:
        return "—"
    return "rel" if row.shown else "NO"


def render_table(rows: Sequence[ExchangeRow]) -> str:
    if not rows:
        return "no exchanges match"
    return _table(
        ("time (JST)", "ch", "question", "ans", "measures", "fb", "id"),
        (
            (
                row.local_time,
                row.channel[:4],
                row.question,
                _answered(row),
                " ".join(s.measure_id for s in row.shown[:3]),
                row.feedback_label,
                str(row.id),
            )
            for row in rows
        ),
        (19, 4, 40, 3, 18, 6, 8),
    )


def render_stats(stats: Stats) -> str:
    lines = [
        f"exchanges: {stats.exchanges}   answered: {stats.answered} ({stats.answered_rate:.0%} of questions)"
        f"   small talk: {stats.small_talk}",
        f"feedback: 👍 {stats.helpful}  👎 {stats.unhelpful}  helpful ratio {stats.helpful_ratio:.0%}",
        "",
        "per day (JST):",
        *(f"  {day}  {count}" for day, count in stats.per_day.items()),
        "",
        "most shown measures (as the answer):",
        *(f"  {count:>4}  {citation}" for _id, citation, count in stats.top_measures),
        "",
        "per chapter:",
        *(f"  第{chapter}章  {count}" for chapter, count in stats.per_chapter.items()),
        "",
        "frequent words in unanswered questions (thesaurus to-do list):",
        *(f"  {count:>4}  {word}" for word, count in stats.unanswered_words),
    ]
    return "\n".join(lines)
