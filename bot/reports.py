"""What staff read from the answer log: filtered exchanges, statistics, CSV, retention, the inbox.

The one home of every query on the answer log made for staff: the command line, the
Telegram staff commands and the dashboard all read through here, so a filter means the
same thing everywhere. Times are stored in UTC and shown in Japan time, the time staff
work in.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, Select, delete, exists, func, select
from sqlalchemy.orm import Session, selectinload

from index import Plan, Reason
from index.tokenizer import normalize, terms, tokenize

from .redact import mask, without_personal
from .store import (
    Exchange,
    ExchangeCandidate,
    ExchangeHit,
    Feedback,
    HandledItem,
    PlanVersion,
    Resolution,
    StaffAction,
    utcnow,
)
from .versions import active_version

__all__ = [
    "CHANNELS",
    "LOCAL_TZ",
    "REASONS",
    "SORTS",
    "SPAM_VERDICT",
    "Choices",
    "ExchangeRow",
    "HandledRow",
    "LogFilter",
    "RankRow",
    "RankedMeasure",
    "ReportPeriod",
    "Stats",
    "WordGroup",
    "WordTally",
    "active_version",
    "compute_stats",
    "count_exchanges",
    "delete_exchange",
    "filter_choices",
    "find_exchange",
    "group_by_words",
    "list_exchanges",
    "log_first_day",
    "mark_handled",
    "measure_ranks",
    "parse_time",
    "purge",
    "recently_handled",
    "record_action",
    "rows_to_csv",
    "spam_exchange_ids",
]

LOCAL_TZ = ZoneInfo("Asia/Tokyo")
# Greetings and thanks are logged, but they are not questions the bot failed to answer.
UNANSWERED = Exchange.answered.is_(False) & (Exchange.reason != Reason.SMALL_TALK.value)
SEARCH_SCAN_LIMIT = 5000  # exchanges a staff search reads, newest first


def _has_words(have: frozenset[str], wanted: frozenset[str]) -> bool:
    """Every wanted key inside one of the question's keys: ごみ (塵) is in ゴミ袋 (塵袋) too."""
    return all(any(key in word for word in have) for key in wanted)


@functools.lru_cache(maxsize=20_000)
def _keys(text: str) -> frozenset[str]:
    """The lemma keys the bot's search reads in `text` (cached: pages search the same questions)."""
    return frozenset(terms(text))


# Where residents asked (the code the log stores) and what staff call it.
CHANNELS = {"telegram": "Telegram", "web": "ウェブ", "console": "端末"}
# Why the bot answered as it did, in the words staff use (the log stores the code).
REASONS = {
    "matched": "回答",
    "field": "回答（分野の一覧）",
    "no_terms": "回答なし（語句なし）",
    "other_city": "回答なし（他市の話題）",
    "off_topic": "回答なし（対象外の依頼）",
    "no_match": "回答なし（該当なし）",
    "weak_evidence": "関連施策のみ（根拠が弱い）",
    "procedure": "関連施策のみ（手続き等は計画外）",
    "other_body": "関連施策のみ（他機関の事業）",
    "small_talk": "あいさつ・雑談（質問ではない）",
}


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
    search: str | None = None  # folded like the bot reads questions: ゴミ finds ごみ, ＤＸ finds dx
    version: int | None = None
    inbox: bool = False  # unanswered or rated unhelpful, not yet handled
    ids: tuple[int, ...] | None = None  # what `search` matched, once resolved against the database
    channel: str | None = None  # a key of CHANNELS

    def describe(self) -> dict[str, str]:
        """The filter as plain strings (recorded with exports, shown on pages)."""
        return {
            key: str(value)
            for key, value in self.__dict__.items()
            if value not in (None, False, "") and key != "ids"
        }

    def resolve(self, session: Session) -> LogFilter:
        """This filter with `search` turned into the ids it matches.

        A search word matches a question whose normalised text contains it (full/half width,
        case) or whose words contain all of its words by lemma, as the bot's search reads
        them (ゴミ and ごみ, and ゴミ袋). That is done in Python over the newest SEARCH_SCAN_LIMIT
        exchanges the other conditions select, so one request's work stays bounded.
        """
        if not self.search:
            return self
        wanted, keys = normalize(self.search), _keys(self.search)
        candidates = (
            dataclasses.replace(self, search=None)
            .apply(select(Exchange.id, Exchange.question))
            .order_by(Exchange.created_at.desc(), Exchange.id.desc())
            .limit(SEARCH_SCAN_LIMIT)
        )
        ids = tuple(
            exchange_id
            for exchange_id, question in session.execute(candidates)
            if wanted in normalize(question) or (keys and _has_words(_keys(question), keys))
        )
        return dataclasses.replace(self, search=None, ids=ids)

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
        if self.search:  # not resolved: the plain substring (callers resolve first)
            query = query.where(Exchange.question.contains(self.search, autoescape=True))
        if self.ids is not None:
            query = query.where(Exchange.id.in_(self.ids))
        if self.version is not None:
            digest = select(PlanVersion.digest).where(PlanVersion.id == self.version).scalar_subquery()
            query = query.where(Exchange.plan_version == digest)
        if self.channel:
            query = query.where(Exchange.channel == self.channel)
        if self.inbox:
            unhelpful = exists().where(Feedback.exchange_id == Exchange.id, Feedback.helpful.is_(False))
            handled = exists().where(HandledItem.exchange_id == Exchange.id)
            query = query.where((UNANSWERED | unhelpful) & ~handled)
        return query


