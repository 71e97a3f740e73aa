"""Suggestions: the smallest change that makes the search find the measure staff chose.

For a question resolved to a measure, the question's words the plan lacks (or lacks
in that measure) are the gap. Each is offered two ways: as a synonym, the resident's
word under a distinctive plan word of the measure (an existing thesaurus line when
one fits: appending a word is smaller than a new line), or as a keyword of the
measure. Every suggestion is tried on a real index built with it, so staff see
where the measure would then rank before they accept anything.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from index import PlanBundle, PlanDataError, build_bundle
from index.tokenizer import Token, terms, tokenize

from .drafts import KEYWORD_ADD, SYNONYM_ADD, Edit, apply_edits
from .errors import EditError

__all__ = ["Suggestion", "Suggestions", "rank_of", "suggest"]

# Parts of speech whose written form is a word staff can file (not 作っ or 増やし).
_NOUNS = frozenset({"名詞", "複合", "代名詞", "形状詞"})


@dataclass(frozen=True, slots=True)
class Suggestion:
    edit: Edit
    word: str  # the resident's word, as written in the question
    rank_after: int | None  # where the measure ranks with this change alone; None: not shown

    @property
    def works(self) -> bool:
        return self.rank_after == 1


@dataclass(frozen=True, slots=True)
class Suggestions:
    question: str
    measure_id: str
    rank_before: int | None
    missing: tuple[str, ...]  # the question's words the plan lacks (or the measure lacks)
    suggestions: tuple[Suggestion, ...]

    @property
    def already_found(self) -> bool:
        return self.rank_before == 1


def rank_of(bundle: PlanBundle, question: str, measure_ids: Collection[str]) -> int | None:
    """Where the first of `measure_ids` stands in the answer to `question`; None if not answered there."""
    result = bundle.index.search(question)
    if not result.answered:
        return None
    return next((rank for rank, hit in enumerate(result.hits, 1) if hit.id in measure_ids), None)


def _fileable(token: Token) -> bool:
    return token.pos in _NOUNS or token.surface == token.key or token.surface.isascii()


def _gap(bundle: PlanBundle, question: str, measure_terms: frozenset[str]) -> tuple[str, ...]:
    """The question's words missing from the measure, those the whole plan lacks first;
    a compound (グリーンカーテン) rather than its parts (グリーン, カーテン)."""
    vocabulary = bundle.index.vocabulary
    tokens = [t for t in tokenize(question) if t.key not in measure_terms and _fileable(t)]
    tokens.sort(key=lambda t: (t.key in vocabulary, -len(t.surface)))
    chosen: list[str] = []
    for token in tokens:
        if not any(token.surface in word for word in chosen):
            chosen.append(token.surface)
    return tuple(chosen)


def _plan_word(bundle: PlanBundle, measure_id: str) -> str | None:
    """A distinctive word of the measure's own text to file a synonym under.

    The word must pick out this measure: fewest other measures contain all its terms,
    then an existing thesaurus line (smaller change), then a word of the title, then the rarest terms.
    """
    located = bundle.plan.locate(measure_id)
    own_text = " ".join((located.middle.title, *located.middle.items))
    own_terms = frozenset(terms(own_text))
    others = [
        frozenset(terms(" ".join((other.middle.title, *other.middle.items))))
        for other in bundle.plan.located()
        if other.middle.id != measure_id
    ]
    existing = {group.plan_word for group in bundle.thesaurus.groups}
    candidates = {token.surface for token in tokenize(own_text) if token.pos in _NOUNS} | {
        word for word in existing if own_terms.issuperset(terms(word))
    }
    title_terms = frozenset(terms(located.middle.title))
    best: tuple[tuple[int, bool, bool, float], str] | None = None
    for word in candidates:
        word_terms = frozenset(t for t in terms(word) if t in bundle.index.vocabulary)
        if not word_terms or not word_terms <= own_terms:
            continue
        shared = sum(1 for other in others if word_terms <= other)
        rarity = sum(bundle.index.bm25.idf(t) for t in word_terms)
        key = (shared, word not in existing, not word_terms <= title_terms, -rarity)
        if best is None or key < best[0]:
            best = (key, word)
    return best[1] if best else None


def _try(bundle: PlanBundle, edit: Edit, word: str, question: str, measure_id: str) -> Suggestion | None:
    """The suggestion with the measure's rank once `edit` is applied; None when the plan would not build
    (a resident word with nothing searchable in it, for instance)."""
    try:
        changed = build_bundle(apply_edits(bundle.sources, [edit]))
    except (EditError, PlanDataError):
        return None
    return Suggestion(edit, word, rank_of(changed, question, {measure_id}))


def suggest(
    bundle: PlanBundle,
    question: str,
    measure_id: str,
    *,
    rejected: Collection[Edit] = (),
    words: int = 2,
) -> Suggestions:
    """Changes that would make `question` find `measure_id` in `bundle` (the plan with the draft).

    For up to `words` missing words: a synonym and a keyword each, tried on a real index;
    changes that work come first, a synonym before a keyword. KeyError for an unknown measure.
    """
    located = bundle.plan.locate(measure_id)
    rank_before = rank_of(bundle, question, {measure_id})
    measure_terms = frozenset(
        terms(" ".join((located.middle.title, *located.middle.items, *located.middle.keywords)))
    )
    missing = _gap(bundle, question, measure_terms)
    if rank_before == 1:
        return Suggestions(question, measure_id, rank_before, missing, ())
    plan_word = _plan_word(bundle, measure_id)
    found: list[Suggestion] = []
    for word in missing[:words]:
        edits: Sequence[Edit] = (
            *([Edit(SYNONYM_ADD, plan_word, word)] if plan_word else []),
            Edit(KEYWORD_ADD, measure_id, word),
        )
        for edit in edits:
            tried = None if edit in rejected else _try(bundle, edit, word, question, measure_id)
            if tried is not None:
                found.append(tried)
    found.sort(key=lambda s: (not s.works, s.rank_after is None, s.edit.kind != SYNONYM_ADD))
    return Suggestions(question, measure_id, rank_before, missing, tuple(found))
