"""The update and answer-log journals across a killed process, and a start with no database at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import update_journal
from bot.console import run_chat
from bot.service import PlanService
from bot.store import Exchange
from bot.update_journal import UpdateJournal
from tests.helpers import make_settings

# Nothing listens on port 1: connecting fails at once, as with a stopped server.
DEAD_DATABASE = "postgresql+psycopg://planbot@127.0.0.1:1/planbot"


def _update(update_id: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": "空き家"}}


def _killed(script: str) -> None:
    """Run `script` in a fresh interpreter that then dies by SIGKILL (no cleanup, no atexit)."""
    code = textwrap.dedent(script) + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == -9, completed.stderr


def test_updates_of_a_killed_process_are_handled_once_by_the_next(tmp_path: Path) -> None:
    _killed(
        f"""
        from pathlib import Path
        from bot.update_journal import UpdateJournal
        journal = UpdateJournal(Path({str(tmp_path)!r}))
        for update_id in (7, 8, 9):
            journal.receive({{"update_id": update_id, "message": {{"text": "q"}}}})
        journal.done(8)
        """
    )
    journal = UpdateJournal(tmp_path)
    try:
        assert [update["update_id"] for update in journal.pending] == [7, 9]
        # Telegram hands back what it had not seen acknowledged: none of it is handled twice.
        assert not any(journal.receive(_update(update_id)) for update_id in (7, 8, 9))
        assert journal.receive(_update(10))
        for update_id in (7, 9, 10):
            journal.done(update_id)
        assert journal.pending == []
    finally:
        journal.close()
    assert list(tmp_path.glob("*.jsonl")) == []  # nothing pending: the file goes


def test_a_living_process_journal_is_not_adopted(tmp_path: Path) -> None:
    first = UpdateJournal(tmp_path)
    first.receive(_update(1))
    second = UpdateJournal(tmp_path)
    try:
        assert second.pending == [] and second.receive(_update(1))
    finally:
        first.close()
        second.close()


def test_a_compacted_journal_still_drops_recent_redeliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(update_journal, "COMPACT_LINES", 20)
    monkeypatch.setattr(update_journal, "KEEP_IDS", 5)
    journal = UpdateJournal(tmp_path)
    try:
        for update_id in range(1, 11):
            journal.receive(_update(update_id))
            journal.done(update_id)
        assert len(journal.path.read_text().splitlines()) == 5  # the 5 newest ids, done
        assert not journal.receive(_update(10))
        assert journal.receive(_update(11))
        for update_id in range(12, 30):  # compacted while 11 is still pending: it is kept
            journal.receive(_update(update_id))
            journal.done(update_id)
        assert [update["update_id"] for update in journal.pending] == [11]
        assert len(list(tmp_path.glob("*.jsonl"))) == 1
    finally:
        journal.close()
    reopened = UpdateJournal(tmp_path)
    try:
        assert [update["update_id"] for update in reopened.pending] == [11]
        assert not reopened.receive(_update(29))
    finally:
        journal.close()


def test_answer_log_entries_of_a_killed_process_reach_the_database(tmp_path: Path) -> None:
    """Journaled while the database was unreachable, then SIGKILL: the next start stores them."""
    settings = make_settings(tmp_path)
    _killed(
        f"""
        from pathlib import Path
        from bot.answer_log import AnswerLog
        from bot.service import PlanService
        from bot.store import make_engine, make_sessionmaker
        from tests.helpers import make_settings
        service = PlanService.start(make_settings(Path({str(tmp_path)!r})))
        service.log.close()
        service.log = AnswerLog(
            make_sessionmaker(make_engine({DEAD_DATABASE!r})), Path({str(tmp_path)!r}) / "spool"
        )
        for n in range(5):
            service.record(service.answer("telegram", n, f"空き家\\u2028{{n}}"))  # a line separator
        """
    )
    service = PlanService.start(settings)
    try:
        assert service.log.flush(timeout=15)
        with service.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Exchange)) == 5
    finally:
        service.close()


def test_console_starts_and_answers_without_a_database(tmp_path: Path) -> None:
    service = PlanService.start(make_settings(tmp_path, DATABASE_URL=DEAD_DATABASE))
    questions = iter(["空き家", "+", "保育園が足りない", "/quit"])
    written: list[str] = []
    try:
        run_chat(service, read=lambda _prompt: next(questions), write=written.append)
        assert not service.health.available
        assert service.active.version_id is None  # never saw the database: the bundled plan
        assert service.log.spooled == 3  # two exchanges and a rating, waiting in the journal
    finally:
        service.close()
    output = "\n".join(written)
    assert "空き家対策の推進" in output and "幼児期等の教育と保育の充実" in output
    assert list((tmp_path / "spool").glob("*.jsonl"))  # kept for the next start


def _from_a_named_resident(update_id: int) -> dict[str, object]:
    """A button press on a reply to a message, with every name Telegram sends about the resident."""
    resident = {
        "id": 7350912846,
        "is_bot": False,
        "first_name": "Hanakoprobe",
        "last_name": "Zyxwvutsson",
        "username": "zq_privacy_probe",
        "language_code": "en",
    }
    chat = {"id": 7350912846, "type": "private", "first_name": "Hanakoprobe", "username": "zq_privacy_probe"}
    group = {"id": -100777, "type": "supergroup", "title": "Zq Neighbours", "username": "zq_group"}
    asked = {"message_id": 3, "date": 0, "chat": chat, "from": resident, "text": "空き家"}
    message = {
        "message_id": 4,
        "date": 0,
        "chat": chat,
        "from": {"id": 42, "is_bot": True, "first_name": "Plan bot", "username": "plan_bot"},
        "text": "答え",
        "reply_to_message": asked,
        "sender_chat": group,
    }
    query = {"id": "9", "from": resident, "message": message, "chat_instance": "1", "data": "f:+:abc"}
    return {"update_id": update_id, "callback_query": query}


def test_the_journal_keeps_what_handling_needs_and_no_names(tmp_path: Path) -> None:
    from telegram import Bot, Update

    journal = UpdateJournal(tmp_path)
    try:
        assert journal.receive(_from_a_named_resident(1))
        written = journal.path.read_text()
        for name in (
            "Hanakoprobe",
            "Zyxwvutsson",
            "zq_privacy_probe",
            "Zq Neighbours",
            "zq_group",
            "plan_bot",
        ):
            assert name not in written
        [kept] = journal.pending
        update = Update.de_json(kept, Bot("123:ABC"))  # read back as the replay does
        assert update is not None and update.callback_query is not None
        assert update.callback_query.from_user.id == 7350912846
        assert update.callback_query.from_user.language_code == "en"
        assert update.callback_query.data == "f:+:abc"
        message = update.callback_query.message
        assert message is not None and message.chat.id == 7350912846
        assert '"text": "空き家"' in written and '"chat_instance": "1"' in written
    finally:
        journal.close()


def test_handled_updates_leave_the_disk_within_a_few_hundred_lines(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path)
    try:
        for update_id in range(1, 601):
            journal.receive(
                {"update_id": update_id, "message": {"message_id": 1, "date": 0, "text": f"q{update_id}"}}
            )
            journal.done(update_id)
        written = journal.path.read_text()
        assert '"q1"' not in written and '"q300"' not in written  # handled long ago: gone
        assert len(written.splitlines()) <= update_journal.COMPACT_LINES
        assert not journal.receive(_update(600)) and not journal.receive(_update(450))  # recent: dropped
    finally:
        journal.close()