@dataclass(frozen=True)
class RankedMeasure:
    """A measure at its rank for an exchange: shown to the resident, or a search candidate."""

    measure_id: str
    rank: int
    score: float
    citation: str

    @property
    def short_title(self) -> str:
        """The last step of the citation, (1) 安心で快適な住環境の整備; "" for a measure the plan lost."""
        return self.citation.rsplit(" › ", 1)[-1] if self.citation != self.measure_id else ""


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
    shown: tuple[RankedMeasure, ...]
    helpful: int
    unhelpful: int
    # What the search ranked for a related or declined question (read for one exchange only).
    candidates: tuple[RankedMeasure, ...] = ()

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


def _ranked(hits: Iterable[ExchangeHit | ExchangeCandidate], plan: Plan | None) -> tuple[RankedMeasure, ...]:
    return tuple(RankedMeasure(h.measure_id, h.rank, h.score, citation_of(plan, h.measure_id)) for h in hits)


def _row(
    exchange: Exchange,
    versions: dict[str, int],
    plan: Plan | None,
    candidates: Iterable[ExchangeCandidate] = (),
) -> ExchangeRow:
    return ExchangeRow(
        id=exchange.id,
        uid=exchange.uid,
        created_at=exchange.created_at,
        channel=exchange.channel,
        question=exchange.question,
        answered=exchange.answered,
        reason=exchange.reason,
        latency_ms=exchange.latency_ms,
        plan_version=versions.get(exchange.plan_version),
        shown=_ranked(exchange.hits, plan),
        helpful=sum(1 for f in exchange.feedback if f.helpful),
        unhelpful=sum(1 for f in exchange.feedback if not f.helpful),
        candidates=_ranked(candidates, plan),
    )


def _unhelpful_count() -> ScalarSelect[int]:
    return (
        select(func.count(Feedback.id))
        .where(Feedback.exchange_id == Exchange.id, Feedback.helpful.is_(False))
        .scalar_subquery()
    )


# The orders a list can be sorted in (a "-" first: descending); ties go newest first.
SORTS = {
    "time": (Exchange.created_at.asc(),),
    "-time": (),
    "reason": (Exchange.answered.asc(), Exchange.reason.asc()),
    "-reason": (Exchange.answered.desc(), Exchange.reason.desc()),
    "feedback": (_unhelpful_count().asc(),),
    "-feedback": (_unhelpful_count().desc(),),
}


def list_exchanges(
    session: Session,
    log_filter: LogFilter,
    plan: Plan | None,
    *,
    limit: int = 50,
    offset: int = 0,
    sort: str = "-time",
) -> list[ExchangeRow]:
    """Exchanges matching the filter, newest first unless `sort` (a key of SORTS) says otherwise."""
    query = (
        log_filter.resolve(session)
        .apply(select(Exchange))
        .options(selectinload(Exchange.hits), selectinload(Exchange.feedback))
        .order_by(*SORTS[sort], Exchange.created_at.desc(), Exchange.id.desc())
        .limit(limit)
        .offset(offset)
    )
    versions = _version_ids(session)
    return [_row(exchange, versions, plan) for exchange in session.scalars(query)]


