"""Tune search weights and answer thresholds on labelled questions: `python -m tests.tune`.

Stage 1 grid-searches the ranking (field weights, thesaurus weight, BM25 k1/b) for
hit@1 and hit@3 with every question answered; stage 2 picks the evidence a measure
must hold for `answer`: below it, a question is graded `related`, so out-of-scope
questions are not answered while few answerable ones are merely related.
Copy the printed values into `index.search.Tuning`; report both sets' figures.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

from index import Reason, load_bundle
from index.evaluate import Labelled, read_questions
from index.search import SearchIndex, Tuning

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT / "tests" / "data" / "questions.jsonl", ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"]

RANKING_GRID = {
    "title": (2.0, 3.0, 4.0),
    "items": (1.5, 2.5),
    "measure": (0.5,),
    "goals": (0.25, 0.5, 1.0),
    "expansion": (0.6, 0.8, 1.0),
    "spread": (0.0, 0.5, 1.0),
    "k1": (0.8, 1.5),
}
ALWAYS_ANSWER = {"min_evidence": 0.0}


def ranking(index: SearchIndex, questions: list[Labelled]) -> tuple[float, float]:
    hit1 = hit3 = 0
    answerable = [q for q in questions if q.relevant]
    for question in answerable:
        ids = [hit.id for hit in index.search(question.q).hits]
        hit1 += bool(ids[:1]) and ids[0] in question.relevant
        hit3 += any(i in question.relevant for i in ids[:3])
    return hit1 / len(answerable), hit3 / len(answerable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Only stage 2, with the current ranking.")
    args = parser.parse_args()
    bundle = load_bundle()
    questions = [q for path in SETS if path.exists() for q in read_questions(path)]
    base = replace(Tuning(), **ALWAYS_ANSWER)
    best = base
    if not args.quick:
        results = []
        keys = list(RANKING_GRID)
        for values in itertools.product(*(RANKING_GRID[k] for k in keys)):
            tuning = replace(base, **dict(zip(keys, values, strict=True)))
            hit1, hit3 = ranking(SearchIndex(bundle.plan, bundle.thesaurus, tuning), questions)
            results.append((hit3 + hit1, hit1, hit3, tuning))
        results.sort(key=lambda r: -r[0])
        for _score, hit1, hit3, tuning in results[:5]:
            shown = {k: getattr(tuning, k) for k in keys}
            print(f"hit@1={hit1:.3f} hit@3={hit3:.3f} {shown}")
        best = results[0][3]
    index = SearchIndex(bundle.plan, bundle.thesaurus, best)
    evidence = []
    for question in questions:
        result = index.search(question.q)
        if result.reason is Reason.MATCHED:
            evidence.append((bool(question.relevant), result.evidence))
    answerable = sum(1 for q in questions if q.relevant)
    out_of_scope = len(questions) - answerable
    handled_elsewhere = out_of_scope - sum(1 for real, _e in evidence if not real)
    for threshold in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0):
        related = sum(1 for real, e in evidence if real and e < threshold) / answerable
        handled = (
            handled_elsewhere + sum(1 for real, e in evidence if not real and e < threshold)
        ) / out_of_scope
        print(
            f"min_evidence={threshold}: out-of-scope handled={handled:.3f} answerable related={related:.3f}"
        )


if __name__ == "__main__":
    main()
