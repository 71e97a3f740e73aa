"""Resolving exchanges: verdicts, undo, the answer key, context, the audit trail, and roles."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot import audit
from bot.cli import cli
from bot.curation import (
    MEASURES,
    OUT_OF_SCOPE,
    SPAM,
    Verdict,
    answer_key,
    answer_key_jsonl,
    context,
    find_measures,
    reopen,
    resolve,
)
from bot.errors import CurationError, StaffAccountError
from bot.reports import LogFilter, compute_stats, count_exchanges, spam_exchange_ids
from bot.service import PlanService
from bot.staff_auth import add_staff, find_staff
from bot.store import Exchange, StaffUser, alembic_config, make_engine, make_sessionmaker, upgrade
from index.evaluate import read_questions
from tests.helpers import converse

PASSWORD = "correct horse battery"


def ask(service: PlanService, question: str, *, user: int = 1) -> int:
    """A question through the real answer path; the logged exchange's id."""
    exchange = converse(service, "console", user, question)
    assert service.log.flush()
    with service.sessions() as session:
        exchange_id = session.scalar(select(Exchange.id).where(Exchange.uid == exchange.uid))
    assert exchange_id is not None
    return exchange_id


def test_a_verdict_takes_the_exchange_out_of_the_inbox_and_into_the_answer_key(service: PlanService) -> None:
    green = ask(service, "グリーンカーテンってやってる？")
    weather = ask(service, "明日の天気は？")
    prank = ask(service, "うんこ")
    inbox = LogFilter(inbox=True)
    with service.sessions() as session, session.begin():
        assert count_exchanges(session, inbox) == 3
        resolve(session, [green], Verdict(MEASURES, ("4-1-2",)), "tanaka", service.bundle.plan)
        resolve(session, [weather], Verdict(OUT_OF_SCOPE), "tanaka", service.bundle.plan)
        resolve(session, [prank], Verdict(SPAM), "suzuki", service.bundle.plan)
    with service.sessions() as session:
        assert count_exchanges(session, inbox) == 0
        key = answer_key(session)
        assert {(q.q, q.relevant, q.kind) for q in key} == {
            ("グリーンカーテンってやってる？", ("4-1-2",), "resident"),
            ("明日の天気は？", (), "out_of_scope"),
        }
        assert list(session.scalars(spam_exchange_ids())) == [prank]
        assert compute_stats(session, LogFilter(), None).exchanges == 2  # mischief is not counted


def test_a_whole_word_group_is_resolved_at_once_and_can_be_reopened(service: PlanService) -> None:
    ids = [
        ask(service, q, user=n)
        for n, q in enumerate(["グリーンカーテン", "グリーンカーテンの補助", "緑のカーテン"])
    ]
    with service.sessions() as session, session.begin():
        stored = resolve(session, ids, Verdict(MEASURES, ("4-1-2",)), "tanaka", service.bundle.plan)
    assert [item.exchange_id for item in stored] == ids
    with service.sessions() as session, session.begin():
        assert reopen(session, ids[:2], "tanaka") == 2
    with service.sessions() as session:
        assert [q.q for q in answer_key(session)] == ["緑のカーテン"]
        assert count_exchanges(session, LogFilter(inbox=True)) >= 2  # back in the inbox (if unanswered)
        events = audit.list_events(session, audit.AuditFilter(action="reopen"))
        assert sorted(e.target for e in events) == [f"exchange {ids[0]}", f"exchange {ids[1]}"]
        assert events[0].details["undone"] == "4-1-2"


def test_a_new_verdict_replaces_the_old_one_and_the_trail_keeps_both(service: PlanService) -> None:
    exchange = ask(service, "グリーンカーテンってやってる？")
    plan = service.bundle.plan
    with service.sessions() as session, session.begin():
        resolve(session, [exchange], Verdict(OUT_OF_SCOPE), "tanaka", plan)
    with service.sessions() as session, session.begin():
        resolve(session, [exchange], Verdict(MEASURES, ("4-1-2", "4-1-1")), "suzuki", plan)
    with service.sessions() as session:
        assert [(q.relevant, q.kind) for q in answer_key(session)] == [(("4-1-2", "4-1-1"), "resident")]
        trail = audit.list_events(session, audit.AuditFilter(target=f"exchange {exchange}"))
        assert [(e.staff_name, e.details["verdict"], e.details["replaced"]) for e in trail] == [
            ("suzuki", "measures", "計画の対象外"),
            ("tanaka", "out_of_scope", None),
        ]


BAD_VERDICTS = [
    (Verdict(MEASURES, ()), "choose at least one measure"),
    (Verdict(MEASURES, ("9-9-9",)), "the plan has no measure '9-9-9'"),
    (Verdict(SPAM, ("4-1-2",)), "names no measures"),
    (Verdict("maybe"), "unknown verdict 'maybe'"),
]


@pytest.mark.parametrize(("verdict", "message"), BAD_VERDICTS)
def test_incomplete_verdicts_are_refused(service: PlanService, verdict: Verdict, message: str) -> None:
    exchange = ask(service, "グリーンカーテン")
    with service.sessions() as session, pytest.raises(CurationError, match=message):
        resolve(session, [exchange], verdict, "tanaka", service.bundle.plan)


def test_unknown_exchanges_are_refused(service: PlanService) -> None:
    with service.sessions() as session, pytest.raises(CurationError, match="no such exchange: 404"):
        resolve(session, [404], Verdict(OUT_OF_SCOPE), "tanaka", service.bundle.plan)