def find_exchange(session: Session, exchange_id: int, plan: Plan | None) -> ExchangeRow | None:
    """One exchange with the search's candidates (lists leave them out)."""
    query = (
        select(Exchange)
        .where(Exchange.id == exchange_id)
        .options(
            selectinload(Exchange.hits), selectinload(Exchange.feedback), selectinload(Exchange.candidates)
        )
    )
    exchange = session.scalar(query)
    if exchange is None:
        return None
    return _row(exchange, _version_ids(session), plan, exchange.candidates)


def count_exchanges(session: Session, log_filter: LogFilter) -> int:
    return session.scalar(log_filter.resolve(session).apply(select(func.count(Exchange.id)))) or 0


CSV_COLUMNS = ("時刻", "チャネル", "質問", "回答", "理由", "表示した施策", "出典", "評価", "計画版")
# Excel reads a cell starting with one of these as a formula; full-width ones too (＝ is turned into =).
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")


def _cell(value: object) -> str:
    """A CSV cell Excel shows as text: residents' questions starting with = + - @ are not formulas."""
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def feedback_words(row: ExchangeRow) -> str:
    """The rating in words, for files read outside the dashboard (no emoji)."""
    parts = [(row.helpful, "役に立った"), (row.unhelpful, "役に立たなかった")]
    return "、".join(f"{label} {count}" for count, label in parts if count)


def rows_to_csv(rows: Iterable[ExchangeRow], *, reveal: bool = False) -> str:
    """CSV for Excel: UTF-8 with BOM so the Japanese opens intact, citations spelled out, reasons
    in Japanese, personal details masked unless `reveal`."""
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
                row.question if reveal else mask(row.question),
                "回答" if row.answered else "回答なし",
                REASONS.get(row.reason, row.reason),
                " ".join(s.measure_id for s in row.shown),
                " / ".join(s.citation for s in row.shown),
                feedback_words(row),
                row.plan_version or "",
            )
        )
    return buffer.getvalue()


_MARKUP = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)|<[^>]*>|&#?\w+;", re.I | re.S)


