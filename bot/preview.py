"""The preview: what the draft would change, measured before anything is published.

Three views, each before → after: how every resolved question would now be
answered; answer quality (hit@1, hit@3, out-of-scope handling) on all labelled
questions — the sets shipped with the product (`LABELLED_SETS`) and the city's
answer key — scored by `index.evaluate`; and which of the last 1,000 logged
questions would get a different answer. "Before" is the active version re-run now,
so a difference is the draft's doing, not an older version's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from index import Grade, PlanBundle, SearchResult, bundled_plan_dir
from index.evaluate import Labelled, Report, evaluate, read_questions

from .curation import MEASURES, Resolved, Verdict, answer_key, resolved
from .reports import spam_exchange_ids
from .store import Exchange

__all__ = [
    "LABELLED_SETS",
    "RECENT_QUESTIONS",
    "Answer",
    "ChangedAnswer",
    "Figures",
    "Preview",
    "QualityComparison",
    "ResolvedPreview",
    "bundled_questions",
    "compare_quality",
    "preview",
]

# The labelled questions shipped with the product, read where they live (relative to the
# repository) so that each question has one home: the tests and the README's answer-quality
# table use the same files. Later rounds (fresh2_…) are held out for one-off evaluations.
LABELLED_SETS = ("tests/data/questions.jsonl", "tests/data/fresh_questions.jsonl")
RECENT_QUESTIONS = 1000
SHIPPED_SET = "同梱の質問"
ANSWER_KEY_SET = "市の正解集"


def bundled_questions(root: Path | None = None) -> list[Labelled]:
    """The labelled questions of every set in LABELLED_SETS under `root` (the repository by
    default); a set whose file is absent, as in a deployment without the tests, is skipped."""
    base = root or bundled_plan_dir().parent
    return [q for name in LABELLED_SETS if (path := base / name).exists() for q in read_questions(path)]


@dataclass(frozen=True, slots=True)
class Answer:
    """What a resident would be shown: the grade (answer, related, none) and the measures in order."""

    grade: Grade
    measures: tuple[str, ...]

    @classmethod
    def of(cls, result: SearchResult) -> Answer:
        return cls(result.grade, tuple(hit.id for hit in result.hits[:3]))

    @property
    def answered(self) -> bool:
        return self.grade is Grade.ANSWER

    @property
    def top(self) -> str | None:
        return self.measures[0] if self.measures else None

    def rank(self, wanted: Sequence[str]) -> int | None:
        return next((rank for rank, m in enumerate(self.measures, 1) if m in wanted), None)

    @property
    def label(self) -> str:
        if not self.measures:
            return "回答なし"
        shown = " ".join(self.measures)
        return shown if self.answered else f"関連: {shown}"


@dataclass(frozen=True, slots=True)
class ResolvedPreview:
    item: Resolved
    before: Answer
    after: Answer

    def _good(self, answer: Answer) -> bool:
        verdict: Verdict = self.item.verdict
        if verdict.kind == MEASURES:
            return answer.answered and answer.rank(verdict.measures) == 1
        return not answer.answered  # out of scope: handled when not graded answer

    @property
    def fixed(self) -> bool:
        return self._good(self.after) and not self._good(self.before)

    @property
    def broken(self) -> bool:
        return self._good(self.before) and not self._good(self.after)


@dataclass(frozen=True, slots=True)
class Figures:
    """`index.evaluate`'s overall figures for one labelled set."""

    answerable: int
    out_of_scope: int
    hit1: float
    hit3: float
    out_of_scope_handled: float  # out-of-scope questions not graded answer
    false_declines: float  # answerable questions graded none

    @classmethod
    def of(cls, report: Report) -> Figures:
        figures = report.as_json()
        return cls(
            report.overall.count,
            report.out_of_scope.count,
            figures["hit@1"],
            figures["hit@3"],
            figures["out_of_scope_handled"],
            figures["false_declines"],
        )

    def as_json(self) -> dict[str, float | int]:
        return {
            "answerable": self.answerable,
            "out_of_scope": self.out_of_scope,
            "hit@1": round(self.hit1, 4),
            "hit@3": round(self.hit3, 4),
            "out_of_scope_handled": round(self.out_of_scope_handled, 4),
            "false_declines": round(self.false_declines, 4),
        }


