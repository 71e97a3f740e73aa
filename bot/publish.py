"""Publishing the draft, rolling back, and exporting versions: the staff side of plan versions.

Publishing goes through `versions.reindex`, the path `python -m bot reindex`
takes: the candidate is validated, stored with a label and its author, and
activated, and running bots switch within seconds. Every step is audited. Export
writes a version's files exactly as stored, so `reindex --plan-dir` on them finds
the same digest and the repository's plan_data/ can be kept in step.

What each version changed is computed once per process and kept: stored content
never changes, so the digests of two versions name their diff for good, and the
versions page does not rebuild two bundles per version on every view.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from index import PlanBundle, PlanDataError, build_bundle, bundled_plan_dir, read_sources
from index.diff import Change, diff_plans
from index.plan import digest

from . import audit
from .drafts import build_candidate, mark_published, pending_edits
from .errors import EditError, NoActivePlanError, UnknownVersionError
from .store import PlanVersion, utcnow
from .versions import ActivePlan, activate, reindex

__all__ = [
    "Published",
    "active_bundle",
    "bundled_matches",
    "changes_by_version",
    "export_version",
    "publish",
    "rollback",
    "version_changes",
]


@dataclass(frozen=True, slots=True)
class Published:
    version_id: int
    changes: tuple[Change, ...]
    edits: int


def active_bundle(sessions: sessionmaker[Session]) -> PlanBundle:
    """The active version as stored now (not a process's copy, which may be seconds old)."""
    return ActivePlan.from_database(sessions).bundle


def publish(sessions: sessionmaker[Session], staff_name: str, label: str) -> Published:
    """Store the draft as a new active version. EditError when there is nothing to publish;
    EditError or PlanDataError (nothing stored) when the draft does not build a valid plan."""
    with sessions() as session:
        edits = pending_edits(session)
    if not edits:
        raise EditError("the draft is empty: there is nothing to publish")
    draft = build_candidate(active_bundle(sessions), edits)
    label = label.strip() or f"公開 {utcnow():%Y-%m-%d %H:%M}"
    outcome = reindex(sessions, dict(draft.candidate.sources), label=label, dry_run=False, author=staff_name)
    if outcome.base_digest is not None:
        _keep((outcome.base_digest, outcome.bundle.digest), outcome.changes)
    with sessions() as session, session.begin():
        version_id = outcome.version_id or _active_id(session)
        mark_published(session, [stored.id for stored in edits], version_id)
        audit.record(
            session,
            staff_name,
            "publish",
            f"version {version_id}",
            label=label,
            edits=[stored.edit.describe() for stored in edits],
            changes=[str(change) for change in outcome.changes],
        )
    return Published(version_id, tuple(outcome.changes), len(edits))


def _active_id(session: Session) -> int:
    active = session.scalar(select(PlanVersion.id).where(PlanVersion.active.is_(True)))
    if active is None:
        raise NoActivePlanError("the database has no active plan version: run `python -m bot reindex`")
    return active


def rollback(sessions: sessionmaker[Session], version_id: int, staff_name: str) -> PlanVersion:
    """Make an earlier version active again. UnknownVersionError if there is none; PlanDataError if
    this release cannot read it."""
    with sessions() as session:
        previous = _active_id(session)
    version = activate(sessions, version_id)
    with sessions() as session, session.begin():
        audit.record(
            session, staff_name, "rollback", f"version {version_id}", previous=previous, label=version.label
        )
    return version


def export_version(
    sessions: sessionmaker[Session], version_id: int, directory: Path, staff_name: str
) -> list[str]:
    """Write version `version_id`'s files into `directory` (created if needed); the names written.

    UnknownVersionError for an unknown version. EditError, before writing anything, when the folder
    holds plan files the version does not have (reindexing the folder would then read them too).
    """
    with sessions() as session:
        version = session.get(PlanVersion, version_id)
        if version is None:
            raise UnknownVersionError(f"no plan version {version_id}")
        sources = dict(version.sources)
    strays = sorted(p.name for p in directory.glob("*.yaml") if p.name not in sources)
    if strays:
        raise EditError(
            f"{directory} has plan files version {version_id} does not: {', '.join(strays)} "
            "(remove them or export into an empty folder)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(sources.items()):
        # newline="" writes the stored text byte for byte, so the digest stays the same.
        (directory / name).write_text(text, encoding="utf-8", newline="")
    with sessions() as session, session.begin():
        audit.record(
            session,
            staff_name,
            "export",
            f"version {version_id}",
            folder=str(directory),
            files=sorted(sources),
        )
    return sorted(sources)


def bundled_matches(active: PlanBundle, directory: Path | None = None) -> bool:
    """Whether the repository's plan_data/ holds the active version (False when it cannot be read)."""
    try:
        return digest(read_sources(directory or bundled_plan_dir())) == active.digest
    except PlanDataError:
        return False


def version_changes(session: Session, version_id: int) -> list[Change] | None:
    """What version `version_id` changed against the version stored before it.

    Empty for the first version; None when this release cannot read either of them.
    UnknownVersionError for an unknown version.
    """
    version = session.scalar(select(PlanVersion.digest).where(PlanVersion.id == version_id))
    if version is None:
        raise UnknownVersionError(f"no plan version {version_id}")
    previous = session.scalar(
        select(PlanVersion.digest).where(PlanVersion.id < version_id).order_by(PlanVersion.id.desc()).limit(1)
    )
    return [] if previous is None else _changes(session, previous, version)


def changes_by_version(session: Session) -> dict[int, list[Change] | None]:
    """`version_changes` of every version (the versions page): bundles are built only for a pair
    of versions this process has not diffed yet."""
    rows = session.execute(select(PlanVersion.id, PlanVersion.digest).order_by(PlanVersion.id)).all()
    found: dict[int, list[Change] | None] = {rows[0].id: []} if rows else {}
    for previous, version in pairwise(rows):
        found[version.id] = _changes(session, previous.digest, version.digest)
    return found


# Diffs by the digests of the two versions: stored content never changes, so a pair names its
# diff for good (whatever database the versions come from).
_DIFFS_KEPT = 1000  # a city publishes a few versions a month
_diffs: dict[tuple[str, str], tuple[Change, ...] | None] = {}
_diffs_lock = threading.Lock()


def _keep(pair: tuple[str, str], changes: list[Change] | tuple[Change, ...] | None) -> None:
    with _diffs_lock:
        _diffs[pair] = None if changes is None else tuple(changes)
        while len(_diffs) > _DIFFS_KEPT:
            del _diffs[next(iter(_diffs))]


def _changes(session: Session, old_digest: str, new_digest: str) -> list[Change] | None:
    """The diff between two stored versions, built the first time this process meets the pair."""
    pair = (old_digest, new_digest)
    with _diffs_lock:
        known = pair in _diffs
        changes = _diffs.get(pair)
    if not known:
        changes = _diff(_sources(session, old_digest), _sources(session, new_digest))
        _keep(pair, changes)
    return None if changes is None else list(changes)


def _sources(session: Session, version_digest: str) -> dict[str, str]:
    return dict(
        session.scalars(select(PlanVersion.sources).where(PlanVersion.digest == version_digest)).one()
    )


def _diff(old_sources: dict[str, str], new_sources: dict[str, str]) -> tuple[Change, ...] | None:
    """None when this release cannot read either version."""
    try:
        old, new = build_bundle(old_sources), build_bundle(new_sources)
    except PlanDataError:
        return None
    return tuple(diff_plans(old.plan, old.thesaurus, new.plan, new.thesaurus))
