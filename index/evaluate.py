"""Answer-quality figures over labelled questions: hit@1, hit@3, MRR@5, grades.

Ranks count over the measures a resident is shown (`answer` and `related` alike);
an answerable question graded `none` is a false decline (the resident saw nothing),
and an out-of-scope question is handled when it is not graded `answer`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .results import Grade
from .search import SearchIndex

__all__ = ["Labelled", "Report", "evaluate", "read_questions"]


@dataclass(frozen=True, slots=True)
class Labelled:
    q: str
    relevant: tuple[str, ...]
    kind: str


@dataclass
class Score:
    count: int = 0
    hit1: int = 0
    hit3: int = 0
    rr: float = 0.0
    declined: int = 0  # graded none
    related: int = 0  # graded related
    handled: int = 0  # out of scope and not graded answer

    def line(self, name: str) -> str:
        n = self.count or 1
        return (
            f"{name:<13} n={self.count:<4} hit@1={self.hit1 / n:.3f} hit@3={self.hit3 / n:.3f} "
            f"MRR@5={self.rr / n:.3f} none={self.declined / n:.3f} related={self.related / n:.3f}"
        )


@dataclass
class Report:
    by_kind: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    overall: Score = field(default_factory=Score)
    out_of_scope: Score = field(default_factory=Score)
    misses: list[str] = field(default_factory=list)

    def lines(self, *, verbose: bool = False) -> list[str]:
        out = [self.by_kind[kind].line(kind) for kind in sorted(self.by_kind)]
        if verbose:
            out += ["", "misses:", *self.misses, ""]
        oos, answerable = self.out_of_scope, self.overall
        out += [
            answerable.line("answerable"),
            _share("out-of-scope handled (not answer)", oos.handled, oos.count),
            _share("answerable wrongly declined (none)", answerable.declined, answerable.count),
            _share("answerable graded related", answerable.related, answerable.count),
        ]
        return out

    def as_json(self) -> dict[str, float]:
        n, o = self.overall.count or 1, self.out_of_scope.count or 1
        return {
            "hit@1": self.overall.hit1 / n,
            "hit@3": self.overall.hit3 / n,
            "mrr@5": self.overall.rr / n,
            "out_of_scope_handled": self.out_of_scope.handled / o,
            "false_declines": self.overall.declined / n,
            "answerable_related": self.overall.related / n,
        }


def _share(label: str, part: int, whole: int) -> str:
    return f"{label}: {part}/{whole} = {part / (whole or 1):.3f}"


def read_questions(path: Path) -> list[Labelled]:
    """Questions from a JSONL file of {"q", "relevant", "kind"} lines (blank lines skipped)."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            questions.append(
                Labelled(data["q"], tuple(data.get("relevant", ())), data.get("kind", "unknown"))
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a labelled question ({error})") from error
    return questions


def evaluate(index: SearchIndex, questions: Iterable[Labelled]) -> Report:
    report = Report()
    for question in questions:
        result = index.search(question.q, limit=5)
        ids = [hit.id for hit in result.hits]
        if not question.relevant:
            for score in (report.out_of_scope, report.by_kind[question.kind]):
                score.count += 1
                score.handled += not result.answered
                score.declined += result.grade is Grade.NONE
                score.related += result.grade is Grade.RELATED
            if result.answered:
                report.misses.append(f"ANSWERED {question.kind}: {question.q} -> {ids[:3]}")
            continue
        rank = next((i for i, hit_id in enumerate(ids, start=1) if hit_id in question.relevant), None)
        for score in (report.overall, report.by_kind[question.kind]):
            score.count += 1
            score.hit1 += rank == 1
            score.hit3 += rank is not None and rank <= 3
            score.rr += 1 / rank if rank else 0.0
            score.declined += result.grade is Grade.NONE
            score.related += result.grade is Grade.RELATED
        if rank != 1 or not result.answered:
            state = f"{result.grade}/{result.reason} rank={rank}"
            shown = [hit.id for hit in result.candidates[:3]]
            report.misses.append(
                f"{state} {question.kind}: {question.q} want={list(question.relevant)} got={shown}"
            )
    return report
