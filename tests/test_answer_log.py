"""The answer log: what is stored, pseudonyms, never losing an entry, concurrency, migrations."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from bot.answer_log import AnswerLog, ExchangeRecord, HitRecord, _from_line, _to_line, new_uid
from bot.config import Settings
from bot.reports import LogFilter, compute_stats, count_exchanges, measure_ranks
from bot.service import PlanService
from bot.store import (
    Base,
    Exchange,
    ExchangeCandidate,
    ExchangeHit,
    Feedback,
    make_engine,
    make_sessionmaker,
    pseudonym,
    upgrade,
    utcnow,
)
from tests.helpers import converse, make_settings
from tests.postgres_server import PostgresServer

QUESTIONS = ["保育園が足りない", "空き家", "今日の天気は？", "ゴミの分別どうなるの？", "バス少なすぎ"]


def _ask(service: PlanService, user_id: int, question: str) -> str:
    return converse(service, "telegram", user_id, question).uid


def _count(service: PlanService, model: type[Base] = Exchange) -> int:
    with service.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_exchange_is_stored_with_everything_staff_need(service: PlanService) -> None:
    uid = _ask(service, 424242, "保育園が足りない")
    assert service.log.flush()
    with service.sessions() as session:
        exchange = session.scalar(select(Exchange).where(Exchange.uid == uid))
        assert exchange is not None
        assert exchange.channel == "telegram"
        assert exchange.created_at.tzinfo is not None
        assert abs(utcnow() - exchange.created_at) < dt.timedelta(minutes=1)
        assert exchange.question == "保育園が足りない"
        assert exchange.answered is True
        assert exchange.plan_version == service.bundle.digest
        assert exchange.latency_ms > 0
        assert [h.rank for h in exchange.hits] == list(range(1, len(exchange.hits) + 1))
        assert exchange.hits[0].measure_id == "2-2-4"
        assert exchange.hits[0].chapter == 2


def test_declined_exchange_stores_no_hits(service: PlanService) -> None:
    uid = _ask(service, 1, "将棋の駒の動かし方教えて")
    assert service.log.flush()
    with service.sessions() as session:
        exchange = session.scalar(select(Exchange).where(Exchange.uid == uid))
        assert exchange is not None and exchange.answered is False and exchange.hits == []


DECLINED = "所沢市のごみ収集日は？"  # none (another city), though the search ranks 4-2-2 first
RELATED = "保育園の申し込みはいつから？"  # related: the plan lists no application dates
ANSWERED = "保育園が足りない"


def test_related_and_declined_exchanges_keep_the_search_candidates(service: PlanService) -> None:
    uids = {question: _ask(service, 1, question) for question in (DECLINED, RELATED, ANSWERED)}
    assert service.log.flush()
    ranked = {q: [hit.id for hit in service.bundle.index.search(q).candidates][:5] for q in uids}
    assert ranked[DECLINED][0] == "4-2-2"
    with service.sessions() as session:
        stored = {q: session.scalar(select(Exchange).where(Exchange.uid == uid)) for q, uid in uids.items()}
        candidates = {
            q: [(c.rank, c.measure_id, c.chapter) for c in exchange.candidates]
            for q, exchange in stored.items()
            if exchange is not None
        }
        declined = stored[DECLINED]
        assert declined is not None and declined.answered is False and declined.hits == []
    for question in (DECLINED, RELATED):
        expected = [(rank, mid, int(mid.split("-")[0])) for rank, mid in enumerate(ranked[question], 1)]
        assert candidates[question] == expected
    assert candidates[ANSWERED] == []


def test_candidates_are_not_counted_as_shown_measures(service: PlanService) -> None:
    for question in (DECLINED, RELATED, ANSWERED):
        _ask(service, 1, question)
    assert service.log.flush()
    with service.sessions() as session:
        assert _count(service, ExchangeCandidate) == 10
        stats = compute_stats(session, LogFilter(), service.bundle.plan)
        assert [(mid, n) for mid, _citation, n in stats.top_measures] == [("2-2-4", 1)]
        assert stats.per_chapter == {2: 1}
        # 4-2-2 was only a candidate of the declined question: never shown, never counted.
        assert count_exchanges(session, LogFilter(measure="4-2-2")) == 0
        assert measure_ranks(session, "4-2-2", LogFilter()) == []
        assert count_exchanges(session, LogFilter(measure="2-2-4")) == 2  # answered, and related


def test_no_raw_user_id_or_name_is_stored(service: PlanService, settings: Settings) -> None:
    _ask(service, 987654321, "空き家")
    assert service.log.flush()
    dump = "\n".join(sqlite3.connect(settings.database_url.removeprefix("sqlite:///")).iterdump())
    assert "987654321" not in dump
    assert pseudonym(settings.log_salt, "telegram", 987654321) in dump
    assert pseudonym("other-salt", "telegram", 987654321) != pseudonym(
        settings.log_salt, "telegram", 987654321
    )


def test_second_feedback_press_replaces_the_first(service: PlanService) -> None:
    uid = _ask(service, 7, "空き家")
    service.record_feedback("telegram", 7, uid, True)
    service.record_feedback("telegram", 7, uid, False)
    service.record_feedback("telegram", 8, uid, True)
    assert service.log.flush()
    with service.sessions() as session:
        ratings = session.execute(select(Feedback.user_key, Feedback.helpful)).all()
    assert sorted(helpful for _key, helpful in ratings) == [False, True]
    assert len(ratings) == 2


def _concurrent_users(service: PlanService, users: int = 20, each: int = 10) -> list[str]:
    uids: list[str] = []
    lock = threading.Lock()

    def resident(user_id: int) -> None:
        for n in range(each):
            uid = _ask(service, user_id, QUESTIONS[(user_id + n) % len(QUESTIONS)])
            with lock:
                uids.append(uid)

    threads = [threading.Thread(target=resident, args=(user,)) for user in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return uids


def test_200_exchanges_from_20_concurrent_users(service: PlanService) -> None:
    uids = _concurrent_users(service)
    assert service.log.flush(timeout=30)
    assert _count(service) == 200
    with service.sessions() as session:
        assert set(session.scalars(select(Exchange.uid))) == set(uids)


@pytest.mark.postgres
def test_200_exchanges_from_20_concurrent_users_on_postgres(pg_settings: Settings) -> None:
    service = PlanService.start(pg_settings)
    try:
        _concurrent_users(service)
        assert service.log.flush(timeout=30)
        assert _count(service) == 200
    finally:
        service.close()


def _stored_order(service: PlanService) -> list[str]:
    with service.sessions() as session:
        return list(session.scalars(select(Exchange.uid).order_by(Exchange.id)))


def test_locked_database_spools_then_writes_exactly_once_in_order(settings: Settings) -> None:
    service = PlanService.start(settings)
    service.log._retry_seconds = 0.2
    try:
        first = _ask(service, 1, "空き家")
        assert service.log.flush()
        # Another program holds an exclusive lock: writes fail after the busy timeout.
        locker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        during = [_ask(service, n, QUESTIONS[n % 5]) for n in range(5)]
        assert not service.log.flush(timeout=8)  # still locked: entries wait in the spool
        assert service.log.spooled >= 1
        locker.rollback()
        locker.close()
        assert service.log.flush(timeout=15)
        assert _stored_order(service) == [first, *during]
    finally:
        service.close()


def _declined_exchange(question: str) -> ExchangeRecord:
    """A log entry as a process that died would have left it in its spool."""
    return ExchangeRecord(
        uid=new_uid(),
        created_at=utcnow(),
        channel="telegram",
        user_key="k" * 64,
        question=question,
        answered=False,
        reason="no_match",
        plan_version="x",
        latency_ms=1.0,
    )


def test_spool_left_by_a_dead_process_is_adopted(settings: Settings, tmp_path: Path) -> None:
    record = _declined_exchange("orphaned")
    spool = settings.data_dir / "spool"
    spool.mkdir(parents=True)
    # Written twice, as a crash between commit and spool rewrite would leave it.
    (spool / "99999-deadbeef.jsonl").write_text(_to_line(record) + "\n" + _to_line(record) + "\n")
    service = PlanService.start(settings)
    try:
        assert service.log.flush()
        with service.sessions() as session:
            assert session.scalar(select(func.count()).where(Exchange.question == "orphaned")) == 1
        assert not (spool / "99999-deadbeef.jsonl").exists()
    finally:
        service.close()


def test_candidates_go_through_the_journal_and_older_lines_still_replay(settings: Settings) -> None:
    record = replace(_declined_exchange("with candidates"), candidates=(HitRecord("4-2-2", 1, 3.5, 4),))
    assert _from_line(_to_line(record)) == record
    old = json.loads(_to_line(_declined_exchange("journalled before candidates")))
    del old["candidates"]
    spool = settings.data_dir / "spool"
    spool.mkdir(parents=True)
    (spool / "99999-deadbeef.jsonl").write_text(_to_line(record) + "\n" + json.dumps(old) + "\n")
    service = PlanService.start(settings)
    try:
        assert service.log.flush()
        with service.sessions() as session:
            stored = {
                e.question: [c.measure_id for c in e.candidates] for e in session.scalars(select(Exchange))
            }
        assert stored == {"with candidates": ["4-2-2"], "journalled before candidates": []}
        assert not (spool / "rejected.jsonl.txt").exists()
    finally:
        service.close()


@pytest.mark.postgres
def test_postgres_killed_mid_run_loses_nothing(
    pg_settings: Settings, postgres_server: PostgresServer
) -> None:
    service = PlanService.start(pg_settings)
    service.log._retry_seconds = 0.3
    try:
        before = [_ask(service, n, QUESTIONS[n % 5]) for n in range(3)]
        assert service.log.flush()
        postgres_server.stop()
        try:
            during = []
            for n in range(6):
                exchange = converse(service, "telegram", n, QUESTIONS[n % 5])
                assert exchange.question  # residents still get their answer
                during.append(exchange.uid)
            assert not service.log.flush(timeout=3)
            assert service.log.spooled == 6
        finally:
            postgres_server.start()
        assert service.log.flush(timeout=30)
        assert _stored_order(service) == [*before, *during]
    finally:
        service.close()


def test_log_writer_never_blocks_the_caller(settings: Settings) -> None:
    """record() is a journal append: answering goes on while the database is locked."""
    service = PlanService.start(settings)
    try:
        locker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        # Writing through the lock would wait out the busy timeout (5 s) for each answer.
        seconds: list[float] = []

        def answer_all() -> None:
            for n in range(20):
                started = time.monotonic()
                _ask(service, n, "空き家")
                seconds.append(time.monotonic() - started)

        answering = threading.Thread(target=answer_all)
        answering.start()
        answering.join(60)
        assert not answering.is_alive() and len(seconds) == 20
        assert max(seconds) < 2.5, seconds  # none waited for the lock, however loaded the machine
        locker.rollback()
        locker.close()
        assert service.log.flush(timeout=30)
        assert _count(service) == 20
    finally:
        service.close()


def test_flush_waits_for_an_entry_recorded_as_the_writer_goes_idle(
    service: PlanService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer finds nothing more to store, then (descheduled) marks itself idle after a new entry
    came: flush must not take that idle for its own entry's."""
    from bot import answer_log

    read_nothing = threading.Event()
    unstored = answer_log._Journal.unstored

    def descheduled_after_an_empty_read(journal: answer_log._Journal) -> list[tuple[answer_log.Record, int]]:
        entries = unstored(journal)
        if not entries:
            read_nothing.set()
            threading.Event().wait(0.05)  # between the empty read and marking itself idle
            read_nothing.clear()
        return entries

    monkeypatch.setattr(answer_log._Journal, "unstored", descheduled_after_an_empty_read)
    for n in range(5):
        _ask(service, n, "空き家")
        assert read_nothing.wait(5)
        _ask(service, n, "保育園が足りない")  # arrives in that gap
        assert service.log.flush()
        assert _count(service) == 2 * (n + 1)


