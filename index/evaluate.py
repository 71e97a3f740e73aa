"""Answer-quality figures over labelled questions: hit@1, hit@3, MRR@5, declines.

A declined answerable question counts as a miss: the resident saw nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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
    declined: int = 0

    def line(self, name: str) -> str:
        n = self.count or 1
        return (
            f"{name:<13} n={self.count:<4} hit@1={self.hit1 / n:.3f} hit@3={self.hit3 / n:.3f} "
            f"MRR@5={self.rr / n:.3f} declined={self.declined / n:.3f}"
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
        oos = self.out_of_scope
        out += [
            self.overall.line("answerable"),
            f"out-of-scope declined: {oos.declined}/{oos.count} = {oos.declined / (oos.count or 1):.3f}",
            f"answerable wrongly declined: {self.overall.declined}/{self.overall.count}"
            f" = {self.overall.declined / (self.overall.count or 1):.3f}",
        ]
        return out

    def as_json(self) -> dict[str, float]:
        n, o = self.overall.count or 1, self.out_of_scope.count or 1
        return {
            "hit@1": self.overall.hit1 / n,
            "hit@3": self.overall.hit3 / n,
            "mrr@5": self.overall.rr / n,
            "out_of_scope_declined": self.out_of_scope.declined / o,
            "false_declines": self.overall.declined / n,
        }


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
        ids = [hit.id for hit in result.hits] if result.answered else []
        if not question.relevant:
            report.out_of_scope.count += 1
            report.out_of_scope.declined += not result.answered
            report.by_kind[question.kind].count += 1
            report.by_kind[question.kind].declined += not result.answered
            if result.answered:
                report.misses.append(f"ANSWERED {question.kind}: {question.q} -> {ids[:3]}")
            continue
        rank = next((i for i, hit_id in enumerate(ids, start=1) if hit_id in question.relevant), None)
        for score in (report.overall, report.by_kind[question.kind]):
            score.count += 1
            score.hit1 += rank == 1
            score.hit3 += rank is not None and rank <= 3
            score.rr += 1 / rank if rank else 0.0
            score.declined += not result.answered
        if rank != 1:
            state = "DECLINED" if not result.answered else f"rank={rank}"
            shown = [hit.id for hit in result.hits[:3]]
            report.misses.append(
                f"{state} {question.kind}: {question.q} want={list(question.relevant)} got={shown}"
            )
    return report
