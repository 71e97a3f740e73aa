"""Chart geometry for the staff pages: bars as numbers, drawn as inline SVG by templates/_macros.html.

No JavaScript and nothing from the internet (the city's network may be closed), so a
chart is computed here as positions and sizes and the template only writes them out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .reports import LOCAL_TZ

__all__ = ["Bar", "Chart", "column_chart", "daily_points", "row_chart"]


@dataclass(frozen=True)
class Bar:
    label: str  # the axis label; "" where labels are thinned out
    title: str  # the tooltip: full label and value
    value: int
    x: float
    y: float
    width: float
    height: float
    href: str | None = None


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    gridlines: tuple[tuple[float, str], ...]  # (position along the value axis, label)
    left: float  # where the plot area starts
    baseline: float  # y of the value axis' zero for columns; x of it for rows


def _step(top: int, lines: int = 4) -> int:
    """A round gridline step (1, 2, 5 × 10^k) so that `lines` steps reach at least `top`."""
    rough = max(top / lines, 1)
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def column_chart(title: str, points: Sequence[tuple[str, int]], *, width: int = 760) -> Chart:
    """Vertical bars, one per point (used for days); at most about 14 axis labels."""
    height, left, top, bottom = 220, 40, 12, 28
    step = _step(max((v for _, v in points), default=0))
    ceiling = step * max(1, math.ceil(max((v for _, v in points), default=0) / step))
    plot_h, plot_w = height - top - bottom, width - left - 8
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / 14))
    bars = tuple(
        Bar(
            label=label if i % every == 0 else "",
            title=f"{label}: {value}件",
            value=value,
            x=left + i * slot + slot * 0.15,
            y=top + plot_h * (1 - value / ceiling),
            width=slot * 0.7,
            height=plot_h * value / ceiling,
        )
        for i, (label, value) in enumerate(points)
    )
    gridlines = tuple((top + plot_h * (1 - v / ceiling), str(v)) for v in range(0, ceiling + 1, step))
    return Chart(title, width, height, bars, gridlines, left, top + plot_h)


def row_chart(title: str, items: Sequence[tuple[str, int, str]], *, width: int = 760) -> Chart:
    """Horizontal bars with their labels on the left (used for chapters); each bar links somewhere."""
    row, left, right, top = 30, 300, 60, 8
    ceiling = max((v for _, v, _ in items), default=0) or 1
    plot_w = width - left - right
    bars = tuple(
        Bar(
            label=label,
            title=f"{label}: {value}件",
            value=value,
            x=left,
            y=top + i * row + 5,
            width=plot_w * value / ceiling,
            height=row - 10,
            href=href,
        )
        for i, (label, value, href) in enumerate(items)
    )
    return Chart(title, width, top * 2 + row * len(items), bars, (), left, left)


def daily_points(
    since: dt.datetime | None, until: dt.datetime | None, per_day: Mapping[str, int]
) -> list[tuple[str, int]]:
    """Every day of the period (or of the data), zeros included, so gaps show as gaps."""
    today = dt.datetime.now(LOCAL_TZ).date()
    known = sorted(per_day)
    if since is None and not known:
        return []
    first = since.astimezone(LOCAL_TZ).date() if since else dt.date.fromisoformat(known[0])
    last = (until - dt.timedelta(microseconds=1)).astimezone(LOCAL_TZ).date() if until else today
    if known and not until:
        last = max(last, dt.date.fromisoformat(known[-1]))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [(f"{d.month}/{d.day}", per_day.get(d.isoformat(), 0)) for d in days]
