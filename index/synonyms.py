"""The staff thesaurus compiled for matching questions, and looked up through an index.

`index.thesaurus` reads `synonyms.yaml`; this module turns each resident word into
what matching needs (its terms, its written form, its kana) and files it so that a
question only ever looks at the few words it could contain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .errors import PlanDataError, Problem
from .phrases import matched_as_phrase, said_at
from .plan import THESAURUS_FILE
from .thesaurus import Thesaurus
from .tokenizer import Worded, analyse, normalize, terms

__all__ = ["Synonym", "SynonymIndex", "compile_thesaurus"]


@dataclass(frozen=True, slots=True, eq=False)
class Synonym:
    """One resident word of the thesaurus, compiled: its terms and its written form → plan terms.

    A word matches when its terms all occur in the question (so 盗まれた finds 盗まれる)
    or when it is written there as is (so 町内会 matches even where the tokenizer reads
    町内会って as 町内 + 会う). Latin words match by terms only: "bus" is not in "business".
    A word whose tokenization loses content (居場所 → 場所, 集まらない → 集まる) matches as
    written, or as its `phrase` (see `index.phrases`: 市役所が古い matches 朝霞市役所は古かった).
    """

    terms: frozenset[str]
    literal: str | None
    lossless: bool
    plan_word: str
    plan_terms: frozenset[str]
    kana: str
    spellings: tuple[tuple[str, str], ...]  # (kana, written) of its words
    phrase: tuple[tuple[str, str], ...]  # (lemma, particles after it) of its words but particles


def _script(char: str) -> str:
    """ "katakana", "hiragana" or "" (kanji and everything else)."""
    if "\u30a0" <= char <= "\u30ff":
        return "katakana"
    if "\u3041" <= char <= "\u309f":
        return "hiragana"
    return ""


def _glued(word: str, edge: str, neighbour: str) -> bool:
    """The word's edge and its neighbour are one kana word: katakana beside katakana, or a
    word written wholly in hiragana beside hiragana (備え in 備えて is the verb's stem)."""
    script = _script(edge)
    if script == "hiragana" and not all(_script(char) == script for char in word):
        return False
    return script != "" and script == _script(neighbour)


def _written_at(word: str, text: str, start: int) -> bool:
    """`word` is written at `start` and is not the start or end of a longer kana word
    (パート is not in パートナー, バス is not in バスケ, うつ is not in うつる, けが is not
    in だけが; 作品展 is in 作品展示). Kana words that inflect still match by their terms."""
    if not text.startswith(word, start):
        return False
    end = start + len(word)
    glued_before = start > 0 and _glued(word, word[0], text[start - 1])
    glued_after = end < len(text) and _glued(word, word[-1], text[end])
    return not (glued_before or glued_after)


class SynonymIndex:
    """The thesaurus looked up by term, by phrase and by written form, so matching a question
    costs the same however many resident words staff add.

    A word with terms is filed under its rarest term and checked only when the question
    has that term. A word matched as a phrase is filed under its first word. A written form
    is filed under its first two characters and its length, so at each place in the question
    only the forms starting there with a length that fits are looked up, never scanned.
    """

    def __init__(self, synonyms: list[Synonym]) -> None:
        self.by_term: dict[str, list[Synonym]] = {}
        self.by_prefix: dict[str, dict[int, dict[str, list[Synonym]]]] = {}
        self.by_first_word: dict[str, list[Synonym]] = {}
        frequency = Counter(term for synonym in synonyms if synonym.lossless for term in synonym.terms)
        for synonym in synonyms:
            if synonym.lossless and synonym.terms:
                rarest = min(synonym.terms, key=lambda term: (frequency[term], term))
                self.by_term.setdefault(rarest, []).append(synonym)
            elif matched_as_phrase(synonym.phrase):
                # Its phrase finds it wherever it is written too, with the phrase's checks.
                self.by_first_word.setdefault(synonym.phrase[0][0], []).append(synonym)
                continue
            literal = synonym.literal
            if literal is not None:
                by_length = self.by_prefix.setdefault(literal[:2], {})
                by_length.setdefault(len(literal), {}).setdefault(literal, []).append(synonym)

    def matches(self, present: frozenset[str], text: str, phrase: tuple[Worded, ...]) -> dict[Synonym, str]:
        """The resident words in a question, each with the words that matched it as the question
        writes them ("" for a word matched by its terms alone)."""
        found: dict[Synonym, str] = {}
        for index, worded in enumerate(phrase):
            for synonym in self.by_first_word.get(worded.lemma, ()):
                if synonym not in found and (end := said_at(phrase, index, synonym.phrase, text)) is not None:
                    found[synonym] = text[worded.start : end]
        by_prefix = self.by_prefix
        for start in range(len(text)):
            for prefix in (text[start : start + 2], text[start]):
                for length, literals in by_prefix.get(prefix, {}).items():
                    literal = text[start : start + length]
                    if len(literal) == length and literal in literals and _written_at(literal, text, start):
                        found.update(dict.fromkeys(literals[literal], literal))
        for term in present:
            for synonym in self.by_term.get(term, ()):
                if synonym not in found and synonym.terms <= present:
                    found[synonym] = ""
        return found


def compile_thesaurus(thesaurus: Thesaurus, vocabulary: frozenset[str]) -> list[Synonym]:
    """Resident words ready to match; PlanDataError for entries that can never work."""
    problems: list[Problem] = []
    compiled: list[Synonym] = []
    for group in thesaurus.groups:
        plan_terms = frozenset(t for t in terms(group.plan_word) if t in vocabulary)
        if not plan_terms:
            problems.append(
                Problem(THESAURUS_FILE, f"'{group.plan_word}'", "this plan word does not occur in the plan")
            )
            continue
        for word in group.resident_words:
            analysed, lossless, kana, spellings, phrase = analyse(word)
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
                Synonym(word_terms, literal, lossless, group.plan_word, plan_terms, kana, spellings, phrase)
            )
    if problems:
        raise PlanDataError(problems)
    return compiled
