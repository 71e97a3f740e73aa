"""BM25 search over the plan's middle measures, and the decision to answer.

One chunk per middle measure, indexed in weighted fields: what the measure itself
says (title, items, keywords) counts more than context it shares with its
siblings (its major measure's title and goals, its chapter's title). The thesaurus
widens a question with the plan's own words before scoring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rank_bm25 import BM25Okapi

from .errors import PlanDataError, Problem
from .models import Chapter, Located, Measure, Plan
from .plan import THESAURUS_FILE
from .thesaurus import Thesaurus
from .tokenizer import Reading, analyse, normalize, read, terms

__all__ = ["Field", "FieldedBM25", "Hit", "LuceneBM25", "SearchIndex", "SearchResult", "Tuning"]


class LuceneBM25(BM25Okapi):
    """BM25 with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)).

    rank-bm25's Okapi idf goes negative for terms in more than half of the chunks
    and is floored by an epsilon, so on 70 chunks a term in 50 of them can
    outweigh a rarer one. Lucene's form is positive and falls as n grows.
    """

    def _calc_idf(self, nd: Mapping[str, int]) -> None:
        for word, doc_count in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - doc_count + 0.5) / (doc_count + 0.5))


class FieldedBM25:
    """BM25F over a chunk's weighted fields, with rank-bm25 holding the statistics.

    A term's frequencies in all fields are combined (weighted, length-normalised per
    field) *before* saturation, so a word repeated in a measure's title and items
    counts once, strongly, instead of once per field. Scoring a question touches only
    the postings of its terms, which keeps a query well under a millisecond.
    """

    def __init__(
        self, fields: Mapping[str, list[list[str]]], weights: Mapping[str, float], *, k1: float, b: float
    ):
        size = len(next(iter(fields.values())))
        self.size, self.k1 = size, k1
        chunks = [[term for corpus in fields.values() for term in corpus[i]] for i in range(size)]
        # idf counts chunks, not field occurrences: a term in one measure is rare however often it repeats.
        self.chunk_bm25 = LuceneBM25(chunks)
        accumulated: dict[str, dict[int, float]] = {}
        for name, corpus in fields.items():
            if not any(corpus):  # a field nobody filled in (keywords, today) has no average length
                continue
            field_bm25 = LuceneBM25(corpus)
            for i, (freqs, length) in enumerate(zip(field_bm25.doc_freqs, field_bm25.doc_len, strict=True)):
                norm = 1 - b + b * length / field_bm25.avgdl
                for term, tf in freqs.items():
                    postings = accumulated.setdefault(term, {})
                    postings[i] = postings.get(i, 0.0) + weights[name] * tf / norm
        self._postings = {
            term: (np.fromiter(docs.keys(), int), np.fromiter(docs.values(), float))
            for term, docs in accumulated.items()
        }

    def idf(self, term: str) -> float:
        return self.chunk_bm25.idf.get(term, 0.0)

    def scores(self, query: Mapping[str, float]) -> np.ndarray:
        """Scores of every chunk for terms with per-term weights."""
        scores = np.zeros(self.size)
        for term, weight in query.items():
            postings = self._postings.get(term)
            if postings is None:
                continue
            docs, tf = postings
            scores[docs] += weight * self.idf(term) * tf * (self.k1 + 1) / (tf + self.k1)
        return scores


@dataclass(frozen=True, slots=True)
class Tuning:
    """Field weights and answer thresholds, tuned on labelled questions (`python -m tests.tune`)."""

    title: float = 3.0
    items: float = 1.5
    keywords: float = 1.5
    measure: float = 0.5
    goals: float = 0.5
    chapter: float = 0.5
    expansion: float = 1.0
    spread: float = 0.5  # a plan phrase of n terms gives each expansion / n ** spread
    k1: float = 1.5
    b: float = 0.75
    # Answer only when the best measure holds this much of the question: the summed idf
    # of its matched terms. One specific plan word (idf ≈ 3–4) is enough; a lone word
    # that half the plan uses (idf < 1) is not.
    min_evidence: float = 1.5


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
    # How much of the question the best measure holds (see SearchIndex._evidence).
    evidence: float = 0.0

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
# Requests the plan can never answer, whatever words they share with it: shopping and
# dining advice, recommendations, general-knowledge trivia, and asking the bot to
# write or correct a text.
_COMMERCIAL = frozenset(
    "メーカー ブランド 保険会社 通販 美味しい グルメ レストラン 居酒屋 ラーメン 焼き肉屋 添削".split()
)
_TEXT_OBJECTS = frozenset(
    "文章 文 案内文 挨拶文 例文 一言 自己紹介 メール 手紙 スピーチ 作文 原稿 キャッチコピー".split()
)
_COMPOSE = frozenset("作る 書く 考える 直す 訳す".split())
_ADVICE = re.compile(r"おすすめ|お勧め|オススメ|何がいい|どれがいい|(日本|世界)(で一番|一)")
_CHAPTER_REF = re.compile(r"第?\s*([1-9])\s*章|chapter\s*([1-9])", re.IGNORECASE)
_HOME_CITY = "朝霞"


@dataclass(frozen=True, slots=True)
class _Synonym:
    """One resident word of the thesaurus, compiled: its terms and its written form → plan terms.

    A word matches when its terms all occur in the question (so 盗まれた finds 盗まれる)
    or when it is written there as is (so 町内会 matches even where the tokenizer reads
    町内会って as 町内 + 会う). Latin words match by terms only: "bus" is not in "business".
    A word whose tokenization loses content (居場所 → 場所) matches only as written.
    """

    terms: frozenset[str]
    literal: str | None
    lossless: bool
    plan_terms: frozenset[str]

    def matches(self, question_terms: frozenset[str], question_text: str) -> bool:
        if self.literal is not None and _written_in(self.literal, question_text):
            return True
        return self.lossless and bool(self.terms) and self.terms <= question_terms


def _katakana(char: str) -> bool:
    return "\u30a0" <= char <= "\u30ff"


def _written_in(word: str, text: str) -> bool:
    """`word` occurs in `text` and is not the start or end of a longer katakana word
    (パート is not in パートナー, バス is not in バスケ; 作品展 is in 作品展示)."""
    start = text.find(word)
    while start != -1:
        end = start + len(word)
        glued_before = start > 0 and _katakana(word[0]) and _katakana(text[start - 1])
        glued_after = end < len(text) and _katakana(word[-1]) and _katakana(text[end])
        if not (glued_before or glued_after):
            return True
        start = text.find(word, start + 1)
    return False


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
        weights = {name: getattr(self.tuning, name) for name in fields}
        self.bm25 = FieldedBM25(fields, weights, k1=self.tuning.k1, b=self.tuning.b)
        self._chunk_terms = [frozenset(doc) for doc in self.bm25.chunk_bm25.doc_freqs]
        self.vocabulary = frozenset(self.bm25.chunk_bm25.idf)
        self._expansions = self._compile_thesaurus(thesaurus or Thesaurus())
        self._field_titles = self._compile_fields()

    def _compile_thesaurus(self, thesaurus: Thesaurus) -> list[_Synonym]:
        """Resident words ready to match; PlanDataError for entries that can never work."""
        problems: list[Problem] = []
        compiled: list[_Synonym] = []
        for group in thesaurus.groups:
            plan_terms = frozenset(t for t in terms(group.plan_word) if t in self.vocabulary)
            if not plan_terms:
                problems.append(
                    Problem(
                        THESAURUS_FILE, f"'{group.plan_word}'", "this plan word does not occur in the plan"
                    )
                )
                continue
            for word in group.resident_words:
                analysed, lossless = analyse(word)
                word_terms = frozenset(analysed)
                literal = None if word.isascii() else normalize(word)
                if not word_terms and (literal is None or lossless):
                    problems.append(
                        Problem(
                            THESAURUS_FILE,
                            f"'{group.plan_word}'",
                            f"'{word}' has no searchable word (only particles or request phrasing)",
                        )
                    )
                    continue
                compiled.append(_Synonym(word_terms, literal, lossless, plan_terms))
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

    def expand(self, question_terms: Iterable[str], text: str) -> dict[str, float]:
        """Question terms with weight 1, plus the plan words the thesaurus maps them to.

        A plan phrase of n terms shares its weight among them, so one resident word
        counts about as much as one question word, however long its plan phrase.
        """
        weights = dict.fromkeys(question_terms, 1.0)
        present = frozenset(weights)
        for synonym in self._expansions:
            if synonym.matches(present, text):
                share = self.tuning.expansion / len(synonym.plan_terms) ** self.tuning.spread
                for term in synonym.plan_terms:
                    weights[term] = max(weights.get(term, 0.0), share)
        return weights

    def _evidence(self, query: Mapping[str, float], chunk: int) -> float:
        """The weighted idf of query terms the chunk contains: how much of the question it answers."""
        found = self._chunk_terms[chunk]
        return sum(self.bm25.idf(t) * w for t, w in query.items() if t in found)

    def _field(self, reading: Reading) -> Field | None:
        match = _CHAPTER_REF.search(reading.text)
        if match:
            number = int(match.group(1) or match.group(2))
            try:
                return Field(self.plan.chapter(number))
            except KeyError:
                return None
        topic = {t for t in reading.terms if t not in _FIELD_WORDS}
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
        reading = read(question)
        field = self._field(reading)
        if field is not None:
            return self._field_result(question, reading, field, limit)
        if not reading.terms:
            return SearchResult(question, False, (), "no_terms")
        present = set(reading.terms)
        asks_advice = _ADVICE.search(reading.text) is not None
        if asks_advice or present & _COMMERCIAL or (present & _TEXT_OBJECTS and present & _COMPOSE):
            return SearchResult(question, False, (), "off_topic")
        if reading.places and _HOME_CITY not in reading.places and _HOME_CITY not in reading.text:
            return SearchResult(question, False, (), "other_city")
        query = self.expand(reading.terms, reading.text)
        scores = self.bm25.scores(query)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:limit]
        hits = tuple(Hit(self.chunks[i], float(scores[i])) for i in order)
        if not hits:
            return SearchResult(question, False, (), "no_match")
        evidence = self._evidence(query, order[0])
        if evidence < self.tuning.min_evidence:
            return SearchResult(question, False, hits, "weak_evidence", None, evidence)
        return SearchResult(question, True, hits, "matched", None, evidence)

    def _field_result(self, question: str, reading: Reading, field: Field, limit: int) -> SearchResult:
        members = [
            i
            for i, c in enumerate(self.chunks)
            if c.chapter is field.chapter and (field.measure is None or c.measure is field.measure)
        ]
        scores = self.bm25.scores(self.expand(reading.terms, reading.text))
        members.sort(key=lambda i: -scores[i])
        hits = tuple(Hit(self.chunks[i], float(scores[i])) for i in members[:limit])
        return SearchResult(question, True, hits, "field", field)
