"""Chart geometry for the staff pages: bars as numbers, drawn by templates/_macros.html.

No JavaScript and nothing from the internet (the city's network may be closed), and the
pages' Content-Security-Policy forbids inline styles, so a column chart is computed here
as SVG positions and sizes (the template only writes them out) and a row chart as values
for HTML <meter> bars.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .reports import LOCAL_TZ

__all__ = ["MAX_BARS", "Bar", "Chart", "chart_span", "column_chart", "row_chart", "span_points"]


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
    # The same columns drawn for a phone: an SVG scales its text with its width, so a phone gets
    # a narrower drawing (and fewer labels) whose text stays readable; CSS shows one or the other.
    narrow: Chart | None = None
    ceiling: int = 0  # the value a full-length bar stands for


def _step(top: int, lines: int = 4) -> int:
    """A round gridline step (1, 2, 5 × 10^k) so that `lines` steps reach at least `top`."""
    rough = max(top / lines, 1)
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def column_chart(title: str, points: Sequence[tuple[str, int]]) -> Chart:
    """Vertical bars, one per point (days, weeks or months), for desktop and for a phone."""
    return dataclasses.replace(
        _columns(title, points, width=760, labels=14), narrow=_columns(title, points, width=360, labels=5)
    )


def _columns(title: str, points: Sequence[tuple[str, int]], *, width: int, labels: int) -> Chart:
    """Vertical bars at most `labels` axis labels apart."""
    height, left, top, bottom = 220, 40, 12, 28
    step = _step(max((v for _, v in points), default=0))
    ceiling = step * max(1, math.ceil(max((v for _, v in points), default=0) / step))
    plot_h, plot_w = height - top - bottom, width - left - 8
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / labels))
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


def row_chart(title: str, items: Sequence[tuple[str, int, str]]) -> Chart:
    """Horizontal bars, each with its label and a link (used for chapters).

    Drawn as HTML (a <meter> per row), not SVG, so labels keep their size on a phone
    and wrap above their bar; only values and the ceiling are needed.
    """
    ceiling = max((v for _, v, _ in items), default=0) or 1
    bars = tuple(
        Bar(label=label, title=f"{label}: {value}件", value=value, x=0, y=0, width=0, height=0, href=href)
        for label, value, href in items
    )
    return Chart(title, 0, 0, bars, (), 0, 0, ceiling=ceiling)


MAX_BARS = 100  # a period longer than this many days is drawn by week, then by month


def span_points(first: dt.date, last: dt.date, per_day: Mapping[str, int]) -> list[tuple[str, int]]:
    """Every day from `first` to `last` (zeros included, so gaps show as gaps), summed by week
    (from Monday) or month when there would be more than MAX_BARS bars."""
    if last < first:
        return []
    days = (last - first).days + 1
    if days <= MAX_BARS:
        dates = [first + dt.timedelta(days=i) for i in range(days)]
        return [(f"{d.month}/{d.day}", per_day.get(d.isoformat(), 0)) for d in dates]
    buckets: dict[str, int] = {}
    by_week = days <= MAX_BARS * 7
    for i in range(days):
        day = first + dt.timedelta(days=i)
        if by_week:
            start = day - dt.timedelta(days=day.weekday())
            label = f"{start.month}/{start.day}週"
        else:
            label = f"{day.year}/{day.month}"
        buckets[label] = buckets.get(label, 0) + per_day.get(day.isoformat(), 0)
    return list(buckets.items())


def chart_span(
    since: dt.datetime | None, until: dt.datetime | None, log_first: dt.date | None
) -> tuple[dt.date, dt.date] | None:
    """The days a chart covers: the period asked for, clamped to the days the log can have
    (its first exchange to today), so `since=0001-01-02` draws months of data, not millennia."""
    if log_first is None:
        return None
    today = dt.datetime.now(LOCAL_TZ).date()
    first = since.astimezone(LOCAL_TZ).date() if since else log_first
    last = (until - dt.timedelta(microseconds=1)).astimezone(LOCAL_TZ).date() if until else today
    first = max(first, min(log_first, today))
    return first, min(last, today)
