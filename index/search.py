"""BM25 search over the plan's middle measures, and the grade of what it found.

One chunk per middle measure, indexed in weighted fields: what the measure itself
says (title, items, keywords) counts more than context it shares with its
siblings (its major measure's title and goals, its chapter's title). A question's
kana words are first read as the plan words they sound like (index.kana); the
thesaurus widens it with the plan's own words (index.synonyms); the evidence the
best measure holds, weighed by each word's information, decides the grade
(index.grading, index.results).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rank_bm25 import BM25Okapi

from .grading import OTHER_BODY_CUES, PROCEDURES, information, operator_requests, procedure_asked
from .kana import KanaReadings
from .models import Located, Plan
from .places import PlaceNames
from .results import Field, Grade, Hit, Match, Reason, SearchResult
from .synonyms import SynonymIndex, compile_thesaurus
from .thesaurus import Thesaurus
from .tokenizer import Reading, Respeller, analyse, normalize, read, terms, tokenize

__all__ = ["FieldedBM25", "LuceneBM25", "Query", "SearchIndex", "Tuning"]


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

    title: float = 2.0
    items: float = 1.5
    keywords: float = 1.5
    measure: float = 0.5
    goals: float = 0.25
    chapter: float = 0.5
    expansion: float = 1.0
    spread: float = 0.5  # a plan phrase of n terms gives each expansion / n ** spread
    k1: float = 1.5
    b: float = 0.75
    # Answer only when the best measure holds this much of the question: the summed idf
    # of its matched terms. One specific plan word (idf ≈ 3–4) is enough; a lone word
    # that half the plan uses (idf < 1) is not.
    min_evidence: float = 1.5
    information: float = 0.5  # ranking weighs a term by its information to this power
    # A question asking for a procedure, date, place or fee is answered only when the
    # measure holds this much of it: otherwise its measures are shown as related.
    procedure_evidence: float = 10


# Words that ask for a whole field rather than a topic inside it.
_FIELD_WORDS = frozenset(
    "計画 施策 方針 政策 取り組み 取組 取り組む 分野 全体 纏める 一覧 全部 概要 内容 目標 章 様子 "
    "plan policy chapter field overview".split()
)
# Requests the plan can never answer, whatever words they share with it: shopping and
# dining advice, recommendations, general-knowledge trivia, and asking the bot to
# write or correct a text.
_COMMERCIAL = frozenset(
    "メーカー ブランド 保険会社 通販 美味しい グルメ レストラン 居酒屋 ラーメン 焼き肉屋 添削 "
    "ramen sushi izakaya tasty delicious".split()
)
_TEXT_OBJECTS = frozenset(
    "文章 文 案内文 挨拶文 例文 一言 自己紹介 メール 手紙 スピーチ 作文 原稿 キャッチコピー 童話 "
    "俳句 短歌 川柳 詩 ポエム 歌詞 小説 物語 "
    "haiku poem essay letter email e-mail speech story song lyric text message greeting".split()
)
_COMPOSE = frozenset("write compose draft translate correct proofread".split())
# What turns a verb's て form into a request: 書いてほしい, 取ってきてください, 作ってもらえますか.
_REQUEST_WORDS = r"ほしい|欲しい|ください|下さい|(くれ|もらえ|いただけ)(る|ない|ます|ません)?か?"
# In Japanese, a text is to be written when a sentence ends asking for it (書いて, かいてほしい,
# 作ってくれない？), in kanji or kana: not 手紙を書く教室 or 手紙をかいていい？, which ask the city.
_ASKING_END = rf"\s*({_REQUEST_WORDS}|)(です|よ|ね)?\s*(?:[。!?]|$)"
_COMPOSE_REQUEST = re.compile(
    r"(?:かいて|つくって|かんがえて|なおして|やくして|書いて|作って|考えて|直して|訳して)" + _ASKING_END
)
_WRITE_REQUEST = re.compile(r"(?:かいて|書いて)" + _ASKING_END)
# A story is a text only when it is asked to be written (お話を書いて): お話できる場を作って (a chance
# to talk), ストーリーで伝える動画を作って (a video) and お話を書く講座 ask the city for something.
_STORIES = frozenset("御話 ストーリー".split())
# How a game is played: the rules of a sport (サッカーのオフサイド, バスケのルール), not of a place
# to play it (テニスコートの利用ルール, 河川敷でサッカーするルール).
_SPORTS = (
    "サッカー 野球 バレー バレーボール バスケ バスケットボール テニス 卓球 バドミントン ラグビー 柔道 剣道 "
    "空手 相撲 ゴルフ ボクシング 将棋 囲碁 チェス ソフトボール ハンドボール ドッジボール"
).split()
_GAME_RULES = frozenset("ルール 反則 オフサイド ローテーション".split())
_A_SPORTS_OWN = re.compile(f"(?:{'|'.join(_SPORTS)})の")
# Errands for the bot: passing a message on to someone (「会長さんに伝えといて」), fetching something
# for the resident, asked at the end of the message (「住民票とってきて」: 減ってきて, has been
# falling, asks nothing, so fetching takes its verbs only), or a task done in the resident's
# place (「代わりに更新しといて」: 保育園を増やしておいてほしい asks the city for a policy).
_REQUEST_END = rf"({_REQUEST_WORDS}|ね|よ)?[?!。]*$"  # at the end of the message
_ERRAND = re.compile(
    r"(伝|つた)え(てお|と)いて|伝言(して|を頼|お願い)|言っ(てお|と)いて"
    rf"|(取|と|もら|貰|買|か|行|い|出し|だし|借り|かり)っ?て(き|来)て{_REQUEST_END}"
    rf"|(代わり|かわり|代理)(に|で).*(っと|んど|しと|して?お|ってお|んでお)いて{_REQUEST_END}"
)
# Asking for something: where the good ones are, or what they are (どこも, anywhere, asks nothing).
_ASKED = r"(教えて|おしえて|知りたい|しりたい|知ってる|見たい|紹介して|どこ(?!も)|ある\?|は\?)"
_ADVICE = re.compile(
    r"おすすめ|お勧め|オススメ|何がいい|どれがいい|(日本|世界)(で一番|一)"
    rf"|(評判|口コミ|クチコミ)(の|が)(いい|良い|よい)[^。!?]*{_ASKED}|(口コミ|クチコミ)(?!で)[^。!?]*{_ASKED}"
    r"|(どっち|どちら|誰|だれ|どこ)が\s?勝った"
    r"|(試合|選挙|野球|サッカー|しあい|せんきょ|やきゅう|さっかー|じゃんけん)[^。!?]*(どっち|どちら|だれ|どこ)が\s?かった"
    r"|\brecommend|\bsuggest (a|some|me)\b|\bbest (place|shop|restaurant|food|ramen|cafe)"
    r"|\bwhere (can|should|do) (i|we) eat\b"
)
_WHERE = frozenset({"何処", "where"})
_CONSULT = frozenset({"相談"})
# Every word a grade turns on, whatever the plan says.
_CUES = _COMMERCIAL | _TEXT_OBJECTS | _COMPOSE | _STORIES | _GAME_RULES | PROCEDURES | OTHER_BODY_CUES
_CHAPTER_REF = re.compile(r"(?:第|だい)?\s*([1-9])\s*(?:章|しょう)|chapter\s*([1-9])", re.IGNORECASE)
_HOME_CITY = "朝霞"


def _subsumed(match: Match, matches: Iterable[Match]) -> bool:
    """Another match of the same question word names a longer plan word holding this one
    (介護保険 says all that 介護 and 保険 would)."""
    return any(
        other.question_word == match.question_word
        and other.plan_word != match.plan_word
        and match.plan_word in other.plan_word
        for other in matches
    )


class Query(NamedTuple):
    """A question as `search` ranks it: how it was read, its weighted terms, and for each term the
    words that brought it in (the question's word as written, the plan word it stands for, or ""
    for the term itself)."""

    reading: Reading
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
        synonyms = compile_thesaurus(thesaurus or Thesaurus(), self.vocabulary)
        self._synonyms = SynonymIndex(synonyms)
        self._kana = KanaReadings(
            itertools.chain(
                ((t.kana, t.surface) for column in tokens.values() for doc in column for t in doc),
                ((s.kana, s.literal) for s in synonyms if s.literal is not None),
                (pair for s in synonyms for pair in s.spellings),
                # Words the grade turns on are read in kana too (てんさく is 添削, かくていしんこく 確定申告).
                (pair for word in _CUES for pair in analyse(word).spellings),
            ),
            self.vocabulary.union(*(s.terms for s in synonyms), _CUES),
        )
        self._information = information(
            self._chunk_terms,
            [f"{c.chapter.number}-{c.measure.number}" for c in self.chunks],
            ((s.terms, s.plan_terms) for s in synonyms),
        )
        self._field_titles = self._compile_fields()
        self._places = PlaceNames()
        self._home = (_HOME_CITY, analyse(_HOME_CITY).kana)  # 朝霞, あさか

    def _compile_fields(self) -> list[tuple[frozenset[str], Field]]:
        fields: list[tuple[frozenset[str], Field]] = []
        for chapter in self.plan.chapters:
            fields.append((frozenset(terms(chapter.title)), Field(chapter)))
            for measure in chapter.measures:
                fields.append((frozenset(terms(measure.title)), Field(chapter, measure)))
        return fields

    def query(self, question: str) -> Query:
        """The question's terms with weight 1, plus the plan words the thesaurus maps them to.

        A plan phrase of n terms shares its weight among them, so one resident word
        counts about as much as one question word, however long its plan phrase.
        Each term remembers the question's words that brought it in, as the resident
        typed them (kana that was respelled is given back as typed).
        """
        reading = read(question, self.respeller, self._places.municipalities)
        typed = dict(reading.spelled)

        def as_typed(word: str) -> str:
            return next((kana for written, kana in typed.items() if word in written), word)

        weights: dict[str, float] = {}
        origins: dict[str, list[tuple[str, str]]] = {}
        written: dict[str, str] = {}
        for token in reading.tokens:
            weights[token.key] = 1.0
            written.setdefault(token.key, token.surface)
            origins.setdefault(token.key, [(as_typed(token.surface), "")])
        for synonym, literal in self._synonyms.matches(
            frozenset(weights), reading.text, reading.phrase
        ).items():
            question_word = (
                as_typed(literal)
                if literal
                else " ".join(dict.fromkeys(as_typed(written[t]) for t in sorted(synonym.terms)))
            )
            share = self.tuning.expansion / len(synonym.plan_terms) ** self.tuning.spread
            for term in synonym.plan_terms:
                weights[term] = max(weights.get(term, 0.0), share)
                origins.setdefault(term, []).append((question_word, synonym.plan_word))
        return Query(reading, weights, origins)

    def _matched(self, query: Query, chunk: int) -> tuple[Match, ...]:
        """The question's words that found this chunk, each with the plan's word as the
        chunk writes it (a thesaurus plan phrase when the chunk writes it whole)."""
        written, text = self._written[chunk], self._texts[chunk]
        found: dict[Match, None] = {}
        for term in query.weights:
            if term in written:
                for question_word, plan_phrase in query.origins.get(term, ()):
                    plan_word = plan_phrase if plan_phrase and plan_phrase in text else written[term]
                    found[Match(question_word, plan_word)] = None
        return tuple(match for match in found if not _subsumed(match, found))

    @property
    def respeller(self) -> Respeller:
        """Reads a question's kana words as the plan and thesaurus words they sound like."""
        return self._kana.respell

    def information(self, term: str) -> float:
        """How much a term says about a question's topic (see index.grading)."""
        return self._information.get(term, 1.0)

    def _ranked(self, query: Mapping[str, float]) -> np.ndarray:
        """Every chunk's score, each term weighed by its information: a question's topic
        word (保育園, 駐車場) outweighs the everyday words around it (子供, 増やす, 機会)."""
        power = self.tuning.information
        return self.bm25.scores({t: w * self.information(t) ** power for t, w in query.items()})

    def _evidence(self, query: Mapping[str, float], chunk: int) -> float:
        """How much of the question the chunk answers: the idf of the query terms it
        contains, weighted by their query weight and their information."""
        found = self._chunk_terms[chunk]
        return sum(self.bm25.idf(t) * w * self.information(t) for t, w in query.items() if t in found)

    def _field(self, reading: Reading, question: str) -> Field | None:
        # As typed too: respelling may have read だい4しょう's kana as other words.
        match = _CHAPTER_REF.search(reading.text) or _CHAPTER_REF.search(normalize(question))
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
        query = self.query(question)
        reading = query.reading
        field = self._field(reading, question)
        if field is not None:
            return self._field_result(question, query, field, limit)
        if not query.weights:  # no content word and no thesaurus match (知らない人が家に来た has a phrase)
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.NO_TERMS)
        scores = self._ranked(query.weights)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:limit]
        found = tuple(
            Hit(located=self.chunks[i], score=float(scores[i]), matched=self._matched(query, i))
            for i in order
        )
        # Declined questions keep what was ranked, so staff resolving one see what it nearly matched.
        present = set(reading.terms)
        asks_advice = _ADVICE.search(reading.text) is not None or _ERRAND.search(reading.text) is not None
        elsewhere = not any(home in reading.places or home in reading.text for home in self._home)
        declined: Reason | None = None
        composes = present & _COMPOSE or _COMPOSE_REQUEST.search(reading.text)
        writes_text = (present & _TEXT_OBJECTS and composes) or (
            present & _STORIES and _WRITE_REQUEST.search(reading.text)
        )
        game_rules = present & _GAME_RULES and _A_SPORTS_OWN.search(reading.text) is not None
        if asks_advice or present & _COMMERCIAL or writes_text or game_rules:
            declined = Reason.OFF_TOPIC
        elif reading.places and elsewhere:
            declined = Reason.OTHER_CITY
        if declined is not None:
            return SearchResult(question=question, grade=Grade.NONE, reason=declined, candidates=found)
        if not order:
            return SearchResult(question=question, grade=Grade.NONE, reason=Reason.NO_MATCH)
        evidence = self._evidence(query.weights, order[0])
        best_terms = self._chunk_terms[order[0]]
        asked = procedure_asked(reading.lemmas, reading.text) - best_terms
        # 「どこに相談すれば」 asks who to talk to: a measure that offers consultation answers it.
        if asked <= _WHERE and _CONSULT & set(reading.terms) & best_terms:
            asked = frozenset()
        asks_procedure = bool(asked)
        cues = OTHER_BODY_CUES.intersection((*reading.lemmas, *reading.terms)) | operator_requests(
            reading.lemmas
        )
        other_body = bool(cues - best_terms)
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

    def _field_result(self, question: str, query: Query, field: Field, limit: int) -> SearchResult:
        members = [
            i
            for i, c in enumerate(self.chunks)
            if c.chapter is field.chapter and (field.measure is None or c.measure is field.measure)
        ]
        scores = self._ranked(query.weights)
        members.sort(key=lambda i: -scores[i])
        hits = tuple(
            Hit(located=self.chunks[i], score=float(scores[i]), matched=self._matched(query, i))
            for i in members[:limit]
        )
        return SearchResult(
            question=question,
            grade=Grade.ANSWER,
            reason=Reason.FIELD,
            hits=hits,
            candidates=hits,
            field=field,
        )
