"""BM25 search over the plan's middle measures, and the decision to answer.

One chunk per middle measure, indexed in weighted fields: what the measure itself
says (title, items, keywords) counts more than context it shares with its
siblings (its major measure's title and goals, its chapter's title). The thesaurus
widens a question with the plan's own words before scoring.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from rank_bm25 import BM25Okapi

from .errors import PlanDataError, Problem
from .grading import OTHER_BODY_CUES, information, procedure_asked
from .kana import KanaReadings
from .models import Chapter, Located, Measure, Plan
from .plan import THESAURUS_FILE
from .thesaurus import Thesaurus
from .tokenizer import Reading, Token, analyse, normalize, read, terms, tokenize

__all__ = [
    "Field",
    "FieldedBM25",
    "Grade",
    "Hit",
    "LuceneBM25",
    "Match",
    "Reason",
    "SearchIndex",
    "SearchResult",
    "Tuning",
]


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
    information: float = 2.0  # ranking weighs a term by its information to this power
    # A question asking for a procedure, date, place or fee is answered only when the
    # measure holds this much of it: otherwise its measures are shown as related.
    procedure_evidence: float = 10


class Match(NamedTuple):
    """Why a measure matched: a word of the question and the plan word it found.

    Both are written as their authors wrote them (the question's word, the plan's
    word), so a card can say why it was chosen without inventing anything; the
    search's internal keys (lemmas) are never shown.
    """

    question_word: str
    plan_word: str


class Hit(NamedTuple):
    """A middle measure found for a question, its score, and the words that matched."""

    located: Located
    score: float
    matched: tuple[Match, ...] = ()

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


class Grade(StrEnum):
    """How far the plan answers a question (stored and printed as its value)."""

    ANSWER = "answer"
    """The evidence is specific to the best measure: its card is the answer."""
    RELATED = "related"
    """The best measures touch the topic, but the question asks for something the plan
    does not hold (a procedure, date, place or fee; another organisation's service) or
    the evidence is weak: they are shown as related measures, labelled so."""
    NONE = "none"
    """Nothing from the plan is shown; `SearchResult.reason` says why."""


class Reason(StrEnum):
    """Why a question got its grade. Stored in the answer log as its value, so the
    values of existing members never change."""

    MATCHED = "matched"
    """answer: the best measure holds specific words of the question."""
    FIELD = "field"
    """answer: the question names a whole chapter or major measure."""
    WEAK_EVIDENCE = "weak_evidence"
    """related: the best measures share only words that say little about a topic."""
    PROCEDURE = "procedure"
    """related: the question asks for a procedure, date, place, fee, phone number or
    application the plan does not list (the plan says what the city aims at, not how
    to apply)."""
    OTHER_BODY = "other_body"
    """related: the question is about another organisation's service (the national or
    prefectural government, a railway or another company), which the plan does not run."""
    NO_MATCH = "no_match"
    """none: no measure shares a word with the question."""
    NO_TERMS = "no_terms"
    """none: nothing readable (greetings alone, emoji, particles)."""
    OFF_TOPIC = "off_topic"
    """none: a request the plan can never answer (shopping advice, writing a text, trivia)."""
    OTHER_CITY = "other_city"
    """none: the question is about another municipality."""
    SMALL_TALK = "small_talk"
    """none: greetings and chat, detected by the conversation layer before searching."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """What the search decided for one question.

    `hits` are what the resident is shown (empty for `Grade.NONE`); `candidates` are
    the measures the search ranked whatever the grade, so the answer log can keep
    what a declined or related question nearly matched.
    """

    question: str
    grade: Grade
    reason: Reason
    hits: tuple[Hit, ...] = ()
    candidates: tuple[Hit, ...] = ()
    field: Field | None = None
    # How much of the question the best measure holds (see SearchIndex._evidence).
    evidence: float = 0.0
    # The question asks for a procedure, date, place, fee, phone number or application
    # that the best measure does not mention.
    asks_procedure: bool = False

    @property
    def answered(self) -> bool:
        return self.grade is Grade.ANSWER

    def as_json(self) -> dict[str, object]:
        """The `ask --json` contract: question, answered, grade, reason, hits (id, score,
        title, citation, chapter); `answered` is true only for `answer`."""
        return {
            "question": self.question,
            "answered": self.answered,
            "grade": self.grade.value,
            "reason": self.reason.value,
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

    word: str
    terms: frozenset[str]
    literal: str | None
    lossless: bool
    plan_word: str
    plan_terms: frozenset[str]
    kana: str
    spellings: tuple[tuple[str, str], ...]  # (kana, written) of its words


def _katakana(char: str) -> bool:
    return "\u30a0" <= char <= "\u30ff"


def _written_at(word: str, text: str, start: int) -> bool:
    """`word` is written at `start` and is not the start or end of a longer katakana word
    (パート is not in パートナー, バス is not in バスケ; 作品展 is in 作品展示)."""
    if not text.startswith(word, start):
        return False
    end = start + len(word)
    glued_before = start > 0 and _katakana(word[0]) and _katakana(text[start - 1])
    glued_after = end < len(text) and _katakana(word[-1]) and _katakana(text[end])
    return not (glued_before or glued_after)


class _SynonymIndex:
    """The thesaurus looked up by term and by written form, so matching a question costs
    the same however many resident words staff add.

    A word with terms is filed under one of them and checked only when the question
    has that term; a written form is filed under its first two characters and checked
    only where the question has them.
    """

    def __init__(self, synonyms: Iterable[_Synonym]) -> None:
        self.by_term: dict[str, list[_Synonym]] = {}
        self.by_prefix: dict[str, list[_Synonym]] = {}
        for synonym in synonyms:
            if synonym.lossless and synonym.terms:
                self.by_term.setdefault(min(synonym.terms), []).append(synonym)
            if synonym.literal is not None:
                self.by_prefix.setdefault(synonym.literal[:2], []).append(synonym)

    def matches(self, present: frozenset[str], text: str) -> dict[_Synonym, str]:
        """The resident words in a question, each with the words that matched it as written."""
        found: dict[_Synonym, str] = {}
        for start in range(len(text)):
            for prefix in {text[start : start + 2], text[start]}:
                for synonym in self.by_prefix.get(prefix, ()):
                    literal = synonym.literal
                    if literal is not None and synonym not in found and _written_at(literal, text, start):
                        found[synonym] = literal
        for term in present:
            for synonym in self.by_term.get(term, ()):
                if synonym not in found and synonym.terms <= present:
                    found[synonym] = ""
        return found


def _subsumed(match: Match, matches: Iterable[Match]) -> bool:
    """Another match of the same question word names a longer plan word holding this one
    (介護保険 says all that 介護 and 保険 would)."""
    return any(
        other.question_word == match.question_word
        and other.plan_word != match.plan_word
        and match.plan_word in other.plan_word
        for other in matches
    )


class _Query(NamedTuple):
    """A question's weighted terms, and for each term the words that brought it in:
    (the question's word as written, the plan word it stands for, or "" for the term itself)."""

    weights: dict[str, float]
    origins: dict[str, list[tuple[str, str]]]


class SearchIndex:
    """The searchable plan: build once per plan version, then query from any thread."""

    def __init__(self, plan: Plan, thesaurus: Thesaurus | None = None, tuning: Tuning | None = None) -> None:
        self.plan = plan
        self.tuning = tuning or Tuning()
        self.chunks: tuple[Located, ...] = tuple(plan.located())
        texts = {
            "title": [c.middle.title for c in self.chunks],
            "items": [" ".join((*c.middle.items, c.middle.description or "")) for c in self.chunks],
            "keywords": [" ".join(c.middle.keywords + c.measure.keywords) for c in self.chunks],
            "measure": [f"{c.measure.title} {c.measure.description or ''}" for c in self.chunks],
            "goals": [" ".join(c.measure.goals) for c in self.chunks],
            "chapter": [f"{c.chapter.title} {' '.join(c.chapter.keywords)}" for c in self.chunks],
        }
        tokens = {name: [tokenize(text) for text in column] for name, column in texts.items()}
        fields = {name: [[t.key for t in doc] for doc in column] for name, column in tokens.items()}
        weights = {name: getattr(self.tuning, name) for name in fields}
        self.bm25 = FieldedBM25(fields, weights, k1=self.tuning.k1, b=self.tuning.b)
        self._chunk_terms = [frozenset(doc) for doc in self.bm25.chunk_bm25.doc_freqs]
        self._texts = [
            normalize(" ".join(column[i] for column in texts.values())) for i in range(len(self.chunks))
        ]
        # How each chunk writes each of its terms, so a match names the plan's own word.
        self._written: list[dict[str, str]] = [{} for _ in self.chunks]
        for column in tokens.values():
            for written, doc in zip(self._written, column, strict=True):
                for token in doc:
                    written.setdefault(token.key, token.surface)
        self.vocabulary = frozenset(self.bm25.chunk_bm25.idf)
        synonyms = self._compile_thesaurus(thesaurus or Thesaurus())
        self._synonyms = _SynonymIndex(synonyms)
        self._kana = KanaReadings(
            itertools.chain(
                ((t.kana, t.surface) for column in tokens.values() for doc in column for t in doc),
                ((s.kana, s.literal) for s in synonyms if s.literal is not None),
                (pair for s in synonyms for pair in s.spellings),
            ),
            self.vocabulary.union(*(s.terms for s in synonyms)),
        )
        self._information = information(
            self._chunk_terms,
            [f"{c.chapter.number}-{c.measure.number}" for c in self.chunks],
            ((s.terms, s.plan_terms) for s in synonyms),
        )
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
                analysed, lossless, kana, spellings = analyse(word)
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
                compiled.append(
                    _Synonym(
                        word, word_terms, literal, lossless, group.plan_word, plan_terms, kana, spellings
                    )
                )
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
        """Question terms with weight 1, plus the plan words the thesaurus maps them to."""
        return self._query([Token(term, term, "") for term in question_terms], text).weights

    def _query(self, tokens: Iterable[Token], text: str, spelled: Iterable[tuple[str, str]] = ()) -> _Query:
        """The question's terms with weight 1, plus the plan words the thesaurus maps them to.

        A plan phrase of n terms shares its weight among them, so one resident word
        counts about as much as one question word, however long its plan phrase.
        Each term remembers the question's words that brought it in, as the resident
        typed them (kana that was respelled is given back as typed).
        """
        typed = dict(spelled)

        def as_typed(word: str) -> str:
            return next((kana for written, kana in typed.items() if word in written), word)

        weights: dict[str, float] = {}
        origins: dict[str, list[tuple[str, str]]] = {}
        written: dict[str, str] = {}
        for token in tokens:
            weights[token.key] = 1.0
            written.setdefault(token.key, token.surface)
            origins.setdefault(token.key, [(as_typed(token.surface), "")])
        for synonym, literal in self._synonyms.matches(frozenset(weights), text).items():
            question_word = (
                as_typed(literal)
                if literal
                else " ".join(as_typed(written[t]) for t in sorted(synonym.terms))
            )
            share = self.tuning.expansion / len(synonym.plan_terms) ** self.tuning.spread
            for term in synonym.plan_terms:
                weights[term] = max(weights.get(term, 0.0), share)
                origins.setdefault(term, []).append((question_word, synonym.plan_word))
        return _Query(weights, origins)

    def _matched(self, query: _Query, chunk: int) -> tuple[Match, ...]:
        """The question's words that found this chunk, each with the plan's word as the
        chunk writes it (a thesaurus plan phrase when the chunk writes it whole)."""
        written, text = self._written[chunk], self._texts[chunk]
        found: dict[Match, None] = {}
        for term in query.weights:
            if term in written:
                for question_word, plan_phrase in query.origins.get(term, ()):
                    plan_word = plan_phrase if plan_phrase and plan_phrase in text else written[term]
                    found[Match(question_word, plan_word)] = None
        # 介護保険 says all that 介護 and 保険 would.
        return tuple(
            m
            for m in found
            if not any(
                o.question_word == m.question_word and m.plan_word in o.plan_word != m.plan_word
                for o in found
            )
        )

    def information(self, term: str) -> float:
        """How much a term says about a question's topic (see index.grading)."""
        return self._information.get(term, 1.0)

    def _evidence(self, query: Mapping[str, float], chunk: int) -> float:
        """How much of the question the chunk answers: the idf of the query terms it
        contains, weighted by their query weight and their information."""
        found = self._chunk_terms[chunk]
        return sum(self.bm25.idf(t) * w * self.information(t) for t, w in query.items() if t in found)

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
        """The measures found for `question`, best first, and how far they answer it."""
        reading = read(question, self._kana.respell)
        field = self._field(reading)
        if field is not None:
            return self._field_result(question, reading, field, limit)
        if not reading.terms:
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.NO_TERMS)
        present = set(reading.terms)
        asks_advice = _ADVICE.search(reading.text) is not None
        if asks_advice or present & _COMMERCIAL or (present & _TEXT_OBJECTS and present & _COMPOSE):
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.OFF_TOPIC)
        if reading.places and _HOME_CITY not in reading.places and _HOME_CITY not in reading.text:
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.OTHER_CITY)
        query = self._query(reading.tokens, reading.text, reading.spelled)
        scores = self.bm25.scores(query.weights)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:limit]
        if not order:
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.NO_MATCH)
        found = tuple(Hit(self.chunks[i], float(scores[i]), self._matched(query, i)) for i in order)
        evidence = self._evidence(query.weights, order[0])
        best_terms = self._chunk_terms[order[0]]
        asks_procedure = bool(procedure_asked(reading.lemmas, reading.text) - best_terms)
        other_body = bool(OTHER_BODY_CUES.intersection(reading.lemmas, reading.terms) - best_terms)
        if evidence < self.tuning.min_evidence:
            grade, reason = Grade.RELATED, Reason.PROCEDURE if asks_procedure else Reason.WEAK_EVIDENCE
        elif other_body:
            grade, reason = Grade.RELATED, Reason.OTHER_BODY
        elif asks_procedure and evidence < self.tuning.procedure_evidence:
            grade, reason = Grade.RELATED, Reason.PROCEDURE
        else:
            grade, reason = Grade.ANSWER, Reason.MATCHED
        return SearchResult(
            question=question,
            grade=grade,
            reason=reason,
            hits=found,
            candidates=found,
            evidence=evidence,
            asks_procedure=asks_procedure,
        )

    def _field_result(self, question: str, reading: Reading, field: Field, limit: int) -> SearchResult:
        members = [
            i
            for i, c in enumerate(self.chunks)
            if c.chapter is field.chapter and (field.measure is None or c.measure is field.measure)
        ]
        query = self._query(reading.tokens, reading.text, reading.spelled)
        scores = self.bm25.scores(query.weights)
        members.sort(key=lambda i: -scores[i])
        hits = tuple(Hit(self.chunks[i], float(scores[i]), self._matched(query, i)) for i in members[:limit])
        return SearchResult(
            question=question,
            grade=Grade.ANSWER,
            reason=Reason.FIELD,
            hits=hits,
            candidates=hits,
            field=field,
        )