class WordTally:
    """Words of questions counted by the tokenizer's lemma (ゴミ and ごみ together), shown as written.

    A compound and its parts are one word: when グリーン and カーテン only ever came inside
    グリーンカーテン, only グリーンカーテン is listed. Single characters, markup (a hostile
    `<script>` is not a topic) and personal details (a name is not a topic) are not words.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._inside: Counter[str] = Counter()  # questions where a key came only inside a compound
        self._written: dict[str, Counter[str]] = {}

    def add(self, question: str) -> dict[str, str]:
        """Count each word of `question` once; return its words (key → as written)."""
        tokens = [t for t in tokenize(without_personal(_MARKUP.sub(" ", question))) if len(t.surface) > 1]
        compounds = [t for t in tokens if t.pos == "複合"]
        words = {token.key: token.surface for token in tokens}
        alone = Counter(t.key for t in tokens if t.pos != "複合")
        for key, surface in words.items():
            self.counts[key] += 1
            self._written.setdefault(key, Counter())[surface] += 1
            parts_of = sum(1 for c in compounds if key != c.key and key in c.key)
            if parts_of and alone[key] <= parts_of:
                self._inside[key] += 1
        return words

    def listed(self, key: str) -> bool:
        """False for a part that never came outside its compound (グリーン of グリーンカーテン)."""
        return self._inside[key] < self.counts[key]

    def written(self, key: str) -> str:
        """The word as residents most often wrote it (never a lemma)."""
        return self._written[key].most_common(1)[0][0]

    def most_common(self, top: int) -> list[tuple[str, int]]:
        keys = [(key, count) for key, count in self.counts.most_common() if self.listed(key)]
        return [(self.written(key), count) for key, count in keys[:top]]


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


SPAM_VERDICT = "spam"  # bot.curation's verdict for mischief (いたずら・スパム)


def spam_exchange_ids() -> Select[int | None]:
    """Exchanges staff resolved as mischief: statistics leave them out (never NULL: safe in NOT IN)."""
    return select(Resolution.exchange_id).where(
        Resolution.verdict == SPAM_VERDICT, Resolution.exchange_id.is_not(None)
    )


def compute_stats(session: Session, log_filter: LogFilter, plan: Plan | None, *, top: int = 10) -> Stats:
    """Exchanges per day, answered rate, feedback, most shown measures and chapters, and
    the most frequent words of unanswered questions (the thesaurus to-do list); mischief left out."""
    stats = Stats()
    query = (
        log_filter.resolve(session)
        .apply(select(Exchange))
        .where(Exchange.id.not_in(spam_exchange_ids()))
        .options(selectinload(Exchange.hits), selectinload(Exchange.feedback))
        .execution_options(yield_per=1000)  # a long period streams instead of loading at once
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


WEEKDAYS = "月火水木金土日"


@dataclass(frozen=True)
class ReportPeriod:
    """A calendar week (Monday to Sunday) or month in Japan time, for the printable summary."""

    unit: str  # "week" or "month"
    first: dt.date
    last: dt.date  # inclusive

    @classmethod
    def containing(cls, unit: str, day: dt.date) -> ReportPeriod:
        if unit == "week":
            first = day - dt.timedelta(days=day.weekday())
            return cls(unit, first, first + dt.timedelta(days=6))
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(unit, first, following - dt.timedelta(days=1))

    @classmethod
    def last_complete(cls, unit: str, today: dt.date) -> ReportPeriod:
        """The latest week or month that has ended (the one a Monday-morning report is about)."""
        return cls.containing(unit, cls.containing(unit, today).first - dt.timedelta(days=1))

    def previous(self) -> ReportPeriod:
        return ReportPeriod.containing(self.unit, self.first - dt.timedelta(days=1))

    def next(self) -> ReportPeriod:
        return ReportPeriod.containing(self.unit, self.last + dt.timedelta(days=1))

    @property
    def log_filter(self) -> LogFilter:
        since = dt.datetime.combine(self.first, dt.time(), LOCAL_TZ)
        return LogFilter(since=since, until=since + dt.timedelta(days=(self.last - self.first).days + 1))

    @property
    def label(self) -> str:
        """2026年11月23日（月）〜11月29日（日）: the actual dates, weekday included."""

        def day(d: dt.date, year: bool) -> str:
            return f"{f'{d.year}年' if year else ''}{d.month}月{d.day}日（{WEEKDAYS[d.weekday()]}）"

        return f"{day(self.first, True)}〜{day(self.last, self.last.year != self.first.year)}"


def log_first_day(session: Session) -> dt.date | None:
    """The Japan-time day of the log's first exchange (charts never reach before it)."""
    first = session.scalar(select(func.min(Exchange.created_at)))
    return first.astimezone(LOCAL_TZ).date() if first is not None else None


def delete_exchange(session: Session, exchange_id: int) -> bool:
    """Delete one exchange with its hits, candidates, feedback and inbox note; False if there is none."""
    exchange = session.get(Exchange, exchange_id)
    if exchange is None:
        return False
    for model in (ExchangeHit, ExchangeCandidate, Feedback, HandledItem):
        session.execute(delete(model).where(model.exchange_id == exchange_id))
    session.execute(delete(Exchange).where(Exchange.id == exchange_id))
    return True


def record_action(session: Session, staff_name: str, action: str, exchange_id: int) -> None:
    """Audit a reveal of personal details or a deletion (who, what, which exchange, when)."""
    session.add(
        StaffAction(staff_name=staff_name, action=action, exchange_id=exchange_id, created_at=utcnow())
    )


def purge(session: Session, older_than_days: int, *, execute: bool) -> int:
    """Exchanges (with hits, candidates, feedback) older than the retention period; deleted if `execute`."""
    cutoff = utcnow() - dt.timedelta(days=older_than_days)
    count = session.scalar(select(func.count(Exchange.id)).where(Exchange.created_at < cutoff)) or 0
    if execute and count:
        old = select(Exchange.id).where(Exchange.created_at < cutoff)
        for model in (ExchangeHit, ExchangeCandidate, Feedback, HandledItem):
            session.execute(delete(model).where(model.exchange_id.in_(old)))
        session.execute(delete(Exchange).where(Exchange.created_at < cutoff))
    return count


