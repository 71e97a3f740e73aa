"""The audit trail: who resolved, edited, published, rolled back or exported what, and when.

Every change staff make to answers or the plan is written here in the same
transaction as the change itself, so the trail can never miss one or record one
that did not happen. Reading it also brings in the records the staff pages keep of
their own (CSV exports in `exports`, reveals and deletions in `staff_actions`), so
one list shows everything staff did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from .reports import LOCAL_TZ
from .store import AuditEvent, Export, StaffAction, utcnow

__all__ = ["ACTIONS", "RECORDED", "AuditFilter", "AuditRow", "list_events", "record"]

T = TypeVar("T")

# Recorded here; `reveal` and `delete` come from the staff pages' own records.
RECORDED = ("resolve", "reopen", "edit", "discard", "reject", "publish", "rollback", "export")
ACTIONS = (*RECORDED, "reveal", "delete")


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    created_at: dt.datetime
    staff_name: str
    action: str
    target: str
    details: dict[str, object]

    @property
    def local_time(self) -> str:
        return self.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.created_at.isoformat(),
            "staff": self.staff_name,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class AuditFilter:
    staff: str | None = None
    action: str | None = None
    target: str | None = None  # exact, e.g. an exchange id "exchange 12" or "version 3"
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def record(session: Session, staff_name: str, action: str, target: str, **details: object) -> None:
    """Add one event to the caller's transaction."""
    if action not in RECORDED:
        raise ValueError(f"unknown audit action '{action}'")
    session.add(
        AuditEvent(created_at=utcnow(), staff_name=staff_name, action=action, target=target, details=details)
    )


def list_events(session: Session, audit_filter: AuditFilter, *, limit: int = 100) -> list[AuditRow]:
    """Events matching the filter, newest first, from this trail and the staff pages' records."""
    f = audit_filter
    rows: list[AuditRow] = []
    query = select(AuditEvent)
    for column, value in (
        (AuditEvent.staff_name, f.staff),
        (AuditEvent.action, f.action),
        (AuditEvent.target, f.target),
    ):
        if value:
            query = query.where(column == value)
    query = _period(query, AuditEvent.created_at, f).order_by(AuditEvent.created_at.desc()).limit(limit)
    rows += [
        AuditRow(e.id, e.created_at, e.staff_name, e.action, e.target, dict(e.details))
        for e in session.scalars(query)
    ]
    if f.action in (None, "", "export") and f.target in (None, "", "CSV"):
        exports = _period(select(Export), Export.created_at, f)
        if f.staff:
            exports = exports.where(Export.staff_name == f.staff)
        exports = exports.order_by(Export.created_at.desc()).limit(limit)
        rows += [
            AuditRow(e.id, e.created_at, e.staff_name, "export", "CSV", {"filter": e.filter, "rows": e.rows})
            for e in session.scalars(exports)
        ]
    if f.action in (None, "", "reveal", "delete"):
        actions = _period(select(StaffAction), StaffAction.created_at, f)
        if f.action:
            actions = actions.where(StaffAction.action == f.action)
        if f.staff:
            actions = actions.where(StaffAction.staff_name == f.staff)
        actions = actions.order_by(StaffAction.created_at.desc()).limit(limit)
        rows += [
            AuditRow(a.id, a.created_at, a.staff_name, a.action, f"exchange {a.exchange_id}", {})
            for a in session.scalars(actions)
            if not f.target or f.target == f"exchange {a.exchange_id}"
        ]
    rows.sort(key=lambda row: row.created_at, reverse=True)
    return rows[:limit]


def _period(query: Select[T], column: InstrumentedAttribute[dt.datetime], f: AuditFilter) -> Select[T]:
    if f.since is not None:
        query = query.where(column >= f.since)
    if f.until is not None:
        query = query.where(column < f.until)
    return query
