"""BM25 search over the plan's middle measures, and the decision to answer.

One chunk per middle measure, indexed in weighted fields: what the measure itself
says (title, items, keywords) counts more than context it shares with its
siblings (its major measure's title and goals, its chapter's title). The thesaurus
widens a question with the plan's own words before scoring.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rank_bm25 import BM25Okapi

from .errors import PlanDataError, Problem
from .models import Chapter, Located, Measure, Plan
from .plan import THESAURUS_FILE
from .thesaurus import Thesaurus
from .tokenizer import iter_place_names, normalize, terms

__all__ = ["Field", "Hit", "LuceneBM25", "SearchIndex", "SearchResult", "Tuning"]


class LuceneBM25(BM25Okapi):
    """BM25 with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)).

    rank-bm25's Okapi idf goes negative for terms in more than half of the chunks
    and is floored by an epsilon, so on 70 chunks a term in 50 of them can
    outweigh a rarer one. Lucene's form is positive and falls as n grows.
    """

    def _calc_idf(self, nd: Mapping[str, int]) -> None:  # type: ignore[override]
        for word, doc_count in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - doc_count + 0.5) / (doc_count + 0.5))

    def weighted_scores(self, query: Mapping[str, float]) -> np.ndarray:
        """Scores of every chunk for terms with per-term weights."""
        scores = np.zeros(self.corpus_size)
        doc_len = np.asarray(self.doc_len)
        norm = self.k1 * (1 - self.b + self.b * doc_len / self.avgdl)
        for term, weight in query.items():
            idf = self.idf.get(term)
            if not idf:
                continue
            freq = np.fromiter((doc.get(term, 0) for doc in self.doc_freqs), float, self.corpus_size)
            scores += weight * idf * freq * (self.k1 + 1) / (freq + norm)
        return scores


@dataclass(frozen=True, slots=True)
class Tuning:
    """Field weights and answer thresholds, tuned on labelled questions (README: Search)."""

    title: float = 3.0
    items: float = 2.0
    keywords: float = 2.0
    measure: float = 1.0
    goals: float = 0.5
    chapter: float = 0.5
    expansion: float = 0.7
    # Answer only with this much evidence: the summed idf of question terms found
    # in the best chunk (≈ one specific word, or two common ones) ...
    min_evidence: float = 2.0
    # ... and a best score this share of the score the same terms could reach.
    min_share: float = 0.0


class Hit(NamedTuple):
    """A middle measure that answers a question, with its score."""

    located: Located
    score: float

    @property
    def id(self) -> str:
        return self.located.middle.id

    @property
    def title(self) -> str:
        return self.located.middle.title

    @property
    def citation(self) -> str:
        return self.located.citation

    @property
    def chapter(self) -> int:
        return self.located.chapter.number


@dataclass(frozen=True, slots=True)
class Field:
    """A whole field a question asks about: a chapter, or one major measure in it."""

    chapter: Chapter
    measure: Measure | None = None

    @property
    def label(self) -> str:
        if self.measure is None:
            return self.chapter.label
        return f"{self.chapter.label} › {self.measure.number} {self.measure.title}"


@dataclass(frozen=True, slots=True)
class SearchResult:
    question: str
    answered: bool
    hits: tuple[Hit, ...]
    reason: str
    field: Field | None = None

    def as_json(self) -> dict[str, object]:
        """The `ask --json` contract: question, answered, hits (id, score, title, citation, chapter)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "hits": [
                {
                    "id": hit.id,
                    "score": round(hit.score, 4),
                    "title": hit.title,
                    "citation": hit.citation,
                    "chapter": hit.chapter,
                }
                for hit in self.hits
            ],
        }


# Words that ask for a whole field rather than a topic inside it.
_FIELD_WORDS = frozenset(
    "計画 施策 方針 政策 取り組み 取組 取り組む 分野 全体 纏める 一覧 全部 概要 内容 目標 章 様子 "
    "plan policy chapter field overview".split()
)
_CHAPTER_REF = re.compile(r"第?\s*([1-9])\s*章|chapter\s*([1-9])", re.IGNORECASE)
_HOME_CITY = "朝霞"


