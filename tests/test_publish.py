"""Publishing the draft, rolling back, exporting versions, and the whole loop on the command line."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot import audit
from bot.cli import cli
from bot.curation import MEASURES, Verdict, resolve
from bot.drafts import Edit, add_edit, pending_edits
from bot.errors import EditError, UnknownVersionError
from bot.preview import bundled_questions
from bot.publish import bundled_matches, export_version, publish, rollback, version_changes
from bot.quality import quality_by_version
from bot.service import PlanService
from bot.store import PlanEdit, PlanVersion
from index import bundled_plan_dir, read_sources
from index.plan import digest
from tests.test_curation import ask

GREEN = "グリーンカーテンってやってる？"


def _publish_green(service: PlanService) -> int:
    with service.sessions() as session, session.begin():
        add_edit(session, service.bundle, Edit("synonym_add", "低炭素", "グリーンカーテン"), "tanaka")
    return publish(service.sessions, "tanaka", "グリーンカーテンを追加").version_id


def test_publishing_makes_a_version_the_running_service_switches_to(service: PlanService) -> None:
    assert not service.bundle.index.search(GREEN).answered
    version_id = _publish_green(service)
    service.active.refresh()  # what every bot's poll does within seconds (unless it just did)
    assert service.active.version_id == version_id
    assert service.bundle.index.search(GREEN).hits[0].id == "4-1-2"
    with service.sessions() as session:
        version = session.get(PlanVersion, version_id)
        assert version is not None
        assert (version.label, version.author, version.active) == ("グリーンカーテンを追加", "tanaka", True)
        assert pending_edits(session) == []
        assert session.scalar(select(PlanEdit.version_id)) == version_id
        [event] = audit.list_events(session, audit.AuditFilter(action="publish"))
        assert (event.staff_name, event.target) == ("tanaka", f"version {version_id}")
        assert event.details["edits"] == ["synonym: 低炭素 ← グリーンカーテン"]


def test_an_empty_draft_publishes_nothing(service: PlanService) -> None:
    with pytest.raises(EditError, match="the draft is empty"):
        publish(service.sessions, "tanaka", "")


def test_rollback_restores_the_previous_answer_and_is_audited(service: PlanService) -> None:
    _publish_green(service)
    service.active.refresh()
    rollback(service.sessions, 1, "suzuki")
    service.active.refresh()
    assert service.active.version_id == 1
    assert not service.bundle.index.search(GREEN).answered
    with service.sessions() as session:
        [event] = audit.list_events(session, audit.AuditFilter(action="rollback"))
        assert (event.staff_name, event.target, event.details["previous"]) == ("suzuki", "version 1", 2)
    with pytest.raises(UnknownVersionError, match="no plan version 9"):
        rollback(service.sessions, 9, "suzuki")


def test_an_exported_version_reindexes_to_the_same_digest(service: PlanService, tmp_path: Path) -> None:
    version_id = _publish_green(service)
    target = tmp_path / "exported"
    names = export_version(service.sessions, version_id, target, "tanaka")
    assert names == sorted(read_sources(bundled_plan_dir()))
    with service.sessions() as session:
        stored = session.get(PlanVersion, version_id)
        assert stored is not None
        assert digest(read_sources(target)) == stored.digest
        assert not bundled_matches(service.active.bundle) or service.active.version_id != version_id
        assert [e.target for e in audit.list_events(session, audit.AuditFilter(action="export"))] == [
            f"version {version_id}"
        ]


def test_export_refuses_a_folder_with_other_plan_files(service: PlanService, tmp_path: Path) -> None:
    folder = tmp_path / "repository"
    folder.mkdir()
    (folder / "chapter7.yaml").write_text("number: 7\n", encoding="utf-8")
    with pytest.raises(EditError, match=r"has plan files version 1 does not: chapter7\.yaml"):
        export_version(service.sessions, 1, folder, "tanaka")
    assert sorted(p.name for p in folder.iterdir()) == ["chapter7.yaml"]


def test_the_whole_loop_on_the_command_line(service: PlanService, tmp_path: Path) -> None:
    green = ask(service, GREEN)
    env = {
        "PLANBOT_DATA_DIR": str(service.settings.data_dir),
        "LOG_SALT": service.settings.log_salt,
        "DATABASE_URL": "",
    }
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert run("resolve", str(green), "--measure", "4-1-2", "--by", "tanaka").startswith(
        f"resolved {green}: 4-1-2"
    )
    suggested = run("suggest", str(green), "--accept", "1", "--by", "tanaka")
    assert "1. synonym: 低炭素 ← グリーンカーテン  → rank 1" in suggested
    assert "added to the draft: synonym: 低炭素 ← グリーンカーテン" in suggested
    run("draft", "set", "2-2-4", "contact", "保育課", "--phone", "048-463-1111", "--by", "tanaka")
    assert "contact of 2-2-4: 保育課 048-463-1111" in run("draft")
    shown = json.loads(run("preview", "--json"))
    assert shown["resolved"] == [
        {"q": GREEN, "verdict": "4-1-2", "before": "回答なし", "after": "4-1-2 4-2-1 4-2-2"}
    ]
    assert shown["quality"]["市の正解集"]["after"]["hit@1"] == 1.0
    assert shown["warnings"] == []
    assert "published 2 change(s) as version 2" in run("publish", "--label", "緑", "--by", "tanaka")
    listed = run("versions")
    assert listed.startswith("*   2 ") and "[tanaka] 緑" in listed
    assert "python -m bot versions export 2 plan_data" in listed
    exported = tmp_path / "plan"
    run("versions", "export", "2", str(exported), "--by", "tanaka")
    assert run("reindex", "--plan-dir", str(exported)).startswith("no changes")
    assert json.loads(run("answer-key")) == {"q": GREEN, "relevant": ["4-1-2"], "kind": "resident"}
    assert "version 1 (" in run("reindex", "--activate", "1", "--by", "suzuki")
    trail = json.loads(run("audit", "--json"))
    assert [(e["action"], e["staff"], e["target"]) for e in trail] == [
        ("rollback", "suzuki", "version 1"),
        ("export", f"cli:{getpass.getuser()}", "answer key"),
        ("export", "tanaka", "version 2"),
        ("publish", "tanaka", "version 2"),
        ("edit", "tanaka", "2-2-4"),
        ("edit", "tanaka", "低炭素"),
        ("resolve", "tanaka", f"exchange {green}"),
    ]


def test_quality_over_time_scores_every_version_on_todays_answer_key(service: PlanService) -> None:
    green = ask(service, GREEN)
    with service.sessions() as session, session.begin():
        resolve(session, [green], Verdict(MEASURES, ("4-1-2",)), "tanaka", service.bundle.plan)
    _publish_green(service)
    shipped = bundled_questions()[:40]
    with service.sessions() as session:
        rows = quality_by_version(session, shipped=shipped)
    assert [(row.version_id, row.active) for row in rows] == [(1, False), (2, True)]
    assert [row.answer_key.hit1 if row.answer_key else None for row in rows] == [0.0, 1.0]
    assert all(
        row.shipped is not None and row.shipped.answerable + row.shipped.out_of_scope == 40 for row in rows
    )


def test_each_version_shows_what_it_changed(service: PlanService) -> None:
    version_id = _publish_green(service)
    with service.sessions() as session:
        assert version_changes(session, 1) == []
        [change] = version_changes(session, version_id) or []
        assert (change.kind, change.subject) == ("synonyms", "低炭素")
        with pytest.raises(UnknownVersionError):
            version_changes(session, 99)
