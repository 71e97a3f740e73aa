"""What a staff page's query string asks for: the filter as typed, the LogFilter it means, the page.

Parsing lives apart from the pages so every page reads a filter the same way, and a
malformed value becomes a Japanese message on the page instead of an error.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from .reports import CHANNELS, LOCAL_TZ, SORTS, LogFilter, ReportPeriod, parse_time

__all__ = ["PAGE_SIZE", "PERIODS", "FilterForm", "Pager", "parse_filter", "parse_report"]

PAGE_SIZE = 50
MAX_NUMBER = 2**31 - 1  # ids and numbers as the database stores them
MAX_TEXT = 100  # a search word or measure id longer than this is not one
PERIODS = (("7", "直近7日"), ("30", "直近30日"), ("90", "直近90日"), ("all", "全期間"))
FILTER_KEYS = (
    "period",
    "since",
    "until",
    "unanswered",
    "feedback",
    "measure",
    "chapter",
    "search",
    "version",
    "inbox",
    "sort",
    "channel",
)


@dataclass(frozen=True)
class FilterForm:
    """A page's filter as typed (to show it again and to build links) and the LogFilter it means."""

    values: Mapping[str, str]
    log_filter: LogFilter
    errors: tuple[str, ...] = ()

    @property
    def sort(self) -> str:
        """The list's order, a key of reports.SORTS (newest first unless chosen)."""
        return self.values.get("sort", "-time")

    def kept(self, *dropped: str) -> dict[str, str]:
        """The values to carry as hidden fields in a form that sets `dropped` itself."""
        return {key: value for key, value in self.values.items() if key not in dropped}

    @property
    def period(self) -> str | None:
        """The preset period in effect (for highlighting its link), None for chosen dates."""
        return self.values.get("period")

    def query(self, **changes: str | int | None) -> str:
        """This filter as a query string, with `changes` applied (None drops a key)."""
        values = dict(self.values)
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = str(value)
        return urlencode({key: value for key, value in values.items() if value})


def parse_filter(params: Mapping[str, str], *, default_period: str | None = None) -> FilterForm:
    """The query string's filter; a malformed value is reported in Japanese and left out."""
    values = {key: params.get(key, "").strip() for key in FILTER_KEYS}
    values = {key: value for key, value in values.items() if value}
    errors: list[str] = []

    def day(key: str, label: str, *, end: bool) -> dt.datetime | None:
        if key not in values:
            return None
        try:
            moment = parse_time(values[key], end_of_day=end)
            moment.astimezone(dt.UTC)  # how the database compares it
            return moment
        except ValueError:
            errors.append(f"{label}は 2026-11-01 のように入力してください。")
        except OverflowError:  # the day after 9999-12-31, or before year 1 in UTC
            errors.append(f"{label}は 0001-01-02 から 9999-12-30 までの日付にしてください。")
        return None

    def number(key: str, label: str) -> int | None:
        if key not in values:
            return None
        value = values[key]
        if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > MAX_NUMBER:
            errors.append(f"{label}の指定が正しくありません。")
            return None
        return int(value)

    for key, label in (("search", "語句"), ("measure", "施策")):
        if len(values.get(key, "")) > MAX_TEXT:
            errors.append(f"{label}は{MAX_TEXT}文字以内で指定してください。")
            values.pop(key)

    since, until = day("since", "開始日", end=False), day("until", "終了日", end=True)
    if "since" not in values and "until" not in values and "period" not in values and default_period:
        values["period"] = default_period
    if values.get("period", "all") not in dict(PERIODS):
        errors.append("期間の指定が正しくありません。")
        values.pop("period")
    if since is None and until is None and values.get("period", "all") != "all":
        days = int(values["period"])
        today = dt.datetime.now(LOCAL_TZ).date()
        since = parse_time((today - dt.timedelta(days=days - 1)).isoformat())
    elif since is not None or until is not None:
        values.pop("period", None)
    if values.get("sort", "-time") not in SORTS:
        errors.append("並べ替えの指定が正しくありません。")
        values.pop("sort")
    feedback = values.get("feedback")
    if feedback not in (None, "up", "down"):
        errors.append("評価の指定が正しくありません。")
        feedback = None
    channel = values.get("channel")
    if channel is not None and channel not in CHANNELS:
        errors.append("窓口の指定が正しくありません。")
        channel = None
    log_filter = LogFilter(
        since=since,
        until=until,
        unanswered="unanswered" in values,
        feedback=feedback,
        measure=values.get("measure"),
        chapter=number("chapter", "章"),
        search=values.get("search"),
        version=number("version", "計画版"),
        inbox="inbox" in values,
        channel=channel,
    )
    return FilterForm(values, log_filter, tuple(errors))


@dataclass(frozen=True)
class Pager:
    page: int
    total: int
    size: int = PAGE_SIZE

    @classmethod
    def from_param(cls, value: str | None, total: int) -> Pager:
        """The requested page, kept within the pages there are (an old link past the end shows the last)."""
        last = cls(1, total).pages
        if not value or not value.isascii() or not value.isdigit():
            return cls(1, total)
        return cls(min(max(int(value[:10]) if len(value) <= 10 else last, 1), last), total)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)


def parse_report(params: Mapping[str, str]) -> ReportPeriod:
    """The summary's week or month: `unit` (week, month) and a `start` day inside it, by default
    the last one that has ended. ValueError (shown as a 400) for anything else."""
    unit = params.get("unit", "week")
    if unit not in ("week", "month"):
        raise ValueError(unit)
    start = params.get("start")
    if not start:
        return ReportPeriod.last_complete(unit, dt.datetime.now(LOCAL_TZ).date())
    day = dt.date.fromisoformat(start)
    if not 2000 <= day.year <= 2100:
        raise ValueError(start)
    return ReportPeriod.containing(unit, day)