@dataclass(frozen=True)
class WordGroup:
    word: str | None  # as residents wrote it; None for questions sharing no frequent word
    rows: tuple[ExchangeRow, ...]


def group_by_words(rows: Sequence[ExchangeRow], *, min_count: int = 2) -> list[WordGroup]:
    """Put each question under its most frequent word, so one gap in the plan reads as one group.

    Words are counted by search key (ゴミ and ごみ together) and shown as written; a longer word
    wins a tie, so 駐輪場 is preferred to 駐輪. Largest groups first, the unshared rest last.
    """
    tally = WordTally()
    words = [tally.add(row.question) for row in rows]
    counts = tally.counts
    groups: dict[str | None, list[ExchangeRow]] = {}
    for row, keys in zip(rows, words, strict=True):
        best = max(filter(tally.listed, keys), key=lambda k: (counts[k], len(k)), default=None)
        groups.setdefault(best if best and counts[best] >= min_count else None, []).append(row)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, -len(item[1])))
    return [WordGroup(tally.written(key) if key else None, tuple(members)) for key, members in ordered]


@dataclass(frozen=True)
class RankRow:
    rank: int
    shown: int
    helpful: int
    unhelpful: int


def measure_ranks(session: Session, measure_id: str, period: LogFilter) -> list[RankRow]:
    """How often a measure was shown at each rank in the period, and how those answers were rated."""
    exchanges = period.apply(select(Exchange.id))
    of_measure = (ExchangeHit.measure_id == measure_id, ExchangeHit.exchange_id.in_(exchanges))
    ranks = select(ExchangeHit.rank, func.count()).where(*of_measure).group_by(ExchangeHit.rank)
    shown: dict[int, int] = {rank: count for rank, count in session.execute(ranks)}
    rated: Counter[tuple[int, bool]] = Counter()
    for rank, helpful, count in session.execute(
        select(ExchangeHit.rank, Feedback.helpful, func.count())
        .join(Feedback, Feedback.exchange_id == ExchangeHit.exchange_id)
        .where(*of_measure)
        .group_by(ExchangeHit.rank, Feedback.helpful)
    ):
        rated[rank, helpful] = count
    return [RankRow(rank, n, rated[rank, True], rated[rank, False]) for rank, n in sorted(shown.items())]


@dataclass(frozen=True)
class HandledRow:
    question: str
    staff_name: str
    note: str
    created_at: dt.datetime

    @property
    def local_time(self) -> str:
        return self.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def recently_handled(session: Session, *, limit: int = 20) -> list[HandledRow]:
    query = (
        select(Exchange.question, HandledItem.staff_name, HandledItem.note, HandledItem.created_at)
        .join(Exchange, Exchange.id == HandledItem.exchange_id)
        .order_by(HandledItem.created_at.desc(), HandledItem.id.desc())
        .limit(limit)
    )
    return [HandledRow(*row) for row in session.execute(query)]


def mark_handled(session: Session, exchange_id: int, staff_name: str, note: str) -> bool:
    """Take an exchange out of the inbox; False if there is no such exchange. Idempotent."""
    if session.get(Exchange, exchange_id) is None:
        return False
    if session.scalar(select(HandledItem.id).where(HandledItem.exchange_id == exchange_id)) is None:
        session.add(
            HandledItem(exchange_id=exchange_id, staff_name=staff_name, note=note, created_at=utcnow())
        )
    return True


@dataclass(frozen=True)
class Choices:
    """What a filter form's drop-downs offer."""

    chapters: tuple[tuple[int, str], ...]
    measures: tuple[tuple[str, str], ...]
    versions: tuple[tuple[int, str], ...]


def filter_choices(session: Session, plan: Plan) -> Choices:
    versions = session.execute(select(PlanVersion.id, PlanVersion.label).order_by(PlanVersion.id))
    return Choices(
        chapters=tuple((c.number, c.label) for c in plan.chapters),
        measures=tuple((m.middle.id, f"{m.middle.id} {m.middle.title}") for m in plan.located()),
        versions=tuple((vid, f"第{vid}版 {label}") for vid, label in versions),
    )
