"""Resolving what residents asked: staff verdicts on exchanges, and the answer key they grow into.

A verdict names the measures that answer a question, or says the plan does not
cover it (計画の対象外), or that it is mischief (いたずら・スパム, left out of
statistics). Measure and out-of-scope verdicts are labelled questions in the
`evaluate` format: the city's own answer key, growing from real traffic, which the
preview scores every pending change against.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from index import Located, Plan, PlanBundle
from index.evaluate import Labelled

from . import audit
from .errors import CurationError
from .redact import without_personal
from .reports import LOCAL_TZ, SPAM_VERDICT
from .store import Exchange, HandledItem, Resolution, utcnow

__all__ = [
    "ANSWER_KEY_KIND",
    "MEASURES",
    "OUT_OF_SCOPE",
    "SPAM",
    "ContextRow",
    "Resolved",
    "Verdict",
    "answer_key",
    "answer_key_jsonl",
    "context",
    "find_measures",
    "reopen",
    "resolve",
    "resolved",
    "verdicts",
]

MEASURES = "measures"
OUT_OF_SCOPE = "out_of_scope"
SPAM = SPAM_VERDICT  # left out of statistics by reports
VERDICT_LABELS = {MEASURES: "施策", OUT_OF_SCOPE: "計画の対象外", SPAM: "いたずら・スパム"}
# `kind` of a resolved question in the answer key (`evaluate` reports figures per kind).
ANSWER_KEY_KIND = "resident"
CONTEXT_WINDOW = dt.timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str  # MEASURES, OUT_OF_SCOPE or SPAM
    measures: tuple[str, ...] = ()

    def check(self, plan: Plan) -> None:
        """CurationError unless the verdict is complete and names measures of `plan`."""
        if self.kind not in VERDICT_LABELS:
            raise CurationError(f"unknown verdict '{self.kind}'")
        if self.kind != MEASURES:
            if self.measures:
                raise CurationError(f"a {VERDICT_LABELS[self.kind]} verdict names no measures")
            return
        if not self.measures:
            raise CurationError("choose at least one measure")
        for measure_id in self.measures:
            try:
                plan.locate(measure_id)
            except KeyError:
                raise CurationError(f"the plan has no measure '{measure_id}'") from None

    @property
    def label(self) -> str:
        return " ".join(self.measures) if self.kind == MEASURES else VERDICT_LABELS[self.kind]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A stored verdict on one exchange."""

    exchange_id: int | None
    question: str
    verdict: Verdict
    staff_name: str
    created_at: dt.datetime


def _resolved(resolution: Resolution) -> Resolved:
    verdict = Verdict(resolution.verdict, tuple(resolution.measures))
    return Resolved(
        resolution.exchange_id, resolution.question, verdict, resolution.staff_name, resolution.created_at
    )


def resolve(
    session: Session, exchange_ids: Sequence[int], verdict: Verdict, staff_name: str, plan: Plan
) -> list[Resolved]:
    """Store `verdict` for each exchange (replacing an earlier one); they leave the inbox."""
    verdict.check(plan)
    if not exchange_ids:
        raise CurationError("choose at least one exchange")
    exchanges = {e.id: e for e in session.scalars(select(Exchange).where(Exchange.id.in_(exchange_ids)))}
    missing = sorted(set(exchange_ids) - exchanges.keys())
    if missing:
        raise CurationError(f"no such exchange: {', '.join(map(str, missing))}")
    existing = {
        r.exchange_id: r
        for r in session.scalars(select(Resolution).where(Resolution.exchange_id.in_(exchange_ids)))
    }
    handled = set(
        session.scalars(select(HandledItem.exchange_id).where(HandledItem.exchange_id.in_(exchange_ids)))
    )
    now = utcnow()
    stored: list[Resolved] = []
    for exchange_id in dict.fromkeys(exchange_ids):
        exchange = exchanges[exchange_id]
        replaced = _describe(existing.get(exchange_id))
        resolution = existing.get(exchange_id) or Resolution(exchange_id=exchange_id)
        # Kept beyond the log's retention and deletions: never with a resident's personal details.
        resolution.question = without_personal(exchange.question).strip()
        resolution.verdict, resolution.measures = verdict.kind, list(verdict.measures)
        resolution.staff_name, resolution.created_at = staff_name, now
        session.add(resolution)
        if exchange_id not in handled:  # the inbox shows what nobody has dealt with yet
            session.add(
                HandledItem(
                    exchange_id=exchange_id,
                    staff_name=staff_name,
                    note=f"解決: {verdict.label}",
                    created_at=now,
                )
            )
        audit.record(
            session,
            staff_name,
            "resolve",
            f"exchange {exchange_id}",
            question=resolution.question,
            verdict=verdict.kind,
            measures=list(verdict.measures),
            replaced=replaced,
        )
        stored.append(_resolved(resolution))
    return stored


