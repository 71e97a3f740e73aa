"""Who may change what: editors resolve, edit, publish and roll back; viewers only read.

The check reads the account's role from the database on every change, so a role
taken away (or an account removed) counts at once, not at the next login. Pages
turn `NotAnEditor` into 403 on the server side: hiding a button is not enough.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from .errors import NotAnEditor
from .staff_auth import find_staff

__all__ = ["EDITOR", "VIEWER", "is_editor", "require_editor"]

EDITOR = "editor"
VIEWER = "viewer"


def is_editor(session: Session, staff_name: str) -> bool:
    user = find_staff(session, staff_name)
    return user is not None and user.role == EDITOR


def require_editor(session: Session, staff_name: str) -> None:
    """NotAnEditor unless `staff_name` is an existing editor account."""
    if not is_editor(session, staff_name):
        raise NotAnEditor(f"'{staff_name}' is not an editor: only editors may change answers or the plan")
