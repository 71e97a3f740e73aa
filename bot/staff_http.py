"""What every staff page handler shares: one sign-in check for pages and POSTs, rendering, errors.

`staff_only` is the only place sign-in and CSRF are checked, so a new page or form
cannot forget either; `StaffPages` holds the helpers the handlers in `dashboard` use.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from index import Plan

from .filters import MAX_NUMBER
from .service import PlanService
from .staff_auth import SignedIn, csrf_ok, session_staff
from .staff_templates import TEMPLATES

__all__ = ["StaffPages", "Visit", "staff_only"]


@dataclass(frozen=True)
class Visit:
    """A signed-in request: who made it and, for a POST, its form (whose CSRF token was checked)."""

    request: Request
    signed_in: SignedIn
    form: FormData | None

    @property
    def staff(self) -> str:
        return self.signed_in.name


Handler = Callable[[Any, "Visit"], Response]


def staff_only(handler: Handler) -> Callable[[Any, Request], Awaitable[Response]]:
    """The one sign-in check, for pages and POSTs alike.

    Anyone not signed in is sent to the login form: back to the page afterwards for a
    GET, to the overview afterwards for a POST (a form is never replayed after login). A POST must carry
    the session's CSRF token. The handler then runs in the thread pool.
    """

    @functools.wraps(handler)
    async def endpoint(self: StaffPages, request: Request) -> Response:
        signed_in = await run_in_threadpool(self.signed_in, request)
        posted = request.method == "POST"
        if signed_in is None:
            return self.redirect(request, "staff_login") if posted else self.to_login(request)
        form = await request.form() if posted else None
        if form is not None and not csrf_ok(request.session, form.get("csrf_token")):
            return self.message(
                request, 403, "操作を受け付けられません", "ページを開き直してから、もう一度お試しください。"
            )
        return await run_in_threadpool(handler, self, Visit(request, signed_in, form))

    return endpoint


class StaffPages:
    """What every staff page handler shares: the service (database, plan), sign-in state,
    rendering, redirects and the Japanese error pages."""

    def __init__(self, service: PlanService) -> None:
        self.service = service

    @property
    def plan(self) -> Plan:
        return self.service.active.bundle.plan

    # --- helpers

    def signed_in(self, request: Request) -> SignedIn | None:
        """Who the browser's session belongs to, if the server still has that session."""
        token = request.session.get("sid")
        if not isinstance(token, str):
            return None
        with self.service.sessions() as session, session.begin():
            return session_staff(session, token)

    def render(
        self, request: Request, template: str, staff: str | None, *, status: int = 200, **context: object
    ) -> Response:
        context.update(request=request, staff=staff, csrf_token=request.session.get("csrf", ""))
        return TEMPLATES.TemplateResponse(request, template, context, status_code=status)

    def exchange_id(self, request: Request) -> int:
        """The exchange id in the path; 400 for one no database column can hold."""
        exchange_id: int = request.path_params["exchange_id"]
        if not 0 < exchange_id <= MAX_NUMBER:
            raise HTTPException(400)
        return exchange_id

    def message(self, request: Request, status: int, title: str, text: str, **headers: str) -> Response:
        response = self.render(request, "message.html", None, status=status, title=title, text=text)
        response.headers.update(headers)
        return response

    def redirect(self, request: Request, name: str, query: str = "", **params: object) -> Response:
        path = request.url_for(name, **params).path
        return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)

    def to_login(self, request: Request) -> Response:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.redirect(request, "staff_login", urlencode({"next": wanted}))

    def safe_next(self, request: Request, wanted: object) -> str:
        """Where to go after login: only a page of this dashboard, never another site."""
        home = request.url_for("staff_overview").path
        if isinstance(wanted, str) and wanted.startswith(home) and "\\" not in wanted:
            return wanted
        return home

    # --- errors

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {
            400: ("入力が正しくありません", "番号や日付が範囲外です。画面のリンクから開き直してください。"),
            404: ("見つかりません", "このページはありません。"),
            405: ("操作できません", "この操作はできません。"),
        }
        title, text = titles.get(exc.status_code, ("エラー", "リクエストを処理できませんでした。"))
        return self.message(request, exc.status_code, title, text, **(exc.headers or {}))

    def server_error(self, request: Request, _exc: Exception) -> Response:
        """A Japanese page instead of a traceback (Starlette re-raises, so the server logs the error)."""
        text = "しばらくしてからもう一度お試しください。続く場合は担当者に連絡してください。"
        return self.message(request, 500, "エラーが発生しました", text)
