"""The database: SQLAlchemy models, engine set-up and Alembic migrations.

The answer log never stores who a resident is: `user_key` is an HMAC of the
channel's user id with LOG_SALT, enough to group one person's exchanges and keep
one rating per person, useless to identify them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

__all__ = [
    "AuditEvent",
    "Base",
    "Exchange",
    "ExchangeCandidate",
    "ExchangeHit",
    "Export",
    "Feedback",
    "HandledItem",
    "LoginAttempt",
    "PlanEdit",
    "PlanVersion",
    "Resolution",
    "StaffAction",
    "StaffSession",
    "StaffUser",
    "make_engine",
    "make_sessionmaker",
    "open_database",
    "pseudonym",
    "upgrade",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pseudonym(salt: str, channel: str, user_id: object) -> str:
    """HMAC-SHA256 of the channel's user id: stable per person, not reversible without the salt."""
    message = f"{channel}:{user_id}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: the answer log stores UTC times only")
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime()}  # noqa: RUF012 - SQLAlchemy reads it once


class Exchange(Base):
    """One question and what the bot answered."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    question: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    plan_version: Mapped[str] = mapped_column(String(64), index=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    # The conversation after this exchange (what was shown, what to offer on 他には),
    # so that any process can take up a resident's follow-up; None for small talk.
    state: Mapped[dict[str, object] | None] = mapped_column(JSON)

    hits: Mapped[list[ExchangeHit]] = relationship(
        back_populates="exchange", order_by="ExchangeHit.rank", cascade="all, delete-orphan"
    )
    # For a related or declined question: what the search ranked, kept for staff resolving it.
    candidates: Mapped[list[ExchangeCandidate]] = relationship(
        back_populates="exchange", order_by="ExchangeCandidate.rank", cascade="all, delete-orphan"
    )
    feedback: Mapped[list[Feedback]] = relationship(back_populates="exchange", cascade="all, delete-orphan")


class _RankedMeasure:
    """The columns of a measure at its rank for one exchange (shown hits and candidates alike)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    measure_id: Mapped[str] = mapped_column(String(16), index=True)
    chapter: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[float] = mapped_column(Float)


class ExchangeHit(_RankedMeasure, Base):
    """A measure shown in an answer, at its rank."""

    __tablename__ = "exchange_hits"

    exchange: Mapped[Exchange] = relationship(back_populates="hits")


class ExchangeCandidate(_RankedMeasure, Base):
    """A measure the search ranked for a related or declined question, at its rank.

    A table of its own rather than a flag on `exchange_hits`, so that every count of
    shown measures (statistics, measure pages, filters, CSV) stays what it was.
    """

    __tablename__ = "exchange_candidates"

    exchange: Mapped[Exchange] = relationship(back_populates="candidates")


class Feedback(Base):
    """A resident's rating of an answer; one current rating per person and exchange."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("exchange_id", "user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    user_key: Mapped[str] = mapped_column(String(64))
    helpful: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]

    exchange: Mapped[Exchange] = relationship(back_populates="feedback")


class PlanVersion(Base):
    """A validated plan (files and thesaurus) as reindexed; exactly one is active."""

    __tablename__ = "plan_versions"
    # At most one active version, even when two staff reindex at the same moment.
    __table_args__ = (
        Index(
            "uq_plan_versions_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    label: Mapped[str] = mapped_column(String(200))
    sources: Mapped[dict[str, str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[dt.datetime | None]
    author: Mapped[str | None] = mapped_column(String(64))  # who stored it (staff name or cli:user)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime]
    # "editor" may resolve, edit, publish and roll back; "viewer" only reads.
    role: Mapped[str] = mapped_column(String(16), default="viewer", server_default="viewer")


class StaffSession(Base):
    """A signed-in browser. The cookie carries a random token, this row only its SHA-256, so
    logout, a new password or removing the account ends the session in every web process."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime]
    seen_at: Mapped[dt.datetime]


class LoginAttempt(Base):
    """A staff login attempt, counted before its password is checked (the login throttle).

    In the database, so every web process behind a load balancer counts the same attempts.
    `key` is a keyed hash (LOG_SALT) of the name, the address or both, never the text typed.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_kind_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # pair | address | name
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(index=True)


class StaffAction(Base):
    """Audit of what staff did to residents' exchanges beyond reading: revealing personal data, deleting."""

    __tablename__ = "staff_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # "reveal" or "delete"
    exchange_id: Mapped[int] = mapped_column(Integer)  # no foreign key: a deleted exchange stays audited
    created_at: Mapped[dt.datetime]


class HandledItem(Base):
    """An unanswered or unhelpful exchange that staff have dealt with (it leaves the inbox)."""

    __tablename__ = "handled_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), unique=True)
    staff_name: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]


class Export(Base):
    """Who exported which filter when: exports leave the system, so they are recorded."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_name: Mapped[str] = mapped_column(String(64))
    filter: Mapped[dict[str, str]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]


class Resolution(Base):
    """Staff's verdict on an exchange: the measures that answer it, out of scope, or spam.

    Measure and out-of-scope verdicts are labelled questions: the city's own answer key.
    The question is copied so the key survives the log's retention purge.
    """

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchanges.id", ondelete="SET NULL"), unique=True
    )
    question: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))  # "measures", "out_of_scope" or "spam"
    measures: Mapped[list[str]] = mapped_column(JSON)
    staff_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


class PlanEdit(Base):
    """One change to the plan's search data or metadata, drafted before it is published.

    Pending edits are applied, in order, to the active version's files to build the
    candidate plan; publishing stores that as a new version and marks them published.
    A rejected suggestion is kept as a rejected edit, so it is not suggested again.
    """

    __tablename__ = "plan_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    value: Mapped[object] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending, published, rejected
    exchange_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id", ondelete="SET NULL"))
    staff_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    version_id: Mapped[int | None] = mapped_column(ForeignKey("plan_versions.id", ondelete="SET NULL"))


class AuditEvent(Base):
    """Who did what when: every resolution, edit, publish, rollback and export."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    staff_name: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, object]] = mapped_column(JSON)


# A database that stops answering must fail within seconds, not hold a thread forever:
# connecting, every statement and lock wait, and the socket itself (keepalives for a
# silent peer, tcp_user_timeout for data that is never acknowledged) are bounded.
# A server that is frozen while its kernel still acknowledges is noticed by
# `health.DatabaseHealth` instead; nothing waits on it but background threads.
POSTGRES_TIMEOUTS: dict[str, object] = {
    "connect_timeout": 5,
    "options": "-c statement_timeout=60000 -c lock_timeout=5000 -c idle_in_transaction_session_timeout=60000",
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}


def _private_file(path: Path) -> None:
    """Make the SQLite file readable by this user only (it holds questions, password hashes, sessions).

    Created with mode 600 before SQLite opens it (SQLite gives its -wal and -shm files the
    same mode); a file left readable by an earlier release is tightened.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout so bots and staff share them."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 5})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=POSTGRES_TIMEOUTS)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Apply every migration up to the newest (`python -m bot db upgrade`)."""
    command.upgrade(alembic_config(url), "head")


def open_database(url: str, *, migrate: bool) -> sessionmaker[Session]:
    """A session factory for `url`; `migrate` for the embedded SQLite file, which upgrades itself."""
    if migrate:
        upgrade(url)
    return make_sessionmaker(make_engine(url))
