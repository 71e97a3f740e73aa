"""Suggestions: the smallest change that makes the search find the measure staff chose."""

from __future__ import annotations

import pytest

from bot.drafts import Edit, apply_edits
from bot.suggest import rank_of, suggest
from index import PlanBundle, build_bundle

# question, measure staff chose, the first suggestion, where the measure then ranks
FIRST_SUGGESTION = [
    ("グリーンカーテンってやってる？", "4-1-2", "synonym: 低炭素 ← グリーンカーテン", 1),
    ("ビオトープを作ってほしい", "4-1-1", "synonym: 生活環境の保全 ← ビオトープ", 1),
]


@pytest.mark.parametrize(("question", "measure", "first", "rank"), FIRST_SUGGESTION)
def test_the_first_suggestion_is_a_synonym_that_works(
    bundle: PlanBundle, question: str, measure: str, first: str, rank: int
) -> None:
    found = suggest(bundle, question, measure)
    assert found.rank_before != 1
    assert (found.suggestions[0].edit.describe(), found.suggestions[0].rank_after) == (first, rank)
    assert found.suggestions[0].works


def test_the_missing_word_is_the_compound_the_resident_wrote(bundle: PlanBundle) -> None:
    found = suggest(bundle, "グリーンカーテンってやってる？", "4-1-2")
    assert found.missing == ("グリーンカーテン",)  # not グリーン and カーテン apart
    assert [s.edit.kind for s in found.suggestions] == ["synonym_add", "keyword_add"]
    assert {s.word for s in found.suggestions} == {"グリーンカーテン"}


def test_every_rank_is_what_the_real_index_gives_with_that_change(bundle: PlanBundle) -> None:
    question, measure = "市の職員の給料はいくら？", "6-2-1"
    found = suggest(bundle, question, measure)
    assert found.suggestions
    for item in found.suggestions:
        changed = build_bundle(apply_edits(bundle.sources, [item.edit]))
        assert rank_of(changed, question, {measure}) == item.rank_after


def test_nothing_is_suggested_when_the_search_already_finds_it(bundle: PlanBundle) -> None:
    found = suggest(bundle, "保育園が足りない", "2-2-4")
    assert (found.already_found, found.suggestions) == (True, ())


def test_a_rejected_suggestion_is_not_offered_again(bundle: PlanBundle) -> None:
    rejected = {Edit("synonym_add", "低炭素", "グリーンカーテン")}
    found = suggest(bundle, "グリーンカーテンってやってる？", "4-1-2", rejected=rejected)
    assert [s.edit.describe() for s in found.suggestions] == ["keyword of 4-1-2: グリーンカーテン"]


def test_an_unknown_measure_is_a_key_error(bundle: PlanBundle) -> None:
    with pytest.raises(KeyError):
        suggest(bundle, "グリーンカーテン", "9-9-9")
