"""What staff read from the answer log: filtered exchanges, statistics, CSV, retention.

One module serves the command line, the Telegram staff commands and the
dashboard, so a filter means the same thing everywhere. Times are stored in UTC
and shown in Japan time, the time staff work in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.orm import Session, selectinload

from index import Plan, Reason
from index.tokenizer import tokenize

from .store import Exchange, ExchangeHit, Feedback, HandledItem, PlanVersion, utcnow

__all__ = [
    "LOCAL_TZ",
    "ExchangeRow",
    "LogFilter",
    "Stats",
    "WordTally",
    "compute_stats",
    "count_exchanges",
    "list_exchanges",
    "parse_time",
    "purge",
    "rows_to_csv",
]

LOCAL_TZ = ZoneInfo("Asia/Tokyo")
# Greetings and thanks are logged, but they are not questions the bot failed to answer.
UNANSWERED = Exchange.answered.is_(False) & (Exchange.reason != Reason.SMALL_TALK.value)


def parse_time(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """`2026-11-28` (a Japan-time day) or an ISO time; `end_of_day` makes a date inclusive."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
            return start + dt.timedelta(days=1) if end_of_day else start
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


@dataclass(frozen=True)
class LogFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    unanswered: bool = False
    feedback: str | None = None  # "up" or "down"
    measure: str | None = None
    chapter: int | None = None
    search: str | None = None
    version: int | None = None
    inbox: bool = False  # unanswered or rated unhelpful, not yet handled

    def describe(self) -> dict[str, str]:
        """The filter as plain strings (recorded with exports, shown on pages)."""
        return {key: str(value) for key, value in self.__dict__.items() if value not in (None, False, "")}

    def apply(self, query: Select) -> Select:
        if self.since is not None:
            query = query.where(Exchange.created_at >= self.since)
        if self.until is not None:
            query = query.where(Exchange.created_at < self.until)
        if self.unanswered:
            query = query.where(UNANSWERED)
        if self.feedback in ("up", "down"):
            helpful = self.feedback == "up"
            query = query.where(
                exists().where(Feedback.exchange_id == Exchange.id, Feedback.helpful.is_(helpful))
            )
        if self.measure:
            query = query.where(
                exists().where(ExchangeHit.exchange_id == Exchange.id, ExchangeHit.measure_id == self.measure)
            )
        if self.chapter is not None:
            query = query.where(
                exists().where(ExchangeHit.exchange_id == Exchange.id, ExchangeHit.chapter == self.chapter)
            )
        if self.search:
            query = query.where(Exchange.question.contains(self.search, autoescape=True))
        if self.version is not None:
            digest = select(PlanVersion.digest).where(PlanVersion.id == self.version).scalar_subquery()
            query = query.where(Exchange.plan_version == digest)
        if self.inbox:
            unhelpful = exists().where(Feedback.exchange_id == Exchange.id, Feedback.helpful.is_(False))
            handled = exists().where(HandledItem.exchange_id == Exchange.id)
            query = query.where((UNANSWERED | unhelpful) & ~handled)
        return query


@dataclass(frozen=True)
class ShownMeasure:
    measure_id: str
    rank: int
    score: float
    citation: str


@dataclass(frozen=True)
class ExchangeRow:
    id: int
    uid: str
    created_at: dt.datetime
    channel: str
    question: str
    answered: bool
    reason: str
    latency_ms: float
    plan_version: int | None
    shown: tuple[ShownMeasure, ...]
    helpful: int
    unhelpful: int

    @property
    def local_time(self) -> str:
        return self.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def feedback_label(self) -> str:
        return " ".join(filter(None, ("👍" * self.helpful, "👎" * self.unhelpful)))

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.created_at.isoformat(),
            "channel": self.channel,
            "question": self.question,
            "answered": self.answered,
            "reason": self.reason,
            "plan_version": self.plan_version,
            "latency_ms": round(self.latency_ms, 2),
            "hits": [
                {"id": s.measure_id, "rank": s.rank, "score": s.score, "citation": s.citation}
                for s in self.shown
            ],
            "feedback": {"helpful": self.helpful, "unhelpful": self.unhelpful},
        }


def citation_of(plan: Plan | None, measure_id: str) -> str:
    """The measure's citation in the given plan, or its id when that plan no longer has it."""
    try:
        return plan.locate(measure_id).citation if plan else measure_id
    except KeyError:
        return measure_id


def _version_ids(session: Session) -> dict[str, int]:
    return {
        digest: version_id
        for digest, version_id in session.execute(select(PlanVersion.digest, PlanVersion.id))
    }


def list_exchanges(
    session: Session, log_filter: LogFilter, plan: Plan | None, *, limit: int = 50, offset: int = 0
) -> list[ExchangeRow]:
    """Exchanges matching the filter, newest first."""
    query = (
        log_filter.apply(select(Exchange))
        .options(selectinload(Exchange.hits), selectinload(Exchange.feedback))
        .order_by(Exchange.created_at.desc(), Exchange.id.desc())
        .limit(limit)
        .offset(offset)
    )
    versions = _version_ids(session)
    return [
        ExchangeRow(
            id=exchange.id,
            uid=exchange.uid,
            created_at=exchange.created_at,
            channel=exchange.channel,
            question=exchange.question,
            answered=exchange.answered,
            reason=exchange.reason,
            latency_ms=exchange.latency_ms,
            plan_version=versions.get(exchange.plan_version),
            shown=tuple(
                ShownMeasure(h.measure_id, h.rank, h.score, citation_of(plan, h.measure_id))
                for h in exchange.hits
            ),
            helpful=sum(1 for f in exchange.feedback if f.helpful),
            unhelpful=sum(1 for f in exchange.feedback if not f.helpful),
        )
        for exchange in session.scalars(query)
    ]