def test_the_answer_key_exports_in_the_evaluate_format(service: PlanService, tmp_path: Path) -> None:
    exchange = ask(service, "グリーンカーテンってやってる？")
    with service.sessions() as session, session.begin():
        resolve(session, [exchange], Verdict(MEASURES, ("4-1-2",)), "tanaka", service.bundle.plan)
    with service.sessions() as session:
        path = tmp_path / "key.jsonl"
        path.write_text(answer_key_jsonl(answer_key(session)), encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "q": "グリーンカーテンってやってる？",
        "relevant": ["4-1-2"],
        "kind": "resident",
    }
    assert [q.relevant for q in read_questions(path)] == [("4-1-2",)]


def test_context_shows_the_same_residents_exchanges_within_half_an_hour(service: PlanService) -> None:
    first = ask(service, "グリーンカーテン", user=7)
    second = ask(service, "保育園が足りない", user=7)
    ask(service, "保育園が足りない", user=8)  # someone else
    late = ask(service, "空き家", user=7)
    with service.sessions() as session, session.begin():
        moved = session.get(Exchange, late)
        assert moved is not None
        moved.created_at += dt.timedelta(hours=1)  # an hour after the others
    with service.sessions() as session:
        rows = context(session, second)
    assert [(row.id, row.current) for row in rows] == [(first, False), (second, True)]
    assert (rows[0].answered, rows[1].answered, rows[1].shown[0]) == (False, True, "2-2-4")


def role_of(session: Session, name: str) -> str | None:
    user = find_staff(session, name)
    return None if user is None else user.role


def test_roles_default_to_viewer(service: PlanService) -> None:
    with service.sessions() as session, session.begin():
        add_staff(session, "viewer1", PASSWORD)
        add_staff(session, "editor1", PASSWORD, role="editor")
        with pytest.raises(StaffAccountError, match="unknown role 'admin'"):
            add_staff(session, "admin1", PASSWORD, role="admin")
    with service.sessions() as session:
        assert [role_of(session, name) for name in ("viewer1", "editor1", "admin1")] == [
            "viewer",
            "editor",
            None,
        ]


def test_staff_add_takes_a_role(service: PlanService) -> None:
    env = {
        "PLANBOT_DATA_DIR": str(service.settings.data_dir),
        "LOG_SALT": service.settings.log_salt,
        "DATABASE_URL": "",
    }
    runner = CliRunner()
    added = runner.invoke(cli, ["staff", "add", "sato", "--role", "editor"], input=PASSWORD + "\n", env=env)
    assert (added.exit_code, added.output) == (0, "added staff account 'sato' (editor)\n")
    wrong = runner.invoke(cli, ["staff", "add", "ito", "--role", "admin"], input=PASSWORD + "\n", env=env)
    assert wrong.exit_code == 2 and "'admin' is not one of 'editor', 'viewer'" in wrong.output
    with service.sessions() as session:
        assert session.scalar(select(StaffUser.role).where(StaffUser.name == "sato")) == "editor"


def _old_accounts_become_editors(url: str) -> None:
    command.upgrade(alembic_config(url), "0001")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO staff_users (name, password_hash, created_at) VALUES ('old', 'x', '2026-01-01')"
            )
        )
    upgrade(url)
    with make_sessionmaker(engine)() as session, session.begin():
        assert role_of(session, "old") == "editor"
        add_staff(session, "new", PASSWORD)
    with make_sessionmaker(engine)() as session:
        assert role_of(session, "new") == "viewer"
    engine.dispose()


def test_accounts_made_before_roles_become_editors(tmp_path: Path) -> None:
    _old_accounts_become_editors(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.postgres
def test_accounts_made_before_roles_become_editors_on_postgres(pg_database: str) -> None:
    _old_accounts_become_editors(pg_database)


def test_the_audit_trail_filters_by_staff_action_and_time(service: PlanService) -> None:
    exchange = ask(service, "グリーンカーテン")
    plan = service.bundle.plan
    with service.sessions() as session, session.begin():
        resolve(session, [exchange], Verdict(OUT_OF_SCOPE), "tanaka", plan)
        reopen(session, [exchange], "suzuki")
    with service.sessions() as session:
        everything = audit.list_events(session, audit.AuditFilter())
        assert [e.action for e in everything] == ["reopen", "resolve"]
        assert [e.action for e in audit.list_events(session, audit.AuditFilter(staff="tanaka"))] == [
            "resolve"
        ]
        assert audit.list_events(session, audit.AuditFilter(action="publish")) == []
        later = everything[0].created_at + dt.timedelta(seconds=1)
        assert audit.list_events(session, audit.AuditFilter(since=later)) == []
        assert len(audit.list_events(session, audit.AuditFilter(until=later))) == 2


FIND = [
    ("2-2-4", ["2-2-4"]),  # an id
    ("保育", ["2-2-4"]),  # words of a title
    ("グリーンカーテンと省エネ", ["4-1-2"]),  # a question: what the search ranks
]


@pytest.mark.parametrize(("text", "first"), FIND)
def test_the_measure_search_box_finds_ids_titles_and_questions(
    service: PlanService, text: str, first: list[str]
) -> None:
    found = [located.middle.id for located in find_measures(service.bundle, text)]
    assert found[: len(first)] == first
    assert len(found) == len(set(found)) <= 10
    assert find_measures(service.bundle, "  ") == []