# (label, attribute, True when higher is better)
MEASURED = (
    ("hit@1", "hit1", True),
    ("hit@3", "hit3", True),
    ("out-of-scope handled", "out_of_scope_handled", True),
    ("wrongly declined", "false_declines", False),
)


@dataclass(frozen=True, slots=True)
class QualityComparison:
    name: str
    before: Figures
    after: Figures

    @property
    def drops(self) -> list[str]:
        """Every figure that gets worse, e.g. "hit@1 0.910 → 0.897"."""
        worse = []
        for label, attribute, higher_is_better in MEASURED:
            old, new = getattr(self.before, attribute), getattr(self.after, attribute)
            if (new < old - 1e-9) if higher_is_better else (new > old + 1e-9):
                worse.append(f"{label} {old:.3f} → {new:.3f}")
        return worse


@dataclass(frozen=True, slots=True)
class ChangedAnswer:
    question: str
    asked: int  # how often among the recent questions
    before: Answer
    after: Answer


@dataclass(frozen=True, slots=True)
class Preview:
    resolved: tuple[ResolvedPreview, ...]
    quality: tuple[QualityComparison, ...]
    changed: tuple[ChangedAnswer, ...]
    recent: int  # distinct recent questions compared

    @property
    def warnings(self) -> list[str]:
        """Plain sentences for every way the draft makes answers worse (empty: nothing gets worse)."""
        found = [
            f"正答率が下がります（{comparison.name}）: {drop}"
            for comparison in self.quality
            for drop in comparison.drops
        ]
        found += [f"解決済みの質問の回答が悪くなります: {p.item.question}" for p in self.resolved if p.broken]
        return found


def compare_quality(
    before: PlanBundle, after: PlanBundle, sets: Mapping[str, Sequence[Labelled]]
) -> tuple[QualityComparison, ...]:
    """`index.evaluate` on each labelled set with both plans (sets without questions are left out)."""
    return tuple(
        QualityComparison(
            name, Figures.of(evaluate(before.index, questions)), Figures.of(evaluate(after.index, questions))
        )
        for name, questions in sets.items()
        if questions
    )


def _recent_questions(session: Session, limit: int) -> Counter[str]:
    query = (
        select(Exchange.question)
        .where(Exchange.id.not_in(spam_exchange_ids()))
        .order_by(Exchange.created_at.desc(), Exchange.id.desc())
        .limit(limit)
    )
    return Counter(session.scalars(query))


def preview(
    session: Session,
    before: PlanBundle,
    after: PlanBundle,
    *,
    shipped: Sequence[Labelled] | None = None,
    recent: int = RECENT_QUESTIONS,
) -> Preview:
    """The draft's effect: `before` is the active version, `after` the candidate plan."""
    items = tuple(
        ResolvedPreview(
            item, Answer.of(before.index.search(item.question)), Answer.of(after.index.search(item.question))
        )
        for item in resolved(session)
    )
    sets = {
        SHIPPED_SET: bundled_questions() if shipped is None else shipped,
        ANSWER_KEY_SET: answer_key(session),
    }
    changed: list[ChangedAnswer] = []
    asked = _recent_questions(session, recent)
    for question, count in asked.most_common():
        old, new = Answer.of(before.index.search(question)), Answer.of(after.index.search(question))
        if (old.grade, old.top) != (new.grade, new.top):
            changed.append(ChangedAnswer(question, count, old, new))
    return Preview(items, compare_quality(before, after, sets), tuple(changed), len(asked))
