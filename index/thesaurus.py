"""The staff-maintained thesaurus: residents' words → the plan's vocabulary.

`plan_data/synonyms.yaml` maps a word the plan uses to the words residents use for
it (お年寄り → 高齢者, bus → 公共交通). It only widens the search; it never adds
text to an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import PlanDataError, Problem
from .plan import THESAURUS_FILE
from .yamlio import parse_yaml

__all__ = ["SynonymGroup", "Thesaurus", "parse_thesaurus"]


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    """One plan word and the everyday words that should find it."""

    plan_word: str
    resident_words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Thesaurus:
    groups: tuple[SynonymGroup, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {group.plan_word: list(group.resident_words) for group in self.groups}


def parse_thesaurus(sources: Mapping[str, str]) -> Thesaurus:
    """The thesaurus from a plan's files; an empty one when the plan has no synonyms file."""
    if THESAURUS_FILE not in sources:
        return Thesaurus()
    document, problem = parse_yaml(THESAURUS_FILE, sources[THESAURUS_FILE])
    if problem is not None:
        raise PlanDataError([problem])
    if document is None:
        return Thesaurus()
    if not isinstance(document, dict):
        raise PlanDataError([Problem(THESAURUS_FILE, "", "expected a mapping: plan word: [resident words]")])
    problems: list[Problem] = []
    groups: list[SynonymGroup] = []
    for plan_word, words in document.items():
        entry = f"'{plan_word}'"
        if not isinstance(plan_word, str) or not plan_word.strip():
            problems.append(Problem(THESAURUS_FILE, entry, "the plan word must be non-empty text"))
            continue
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list) or not words:
            problems.append(Problem(THESAURUS_FILE, entry, "expected a non-empty list of resident words"))
            continue
        bad = [str(word) for word in words if not isinstance(word, str) or not word.strip()]
        if bad:
            problems.append(Problem(THESAURUS_FILE, entry, f"resident words must be non-empty text: {bad}"))
            continue
        groups.append(SynonymGroup(plan_word.strip(), tuple(word.strip() for word in words)))
    if problems:
        raise PlanDataError(problems)
    return Thesaurus(tuple(groups))
