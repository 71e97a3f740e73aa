"""Plan versions in the database: reindex, activate, roll back, and follow the active one.

Staff reindex from any machine; every running process (bot, web, console) follows
the active version the same way: one background thread per process polls its id
and swaps the whole PlanBundle (plan + thesaurus + index) atomically, so an
answer is always built from one version and never waits for the database. The
last version a process knew is kept in its data folder, so a process that starts
while the database is unreachable answers with it (or with the bundled plan).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, sessionmaker

from index import PlanBundle, PlanDataError, build_bundle, bundled_plan_dir, digest, read_sources
from index.diff import Change, diff_plans

from .errors import NoActivePlanError, ReindexConflictError, UnknownVersionError
from .health import DatabaseHealth, unavailable
from .store import PlanVersion, utcnow

__all__ = [
    "ActivePlan",
    "ReindexOutcome",
    "activate",
    "active_version",
    "ensure_initial_version",
    "list_versions",
    "reindex",
]

logger = logging.getLogger(__name__)

FOLLOW_SECONDS = 2.0  # one indexed read of the active id per poll: cheap for every process
LAST_KNOWN = "active_plan.json"  # in the data folder: the last version this process knew


@dataclass(frozen=True, slots=True)
class ReindexOutcome:
    bundle: PlanBundle
    changes: list[Change]
    version_id: int | None  # None: identical content or a dry run
    identical: bool
    reactivated: bool = False  # the content of an earlier version, which is active again
    first: bool = False  # no version was active: nothing to compare with, stored as it is
    base_digest: str | None = None  # the version `changes` are against (None: none this release reads)


def active_version(session: Session) -> PlanVersion | None:
    return session.scalar(select(PlanVersion).where(PlanVersion.active.is_(True)))


def _store_active(session: Session, bundle: PlanBundle, label: str, author: str | None = None) -> PlanVersion:
    session.execute(update(PlanVersion).values(active=False))
    version = PlanVersion(
        digest=bundle.digest,
        created_at=utcnow(),
        label=label,
        author=author,
        sources=dict(bundle.sources),
        active=True,
        activated_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def ensure_initial_version(sessions: sessionmaker[Session]) -> None:
    """On a new database, the bundled plan_data/ becomes version 1, active.

    For processes that answer or show the plan; `reindex` does not call it, so on a
    new database it stores its own sources with its own label rather than finding
    them already stored as "bundled". Several processes may start on one new
    database at once; the losers of that race find the version the winner stored.
    """
    with sessions() as session:
        if session.scalar(select(PlanVersion.id).limit(1)) is not None:
            return
    bundle = _bundled()
    try:
        with sessions() as session, session.begin():
            if session.scalar(select(PlanVersion.id).limit(1)) is None:
                _store_active(session, bundle, f"bundled {bundle.plan.info.version}")
    except IntegrityError:
        logger.info("another process stored the initial plan version first")


def reindex(
    sessions: sessionmaker[Session],
    sources: dict[str, str],
    *,
    label: str,
    dry_run: bool,
    author: str | None = None,
) -> ReindexOutcome:
    """Validate and build `sources`, diff against the active version, store and activate it.

    PlanDataError leaves the database untouched, so the active version keeps serving;
    ReindexConflictError when another reindex stored the same version at the same moment.
    `author` (a staff name, or cli:USER) is kept with a new version.
    """
    try:
        return _reindex(sessions, sources, label=label, dry_run=dry_run, author=author)
    except IntegrityError:
        raise ReindexConflictError(
            "another reindex stored a version at the same moment: run it again"
        ) from None


def _reindex(
    sessions: sessionmaker[Session],
    sources: dict[str, str],
    *,
    label: str,
    dry_run: bool,
    author: str | None,
) -> ReindexOutcome:
    bundle = _load(sources)
    with sessions() as session, session.begin():
        active = active_version(session)
        if active is not None and active.digest == bundle.digest:
            return ReindexOutcome(bundle, [], None, True)  # the Procfile's release line, most deploys
        current = _loadable(active)
        changes = (
            diff_plans(current.plan, current.thesaurus, bundle.plan, bundle.thesaurus)
            if current is not None
            else []
        )
        first = active is None
        base_digest = current.digest if current is not None else None
        if dry_run:
            return ReindexOutcome(bundle, changes, None, False, first=first, base_digest=base_digest)
        existing = session.scalar(select(PlanVersion).where(PlanVersion.digest == bundle.digest))
        if existing is not None:  # content of an older version: reactivate it rather than copy it
            session.execute(update(PlanVersion).values(active=False))
            existing.active, existing.activated_at = True, utcnow()
            if label:
                existing.label = label
            return ReindexOutcome(
                bundle, changes, existing.id, False, reactivated=True, first=first, base_digest=base_digest
            )
        version = _store_active(session, bundle, label or f"reindex {utcnow():%Y-%m-%d %H:%M}", author)
        return ReindexOutcome(bundle, changes, version.id, False, first=first, base_digest=base_digest)


def list_versions(session: Session) -> list[PlanVersion]:
    """Every version, newest first, without its files (read from the database only when used)."""
    query = select(PlanVersion).options(defer(PlanVersion.sources)).order_by(PlanVersion.id.desc())
    return list(session.scalars(query))


def activate(sessions: sessionmaker[Session], version_id: int) -> PlanVersion:
    """Make an earlier version active again (rollback). UnknownVersionError if there is none."""
    with sessions() as session, session.begin():
        version = session.get(PlanVersion, version_id)
        if version is None:
            raise UnknownVersionError(f"no plan version {version_id}")
        _load(version.sources)  # refuse a version this code can no longer read
        session.execute(update(PlanVersion).values(active=False))
        version.active, version.activated_at = True, utcnow()
        return version


def _loadable(version: PlanVersion | None) -> PlanBundle | None:
    """The version's bundle, or None when this code can no longer read it (validation changed)."""
    if version is None:
        return None
    try:
        return _load(version.sources)
    except PlanDataError as error:
        logger.error("plan version %s cannot be loaded by this release: %s", version.id, error)
        return None