class SearchIndex:
    """The searchable plan: build once per plan version, then query from any thread."""

    def __init__(self, plan: Plan, thesaurus: Thesaurus | None = None, tuning: Tuning | None = None) -> None:
        self.plan = plan
        self.tuning = tuning or Tuning()
        self.chunks: tuple[Located, ...] = tuple(plan.located())
        fields = {
            "title": [terms(c.middle.title) for c in self.chunks],
            "items": [terms(" ".join((*c.middle.items, c.middle.description or ""))) for c in self.chunks],
            "keywords": [terms(" ".join(c.middle.keywords + c.measure.keywords)) for c in self.chunks],
            "measure": [terms(f"{c.measure.title} {c.measure.description or ''}") for c in self.chunks],
            "goals": [terms(" ".join(c.measure.goals)) for c in self.chunks],
            "chapter": [terms(f"{c.chapter.title} {' '.join(c.chapter.keywords)}") for c in self.chunks],
        }
        # A field nobody filled in (keywords, today) has no average length to score against.
        self._fields = {
            name: (LuceneBM25(corpus), getattr(self.tuning, name))
            for name, corpus in fields.items()
            if any(corpus)
        }
        self.vocabulary = frozenset(term for corpus in fields.values() for doc in corpus for term in doc)
        self._chunk_terms = [
            frozenset(t for corpus in fields.values() for t in corpus[i]) for i in range(len(self.chunks))
        ]
        self._idf = {
            term: max(bm25.idf.get(term, 0.0) for bm25, _ in self._fields.values())
            for term in self.vocabulary
        }
        self._expansions = self._compile_thesaurus(thesaurus or Thesaurus())
        self._field_titles = self._compile_fields()

    def _compile_thesaurus(self, thesaurus: Thesaurus) -> list[tuple[frozenset[str], tuple[str, ...]]]:
        """(resident-word terms, plan terms) pairs; PlanDataError for entries that can never work."""
        problems: list[Problem] = []
        compiled: list[tuple[frozenset[str], tuple[str, ...]]] = []
        for group in thesaurus.groups:
            plan_terms = tuple(t for t in terms(group.plan_word) if t in self.vocabulary)
            if not plan_terms:
                problems.append(
                    Problem(
                        THESAURUS_FILE, f"'{group.plan_word}'", "this plan word does not occur in the plan"
                    )
                )
                continue
            for word in group.resident_words:
                word_terms = frozenset(terms(word))
                if not word_terms:
                    problems.append(
                        Problem(
                            THESAURUS_FILE,
                            f"'{group.plan_word}'",
                            f"'{word}' has no searchable word (only particles or request phrasing)",
                        )
                    )
                    continue
                compiled.append((word_terms, plan_terms))
        if problems:
            raise PlanDataError(problems)
        return compiled

    def _compile_fields(self) -> list[tuple[frozenset[str], Field]]:
        fields: list[tuple[frozenset[str], Field]] = []
        for chapter in self.plan.chapters:
            fields.append((frozenset(terms(chapter.title)), Field(chapter)))
            for measure in chapter.measures:
                fields.append((frozenset(terms(measure.title)), Field(chapter, measure)))
        return fields

    def expand(self, question_terms: Iterable[str]) -> dict[str, float]:
        """Question terms with weight 1, plus the plan words the thesaurus maps them to."""
        weights: dict[str, float] = {term: 1.0 for term in question_terms}
        present = frozenset(weights)
        for word_terms, plan_terms in self._expansions:
            if word_terms <= present:
                for term in plan_terms:
                    weights[term] = max(weights.get(term, 0.0), self.tuning.expansion)
        return weights

    def _scores(self, query: Mapping[str, float]) -> np.ndarray:
        total = np.zeros(len(self.chunks))
        for bm25, weight in self._fields.values():
            total += weight * bm25.weighted_scores(query)
        return total

    def _evidence(self, query: Mapping[str, float], chunk: int) -> float:
        """Summed idf of the query's terms that the chunk contains: how much of the question it answers."""
        found = self._chunk_terms[chunk]
        return sum(self._idf[t] * w for t, w in query.items() if t in found)

    def _field(self, question: str, query_terms: list[str]) -> Field | None:
        match = _CHAPTER_REF.search(normalize(question))
        if match:
            number = int(match.group(1) or match.group(2))
            try:
                return Field(self.plan.chapter(number))
            except KeyError:
                return None
        topic = {t for t in query_terms if t not in _FIELD_WORDS}
        if not topic:
            return None
        best: tuple[float, Field] | None = None
        for title_terms, field in self._field_titles:
            if topic <= title_terms:
                coverage = len(topic) / len(title_terms)
                if best is None or coverage > best[0]:
                    best = (coverage, field)
        return best[1] if best else None

    def search(self, question: str, limit: int = 5) -> SearchResult:
        """The measures that answer `question`, best first, and whether to answer at all."""
        question_terms = terms(question)
        field = self._field(question, question_terms)
        if field is not None:
            return self._field_result(question, question_terms, field, limit)
        if not question_terms:
            return SearchResult(question, False, (), "no_terms")
        places = {place for place, _ in iter_place_names(question)}
        if places and _HOME_CITY not in places and not any(_HOME_CITY in t for t in question_terms):
            return SearchResult(question, False, (), "other_city")
        query = self.expand(question_terms)
        scores = self._scores(query)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:limit]
        hits = tuple(Hit(self.chunks[i], float(scores[i])) for i in order)
        if not hits:
            return SearchResult(question, False, (), "no_match")
        if self._evidence(query, order[0]) < self.tuning.min_evidence:
            return SearchResult(question, False, hits, "weak_evidence")
        return SearchResult(question, True, hits, "matched")

    def _field_result(
        self, question: str, question_terms: list[str], field: Field, limit: int
    ) -> SearchResult:
        members = [
            i
            for i, c in enumerate(self.chunks)
            if c.chapter is field.chapter and (field.measure is None or c.measure is field.measure)
        ]
        scores = self._scores(self.expand(question_terms)) if question_terms else np.zeros(len(self.chunks))
        members.sort(key=lambda i: -scores[i])
        hits = tuple(Hit(self.chunks[i], float(scores[i])) for i in members[:limit])
        return SearchResult(question, True, hits, "field", field)

    def terms_in(self, question: str) -> Counter[str]:
        """The question's index terms, for staff tools that count words."""
        return Counter(terms(question))