def _migrated_matches_models(url: str) -> list[object]:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_migrations_build_the_models_on_sqlite(tmp_path: Path) -> None:
    assert _migrated_matches_models(f"sqlite:///{tmp_path / 'empty.sqlite3'}") == []


@pytest.mark.postgres
def test_migrations_build_the_models_on_postgres(pg_database: str) -> None:
    assert _migrated_matches_models(pg_database) == []


def test_answer_log_writes_hits_for_each_rank(service: PlanService) -> None:
    _ask(service, 5, "ゴミの分別どうなるの？")
    assert service.log.flush()
    assert _count(service, ExchangeHit) >= 1


def test_settings_accept_hosting_platform_postgres_urls(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATABASE_URL="postgres://u:secret@db.example:5432/planbot")
    assert settings.database_url == "postgresql+psycopg://u:secret@db.example:5432/planbot"
    assert not settings.embedded_database


def test_settings_hide_secrets(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, TELEGRAM_BOT_TOKEN="123:SECRET", LOG_SALT="salty-salt-0123456789abcdef0123456789"
    )
    assert "SECRET" not in repr(settings) and "salty" not in repr(settings)


def test_local_salt_is_private_and_stable(tmp_path: Path) -> None:
    env = {"PLANBOT_DATA_DIR": str(tmp_path)}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert first.log_salt == second.log_salt and len(first.log_salt) == 64
    assert (tmp_path / "log_salt").stat().st_mode & 0o777 == 0o600


