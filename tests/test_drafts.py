"""The draft: edits applied to the plan's YAML files, validated before they are stored."""

from __future__ import annotations

import difflib

import pytest

from bot.drafts import (
    Edit,
    add_edit,
    apply_edits,
    build_candidate,
    discard_edit,
    pending_edits,
)
from bot.errors import EditError
from bot.service import PlanService
from index import Contact, PlanBundle, PlanDataError, build_bundle


def changed_lines(before: PlanBundle, sources: dict[str, str]) -> dict[str, list[str]]:
    """Per changed file, the lines removed (-) and added (+)."""
    changed = {}
    for name, text in sources.items():
        if text != before.sources[name]:
            diff = difflib.ndiff(before.sources[name].splitlines(), text.splitlines())
            changed[name] = [line for line in diff if line[:1] in "+-"]
    return changed


def test_no_edits_leave_every_file_byte_for_byte(bundle: PlanBundle) -> None:
    assert apply_edits(bundle.sources, []) == dict(bundle.sources)


EDITS = [
    (
        Edit("keyword_add", "2-2-4", "保育ママ"),
        {"chapter2.yaml": ["+         keywords: [保育ママ]"]},
    ),
    (
        Edit("title_en", "2-2-4", "Childcare"),
        {
            "chapter2.yaml": [
                "-         title_en: Better early childhood education and childcare",
                "+         title_en: Childcare",
            ]
        },
    ),
    (
        Edit("url", "2", "https://www.city.asaka.lg.jp/kodomo/"),
        {"chapter2.yaml": ["+ url: https://www.city.asaka.lg.jp/kodomo/"]},
    ),
    (
        Edit("contact", "2-2", {"name": "保育課", "phone": "048-463-1111"}),
        {"chapter2.yaml": ["+     contact:", "+       name: 保育課", "+       phone: 048-463-1111"]},
    ),
    (
        Edit("synonym_add", "グリーン", "緑"),
        {"synonyms.yaml": ["+ グリーン: [緑]"]},
    ),
]


@pytest.mark.parametrize(("edit", "expected"), EDITS, ids=[e.kind for e, _ in EDITS])
def test_an_edit_changes_only_its_own_lines(
    bundle: PlanBundle, edit: Edit, expected: dict[str, list[str]]
) -> None:
    assert changed_lines(bundle, apply_edits(bundle.sources, [edit])) == expected


def test_edits_reach_the_plan_and_the_search(bundle: PlanBundle) -> None:
    edits = [
        Edit("synonym_add", "低炭素", "グリーンカーテン"),
        Edit("contact", "2-2", {"name": "保育課", "phone": "048-463-1111"}),
        Edit("title_en", "2-2-4", "Childcare"),
    ]
    candidate = build_bundle(apply_edits(bundle.sources, edits))
    assert "グリーンカーテン" in candidate.thesaurus.as_dict()["低炭素"]
    assert candidate.plan.route("2-2-4").contact == Contact("保育課", "048-463-1111")
    assert candidate.plan.locate("2-2-4").middle.title_en == "Childcare"
    assert candidate.index.search("グリーンカーテンってやってる？").hits[0].id == "4-1-2"
    assert not bundle.index.search("グリーンカーテンってやってる？").answered


def test_removing_and_clearing_undo_adding(bundle: PlanBundle) -> None:
    added = [Edit("synonym_add", "低炭素", "グリーンカーテン"), Edit("keyword_add", "2-2-4", "保育ママ")]
    removed = [
        Edit("synonym_remove", "低炭素", "グリーンカーテン"),
        Edit("keyword_remove", "2-2-4", "保育ママ"),
    ]
    assert apply_edits(bundle.sources, [*added, *removed]) == dict(bundle.sources)
    cleared = apply_edits(bundle.sources, [Edit("title_en", "2-2-4", None)])
    assert build_bundle(cleared).plan.locate("2-2-4").middle.title_en is None


BROKEN = [
    (Edit("keyword_remove", "2-2-4", "保育ママ"), "the measure has no such keyword"),
    (Edit("synonym_remove", "低炭素", "グリーンカーテン"), "the thesaurus has no such entry"),
    (Edit("url", "9", "https://example.jp/"), "the plan has no chapter 9"),
    (Edit("url", "2-9", "https://example.jp/"), "the plan has no measure 2-9"),
    (Edit("url", "two", "https://example.jp/"), "'two' is not a chapter, measure or middle measure id"),
    (Edit("keyword_add", "2-2-4", " "), "the word must be non-empty text"),
    (Edit("rename", "2-2-4", "x"), "unknown kind of change 'rename'"),
]


@pytest.mark.parametrize(("edit", "message"), BROKEN, ids=[m for _, m in BROKEN])
def test_an_edit_that_does_not_fit_names_itself(bundle: PlanBundle, edit: Edit, message: str) -> None:
    with pytest.raises(EditError, match=message):
        apply_edits(bundle.sources, [edit])


def test_an_invalid_draft_is_never_stored(service: PlanService) -> None:
    with service.sessions() as session, session.begin():
        with pytest.raises(PlanDataError, match=r"'url' 'www\.city\.asaka\.lg\.jp' is not a web address"):
            add_edit(session, service.bundle, Edit("url", "2-2-4", "www.city.asaka.lg.jp"), "tanaka")
        with pytest.raises(PlanDataError, match="this plan word does not occur in the plan"):
            add_edit(session, service.bundle, Edit("synonym_add", "宇宙旅行", "ロケット"), "tanaka")
        with pytest.raises(EditError, match="keywords belong to a middle measure"):
            add_edit(session, service.bundle, Edit("keyword_add", "2-2", "保育ママ"), "tanaka")
        assert pending_edits(session) == []


def test_the_draft_builds_on_the_active_version_in_order(service: PlanService) -> None:
    with service.sessions() as session, session.begin():
        first = add_edit(session, service.bundle, Edit("keyword_add", "2-2-4", "保育ママ"), "tanaka")
        add_edit(session, service.bundle, Edit("keyword_add", "2-2-4", "ベビーシッター"), "suzuki")
    with service.sessions() as session:
        draft = build_candidate(service.bundle, pending_edits(session))
    assert draft.candidate.plan.locate("2-2-4").middle.keywords == ("保育ママ", "ベビーシッター")
    with service.sessions() as session, session.begin():
        discard_edit(session, first.id, "tanaka")
        with pytest.raises(EditError, match=f"there is no pending change {first.id}"):
            discard_edit(session, first.id, "tanaka")
    with service.sessions() as session:
        assert [stored.edit.value for stored in pending_edits(session)] == ["ベビーシッター"]
