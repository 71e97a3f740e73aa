"""The audit trail: who resolved, edited, published, rolled back or exported what, and when.

Every change staff make to answers or the plan is written here in the same
transaction as the change itself, so the trail can never miss one or record one
that did not happen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import AuditEvent, utcnow

__all__ = ["ACTIONS", "AuditFilter", "AuditRow", "list_events", "record"]

ACTIONS = (
    "resolve",
    "reopen",
    "edit",
    "discard",
    "reject",
    "publish",
    "rollback",
    "export",
)


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    created_at: dt.datetime
    staff_name: str
    action: str
    target: str
    details: dict[str, object]

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
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action '{action}'")
    session.add(
        AuditEvent(created_at=utcnow(), staff_name=staff_name, action=action, target=target, details=details)
    )


def list_events(session: Session, audit_filter: AuditFilter, *, limit: int = 100) -> list[AuditRow]:
    """Events matching the filter, newest first."""
    query = select(AuditEvent)
    if audit_filter.staff:
        query = query.where(AuditEvent.staff_name == audit_filter.staff)
    if audit_filter.action:
        query = query.where(AuditEvent.action == audit_filter.action)
    if audit_filter.target:
        query = query.where(AuditEvent.target == audit_filter.target)
    if audit_filter.since is not None:
        query = query.where(AuditEvent.created_at >= audit_filter.since)
    if audit_filter.until is not None:
        query = query.where(AuditEvent.created_at < audit_filter.until)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    return [
        AuditRow(e.id, e.created_at, e.staff_name, e.action, e.target, dict(e.details))
        for e in session.scalars(query)
    ]