class ActivePlan:
    """The plan version this process answers with; a background thread follows the database.

    `bundle` is read on every answer and never touches the database: `follow()` polls
    every FOLLOW_SECONDS (the one refresh policy of every process), `refresh()` checks now.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None,
        bundle: PlanBundle,
        version_id: int | None,
        *,
        last_known: Path | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self.bundle = bundle
        self.version_id = version_id
        self._unloadable: int | None = None  # a broken version is not retried every poll
        self._last_known = last_known
        self._health = health or DatabaseHealth()
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    @classmethod
    def from_database(
        cls,
        sessions: sessionmaker[Session],
        *,
        last_known: Path | None = None,
        health: DatabaseHealth | None = None,
    ) -> ActivePlan:
        """The active version; the bundled plan when this release cannot read it (until a reindex)."""
        with sessions() as session:
            active = active_version(session)
            if active is None:
                raise NoActivePlanError(
                    "the database has no active plan version: run `python -m bot reindex`"
                )
            bundle = _loadable(active)
            if bundle is not None:
                return cls(sessions, bundle, active.id, last_known=last_known, health=health)
            plan = cls(sessions, _bundled(), None, last_known=last_known, health=health)
            plan._unloadable = active.id
            return plan

    @classmethod
    def start(cls, sessions: sessionmaker[Session], data_dir: Path, health: DatabaseHealth) -> ActivePlan:
        """The active version, remembered in `data_dir`; during an outage the remembered one.

        A process must be able to start while the database is down or hung (a crash or a
        deploy during an outage): it answers with the version it last knew, or the bundled
        plan, and the follower picks up the database's version when it is back.
        """
        last_known = data_dir / LAST_KNOWN
        try:
            with health.call("start-up"):
                ensure_initial_version(sessions)
                plan = cls.from_database(sessions, last_known=last_known, health=health)
            plan._remember()
        except Exception as error:
            if not unavailable(error):
                raise
            bundle, version_id = _remembered(last_known)
            plan = cls(sessions, bundle, version_id, last_known=last_known, health=health)
            logger.warning(
                "database unavailable at start-up: answering with %s",
                f"plan version {version_id} (kept in {last_known})" if version_id else "the bundled plan",
            )
        return plan

    def follow(self, interval: float = FOLLOW_SECONDS) -> None:
        """Poll the database for a new active version every `interval` seconds, in a daemon thread."""
        if self._sessions is None or self._follower is not None:
            return
        self._follower = threading.Thread(target=self._follow, args=(interval,), name="plan", daemon=True)
        self._follower.start()

    def stop(self) -> None:
        """Stop following (a poll stuck on a hung database is left to die with the process)."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(1.0)

    def _follow(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                with self._health.call("the plan follower"):
                    self.refresh()
            except Exception as error:
                if not unavailable(error):  # outages are logged once, by the health tracker
                    logger.exception("could not check for a new plan version")

    def refresh(self) -> bool:
        """Swap to the database's active version if it changed; True when it did.

        A version that fails to load is logged and skipped: the current one keeps serving.
        """
        if self._sessions is None:
            return False
        with self._lock, self._sessions() as session:
            # Every few seconds in every process: ask for the id only, load the files on a change.
            active_id = session.scalar(select(PlanVersion.id).where(PlanVersion.active.is_(True)))
            if active_id is None or active_id in (self.version_id, self._unloadable):
                return False
            active = session.get(PlanVersion, active_id)
            if active is None:  # deactivated between the two queries; the next poll sees the new one
                return False
            bundle = _loadable(active)
            if bundle is None:
                logger.error("keeping plan version %s", self.version_id)
                self._unloadable = active.id
                return False
            # One assignment swaps plan, thesaurus and index together.
            self.bundle, self.version_id = bundle, active.id
            logger.info("now answering with plan version %s (%s)", active.id, active.label)
        self._remember()
        return True

    def _remember(self) -> None:
        """Keep the version in the data folder (whole or not at all) for a start during an outage.

        Every start remembers the active version: the file is rewritten (and fsynced) only
        when it does not already hold exactly that version.
        """
        if self._last_known is None or self.version_id is None:
            return
        data = {"version_id": self.version_id, "sources": dict(self.bundle.sources)}
        text = json.dumps(data, ensure_ascii=False).encode()
        draft = self._last_known.with_name(f".{self._last_known.name}.{os.getpid()}")
        try:
            with contextlib.suppress(FileNotFoundError):
                if self._last_known.read_bytes() == text:
                    return
            self._last_known.parent.mkdir(parents=True, exist_ok=True)
            with draft.open("wb") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            draft.replace(self._last_known)
        except OSError:
            logger.warning("could not keep plan version %s in %s", self.version_id, self._last_known)


_RECENT_VERSIONS = 4
_recent: OrderedDict[str, PlanBundle] = OrderedDict()
_recent_lock = threading.Lock()


def _load(sources: Mapping[str, str]) -> PlanBundle:
    """A version's bundle, kept for the last few versions this process loaded.

    Bundles are immutable, so every service in the process shares them: a start-up that
    meets the same version twice (bundled and active), a rollback or a second service
    loads it once instead of unpickling it again from the disk cache.
    """
    key = digest(sources)
    with _recent_lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    bundle = build_bundle(sources)
    with _recent_lock:
        _recent[key] = bundle
        while len(_recent) > _RECENT_VERSIONS:
            _recent.popitem(last=False)
    return bundle


def _bundled() -> PlanBundle:
    return _load(read_sources(bundled_plan_dir()))


def _remembered(last_known: Path) -> tuple[PlanBundle, int | None]:
    """The version kept in `last_known`, or the bundled plan when there is none this release can read."""
    try:
        data = json.loads(last_known.read_text(encoding="utf-8"))
        return _load(data["sources"]), int(data["version_id"])
    except FileNotFoundError:
        return _bundled(), None
    except (OSError, ValueError, KeyError, TypeError, PlanDataError) as error:
        logger.error("ignoring %s (%s): answering with the bundled plan", last_known, error)
        return _bundled(), None
