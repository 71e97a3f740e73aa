"""The preview: resolved questions, answer quality and recent answers, before → after the draft."""

from __future__ import annotations

from pathlib import Path

from bot.curation import MEASURES, SPAM, Verdict, resolve
from bot.drafts import Edit, add_edit, build_candidate, pending_edits
from bot.preview import ANSWER_KEY_SET, LABELLED_SETS, SHIPPED_SET, bundled_questions, preview
from bot.service import PlanService
from index import bundled_plan_dir
from index.evaluate import evaluate, read_questions
from tests.test_curation import ask

GREEN = "グリーンカーテンってやってる？"
DAYCARE = "保育園が足りない"
BUS = "バス少なすぎ"


def _draft_with(service: PlanService, *edits: Edit):  # -> Draft
    with service.sessions() as session, session.begin():
        for edit in edits:
            add_edit(session, service.bundle, edit, "tanaka")
    with service.sessions() as session:
        return build_candidate(service.bundle, pending_edits(session))


def _resolve(service: PlanService, exchange_id: int, verdict: Verdict) -> None:
    with service.sessions() as session, session.begin():
        resolve(session, [exchange_id], verdict, "tanaka", service.bundle.plan)


def test_the_product_ships_its_labelled_questions(service: PlanService) -> None:
    shipped = bundled_questions()
    assert len(shipped) >= 200
    # Read where they live, the files the tests and the README use: no copy to drift.
    root = bundled_plan_dir().parent
    assert shipped == [q for name in LABELLED_SETS for q in read_questions(root / name)]
    assert "tests/data/questions.jsonl" in LABELLED_SETS
    assert not list(bundled_plan_dir().glob("*.jsonl"))
    assert {q.kind for q in shipped} >= {"colloquial", "out_of_scope"}
    report = evaluate(service.bundle.index, shipped)
    assert report.as_json()["hit@3"] >= 0.95


def test_a_set_missing_from_a_deployment_is_skipped(tmp_path: Path) -> None:
    own = tmp_path / LABELLED_SETS[0]
    own.parent.mkdir(parents=True)
    own.write_text(
        '{"q": "保育園が足りない", "relevant": ["2-2-4"], "kind": "colloquial"}\n', encoding="utf-8"
    )
    assert [(q.q, q.relevant) for q in bundled_questions(tmp_path)] == [("保育園が足りない", ("2-2-4",))]
    assert bundled_questions(tmp_path / "elsewhere") == []


def test_a_good_synonym_fixes_its_question_and_harms_nothing(service: PlanService) -> None:
    green = ask(service, GREEN)
    ask(service, DAYCARE, user=2)
    _resolve(service, green, Verdict(MEASURES, ("4-1-2",)))
    draft = _draft_with(service, Edit("synonym_add", "低炭素", "グリーンカーテン"))
    with service.sessions() as session:
        result = preview(session, draft.base, draft.candidate)
    [item] = result.resolved
    assert (item.before.answered, item.after.top, item.fixed, item.broken) == (False, "4-1-2", True, False)
    quality = {q.name: q for q in result.quality}
    assert quality[ANSWER_KEY_SET].before.hit1 == 0.0 and quality[ANSWER_KEY_SET].after.hit1 == 1.0
    assert quality[SHIPPED_SET].before == quality[SHIPPED_SET].after
    assert quality[SHIPPED_SET].before.answerable + quality[SHIPPED_SET].before.out_of_scope == len(
        bundled_questions()
    )
    assert [(c.question, c.before.answered, c.after.top) for c in result.changed] == [(GREEN, False, "4-1-2")]
    assert result.recent == 2
    assert result.warnings == []


def test_removing_a_synonym_residents_rely_on_is_warned_about(service: PlanService) -> None:
    bus = ask(service, BUS)
    _resolve(service, bus, Verdict(MEASURES, ("5-2-2",)))
    draft = _draft_with(service, Edit("synonym_remove", "公共交通網", "バス"))
    with service.sessions() as session:
        result = preview(session, draft.base, draft.candidate)
    [item] = result.resolved
    assert (item.before.top, item.broken) == ("5-2-2", True)
    shipped = next(q for q in result.quality if q.name == SHIPPED_SET)
    assert shipped.after.hit1 < shipped.before.hit1
    assert any(w.startswith(f"正答率が下がります（{SHIPPED_SET}）: hit@1 0.") for w in result.warnings)
    assert f"解決済みの質問の回答が悪くなります: {BUS}" in result.warnings
    assert [c.question for c in result.changed] == [BUS]


def test_recent_questions_leave_out_spam_and_count_repeats(service: PlanService) -> None:
    for user in range(3):
        ask(service, GREEN, user=user)
    prank = ask(service, "グリーンカーテン！！！", user=9)
    _resolve(service, prank, Verdict(SPAM))
    draft = _draft_with(service, Edit("synonym_add", "低炭素", "グリーンカーテン"))
    with service.sessions() as session:
        result = preview(session, draft.base, draft.candidate, shipped=[], recent=1000)
    assert [(c.question, c.asked) for c in result.changed] == [(GREEN, 3)]
    assert result.recent == 1
    assert [q.name for q in result.quality] == []  # no labelled questions at all: nothing to score