def count_exchanges(session: Session, log_filter: LogFilter) -> int:
    return session.scalar(log_filter.apply(select(func.count(Exchange.id)))) or 0


CSV_COLUMNS = ("時刻", "チャネル", "質問", "回答", "理由", "表示した施策", "出典", "評価", "計画版")


def _cell(value: object) -> str:
    """A CSV cell Excel shows as text: residents' questions starting with = + - @ are not formulas."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def rows_to_csv(rows: Iterable[ExchangeRow]) -> str:
    """CSV for Excel: UTF-8 with BOM so the Japanese opens intact, citations spelled out."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            _cell(value)
            for value in (
                row.local_time,
                row.channel,
                row.question,
                "回答" if row.answered else "回答なし",
                row.reason,
                " ".join(s.measure_id for s in row.shown),
                " / ".join(s.citation for s in row.shown),
                row.feedback_label,
                row.plan_version or "",
            )
        )
    return buffer.getvalue()


class WordTally:
    """Words of questions counted by search key (ゴミ and ごみ together), shown as residents wrote them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._written: dict[str, Counter[str]] = {}

    def add(self, question: str) -> dict[str, str]:
        """Count each word of `question` once; return its words (key → as written)."""
        words = {token.key: token.surface for token in tokenize(question)}
        for key, surface in words.items():
            self.counts[key] += 1
            self._written.setdefault(key, Counter())[surface] += 1
        return words

    def written(self, key: str) -> str:
        """The word as residents most often wrote it (never a lemma)."""
        return self._written[key].most_common(1)[0][0]

    def most_common(self, top: int) -> list[tuple[str, int]]:
        return [(self.written(key), count) for key, count in self.counts.most_common(top)]


@dataclass
class Stats:
    exchanges: int = 0
    answered: int = 0
    small_talk: int = 0  # greetings, thanks …: neither answered nor unanswered
    helpful: int = 0
    unhelpful: int = 0
    per_day: dict[str, int] = field(default_factory=dict)
    top_measures: list[tuple[str, str, int]] = field(default_factory=list)
    per_chapter: dict[int, int] = field(default_factory=dict)
    unanswered_words: list[tuple[str, int]] = field(default_factory=list)

    @property
    def answered_rate(self) -> float:
        questions = self.exchanges - self.small_talk
        return self.answered / questions if questions else 0.0

    @property
    def helpful_ratio(self) -> float:
        rated = self.helpful + self.unhelpful
        return self.helpful / rated if rated else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "exchanges": self.exchanges,
            "answered": self.answered,
            "small_talk": self.small_talk,
            "answered_rate": round(self.answered_rate, 4),
            "feedback": {
                "helpful": self.helpful,
                "unhelpful": self.unhelpful,
                "ratio": round(self.helpful_ratio, 4),
            },
            "per_day": self.per_day,
            "top_measures": [{"id": i, "citation": c, "count": n} for i, c, n in self.top_measures],
            "per_chapter": {str(k): v for k, v in self.per_chapter.items()},
            "unanswered_words": [{"word": w, "count": n} for w, n in self.unanswered_words],
        }


def compute_stats(session: Session, log_filter: LogFilter, plan: Plan | None, *, top: int = 10) -> Stats:
    """Exchanges per day, answered rate, feedback, most shown measures and chapters, and
    the most frequent words of unanswered questions (the thesaurus to-do list)."""
    stats = Stats()
    query = log_filter.apply(select(Exchange)).options(
        selectinload(Exchange.hits), selectinload(Exchange.feedback)
    )
    measures: Counter[str] = Counter()
    chapters: Counter[int] = Counter()
    days: Counter[str] = Counter()
    words = WordTally()
    for exchange in session.scalars(query):
        stats.exchanges += 1
        days[exchange.created_at.astimezone(LOCAL_TZ).date().isoformat()] += 1
        stats.helpful += sum(1 for f in exchange.feedback if f.helpful)
        stats.unhelpful += sum(1 for f in exchange.feedback if not f.helpful)
        if exchange.answered:
            stats.answered += 1
            for hit in exchange.hits:
                if hit.rank == 1:
                    measures[hit.measure_id] += 1
                    chapters[hit.chapter] += 1
        elif exchange.reason == Reason.SMALL_TALK:
            stats.small_talk += 1
        else:
            words.add(exchange.question)
    stats.per_day = dict(sorted(days.items()))
    stats.top_measures = [(mid, citation_of(plan, mid), n) for mid, n in measures.most_common(top)]
    stats.per_chapter = dict(sorted(chapters.items()))
    stats.unanswered_words = words.most_common(top)
    return stats


def purge(session: Session, older_than_days: int, *, execute: bool) -> int:
    """Exchanges (with their hits and feedback) older than the retention period; deleted if `execute`."""
    cutoff = utcnow() - dt.timedelta(days=older_than_days)
    count = session.scalar(select(func.count(Exchange.id)).where(Exchange.created_at < cutoff)) or 0
    if execute and count:
        old = select(Exchange.id).where(Exchange.created_at < cutoff)
        for model in (ExchangeHit, Feedback, HandledItem):
            session.execute(delete(model).where(model.exchange_id.in_(old)))
        session.execute(delete(Exchange).where(Exchange.created_at < cutoff))
    return count