def test_embedded_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"PLANBOT_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'planbot.sqlite3'}"
    with make_engine(settings.database_url).connect() as connection:
        assert connection.execute(text("select 1")).scalar() == 1


def test_journal_is_emptied_once_the_database_has_everything(
    service: PlanService, settings: Settings
) -> None:
    _ask(service, 1, "空き家")
    assert service.log.flush()
    assert list((settings.data_dir / "spool").glob("*.jsonl")) == [service.log.journal_path]
    assert service.log.journal_path.read_text() == ""


def test_answer_log_can_be_built_directly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'direct.sqlite3'}"
    upgrade(url)
    log = AnswerLog(make_sessionmaker(make_engine(url)), tmp_path / "spool")
    try:
        assert log.flush()
    finally:
        log.close()


def test_an_entry_the_database_refuses_is_kept_aside_and_the_rest_go_on(settings: Settings) -> None:
    service = PlanService.start(settings)
    try:
        good_before = _ask(service, 1, "空き家")
        bad = converse(service, "telegram", 2, "保育園が足りない", log=False)
        # A naive timestamp is refused by the model for good (not a passing outage).
        service.log.record(replace(bad, created_at=bad.created_at.replace(tzinfo=None)))
        good_after = _ask(service, 3, "空き家")
        assert service.log.flush()
        assert _stored_order(service) == [good_before, good_after]
        rejected = (settings.data_dir / "spool" / "rejected.jsonl.txt").read_text(encoding="utf-8")
        assert bad.uid in rejected
    finally:
        service.close()


def test_a_spool_torn_by_a_crash_does_not_block_start_up(settings: Settings) -> None:
    spool = settings.data_dir / "spool"
    spool.mkdir(parents=True)
    record = _declined_exchange("before the crash")
    (spool / "4242-cafebabe.jsonl").write_text(_to_line(record) + '\n{"type": "exchange", "uid": "tor')
    service = PlanService.start(settings)
    try:
        assert service.log.flush()
        with service.sessions() as session:
            assert session.scalar(select(func.count()).where(Exchange.question == "before the crash")) == 1
        assert '{"type": "exchange", "uid": "tor' in (spool / "rejected.jsonl.txt").read_text()
    finally:
        service.close()


def test_entries_left_in_the_queue_at_shutdown_stay_in_the_spool(settings: Settings) -> None:
    service = PlanService.start(settings)
    locker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        uids = [_ask(service, n, "空き家") for n in range(3)]
        service.log.close(timeout=0.5)  # the writer is stuck waiting for the lock
    finally:
        locker.rollback()
        locker.close()
    restarted = PlanService.start(settings)
    try:
        assert restarted.log.flush(timeout=30)
        assert set(_stored_order(restarted)) == set(uids)
    finally:
        restarted.close()
