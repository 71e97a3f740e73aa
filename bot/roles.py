"""Who may change what: editors resolve, edit, publish and roll back; viewers only read.

The role comes with the signed-in session, which is read from the database on every
request, so a role taken away counts at once. `editors_only` refuses a viewer's
change with 403 on the server: hiding a button is not enough.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from .staff_http import StaffPages, Visit

__all__ = ["EDITOR", "VIEWER", "editors_only"]

EDITOR = "editor"
VIEWER = "viewer"

Handler = Callable[[Any, Visit], Response]


def editors_only(handler: Handler) -> Handler:
    """A page handler (inside `staff_only`) that only an editor may run; anyone else gets 403."""

    @functools.wraps(handler)
    def checked(self: StaffPages, visit: Visit) -> Response:
        if visit.signed_in.role != EDITOR:
            text = "この操作は編集者だけができます。必要なら管理者に編集者の権限を依頼してください。"
            return self.message(visit.request, 403, "権限がありません", text)
        return handler(self, visit)

    return checked
