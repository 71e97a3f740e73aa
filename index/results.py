"""What a search tells its callers: the grade, the reason, the measures found and why.

These types are the search's interface to the conversation layer, the answer log and
`ask --json`; they hold no search logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from .models import Chapter, Located, Measure

__all__ = ["Field", "Grade", "Hit", "Match", "Reason", "SearchResult"]


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