def _describe(resolution: Resolution | None) -> str | None:
    if resolution is None:
        return None
    return Verdict(resolution.verdict, tuple(resolution.measures)).label


def reopen(session: Session, exchange_ids: Sequence[int], staff_name: str) -> int:
    """Undo the verdicts on these exchanges; they return to the inbox. The number reopened."""
    resolutions = list(session.scalars(select(Resolution).where(Resolution.exchange_id.in_(exchange_ids))))
    for resolution in resolutions:
        audit.record(
            session,
            staff_name,
            "reopen",
            f"exchange {resolution.exchange_id}",
            question=resolution.question,
            undone=_describe(resolution),
        )
        session.delete(resolution)
    session.execute(delete(HandledItem).where(HandledItem.exchange_id.in_(exchange_ids)))
    return len(resolutions)


def resolved(session: Session, *, verdicts: Iterable[str] = (MEASURES, OUT_OF_SCOPE)) -> list[Resolved]:
    """Stored verdicts of the given kinds, newest first."""
    query = (
        select(Resolution)
        .where(Resolution.verdict.in_(list(verdicts)))
        .order_by(Resolution.created_at.desc(), Resolution.id.desc())
    )
    return [_resolved(r) for r in session.scalars(query)]


def verdicts(session: Session, exchange_ids: Sequence[int]) -> dict[int, Resolved]:
    """The stored verdicts on these exchanges, by exchange id."""
    query = select(Resolution).where(Resolution.exchange_id.in_(exchange_ids))
    return {r.exchange_id: _resolved(r) for r in session.scalars(query) if r.exchange_id is not None}


def answer_key(session: Session) -> list[Labelled]:
    """The city's labelled questions: one per distinct question, its newest verdict; no spam."""
    latest: dict[str, Labelled] = {}
    for item in resolved(session):
        relevant = item.verdict.measures if item.verdict.kind == MEASURES else ()
        kind = ANSWER_KEY_KIND if relevant else OUT_OF_SCOPE
        latest.setdefault(item.question, Labelled(item.question, relevant, kind))
    return list(latest.values())


def answer_key_jsonl(questions: Iterable[Labelled]) -> str:
    """The answer key as `python -m bot evaluate` reads it: one {"q", "relevant", "kind"} a line."""
    return "".join(
        json.dumps({"q": q.q, "relevant": list(q.relevant), "kind": q.kind}, ensure_ascii=False) + "\n"
        for q in questions
    )


@dataclass(frozen=True, slots=True)
class ContextRow:
    """One exchange of the same resident near the one staff are looking at."""

    id: int
    created_at: dt.datetime
    question: str
    answered: bool
    shown: tuple[str, ...]
    current: bool

    @property
    def local_time(self) -> str:
        return self.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def context(session: Session, exchange_id: int, *, window: dt.timedelta = CONTEXT_WINDOW) -> list[ContextRow]:
    """The same pseudonymous resident's exchanges within ±`window`, oldest first (their rephrasings).

    CurationError when there is no such exchange.
    """
    exchange = session.get(Exchange, exchange_id)
    if exchange is None:
        raise CurationError(f"no such exchange: {exchange_id}")
    query = (
        select(Exchange)
        .where(
            Exchange.user_key == exchange.user_key,
            Exchange.channel == exchange.channel,
            Exchange.created_at >= exchange.created_at - window,
            Exchange.created_at <= exchange.created_at + window,
        )
        .options(selectinload(Exchange.hits))
        .order_by(Exchange.created_at, Exchange.id)
    )
    return [
        ContextRow(
            e.id,
            e.created_at,
            e.question,
            e.answered,
            tuple(h.measure_id for h in e.hits),
            e.id == exchange_id,
        )
        for e in session.scalars(query)
    ]


def find_measures(bundle: PlanBundle, text: str, *, limit: int = 10) -> list[Located]:
    """Measures for the resolve form's search box: an id (2-2-4), words of a title, or a question
    (what the search ranks, whatever grade it would give), in that order, without repeats."""
    text = text.strip()
    if not text:
        return []
    found: dict[str, Located] = {}
    for located in bundle.plan.located():
        if text == located.middle.id:
            found = {text: located, **found}
        elif text in located.middle.title or text in located.measure.title:
            found.setdefault(located.middle.id, located)
    for hit in bundle.index.search(text, limit=limit).candidates:
        found.setdefault(hit.id, hit.located)
    return list(found.values())[:limit]
