"""The staff dashboard's HTTP handling under /staff/: routes, sign-in, forms, responses.

City staff are not command-line users, so this is the answer log in the browser, in
Japanese, behind a login. Everything else lives in its own module: what a query
string asks for (`filters`), what is read from the log (`reports`, so figures mean
what they mean in `python -m bot logs`/`stats`), chart geometry (`charts`), the
template set-up (`staff_templates`) and the sign-in check every page shares
(`staff_http`). Page work runs in Starlette's thread pool, so database work never
blocks the event loop the Telegram webhook shares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .charts import chart_span, column_chart, row_chart, span_points
from .curation_pages import curation_routes
from .filters import PAGE_SIZE, Pager, parse_filter, parse_report
from .redact import personal_spans
from .reports import (
    CHANNELS,
    LOCAL_TZ,
    LogFilter,
    active_version,
    compute_stats,
    count_exchanges,
    delete_exchange,
    filter_choices,
    find_exchange,
    group_by_words,
    list_exchanges,
    log_first_day,
    mark_handled,
    measure_ranks,
    recently_handled,
    record_action,
    rows_to_csv,
)
from .roles import editors_only
from .service import PlanService
from .staff_auth import (
    SESSION_LIFETIME,
    LoginThrottle,
    authenticate,
    csrf_ok,
    end_all_sessions,
    end_session,
    new_csrf_token,
    normalize_name,
    open_session,
)
from .staff_http import StaffPages, Visit, staff_only
from .store import Export, utcnow
from .web_edge import SecurityHeaders, client_address

__all__ = ["STAFF_PREFIX", "create_dashboard", "create_standalone_app"]

logger = logging.getLogger(__name__)

STAFF_PREFIX = "/staff"  # where both `serve` and `dashboard` mount the pages (and the cookie's path)
SESSION_COOKIE = "planbot_staff"
INBOX_LIMIT = 500
EXPORT_LIMIT = 20_000  # rows in one CSV: enough for a year of questions, bounded for the process
HERE = Path(__file__).parent


class Dashboard(StaffPages):
    """The pages' handlers; the login throttle counts in the database, shared by every web process."""

    def __init__(self, service: PlanService) -> None:
        super().__init__(service)
        self.throttle = LoginThrottle(service.sessions, service.settings.log_salt)

    # --- login and logout

    def login_form(self, request: Request) -> Response:
        if self.signed_in(request):
            return self.redirect(request, "staff_overview")
        request.session.setdefault("csrf", new_csrf_token())  # the login form is protected too
        return self.login_page(request, wanted=request.query_params.get("next"))

    def login_page(
        self, request: Request, *, wanted: object, error: str = "", name: str = "", status: int = 200
    ) -> Response:
        wanted = self.safe_next(request, wanted)
        return self.render(request, "login.html", None, status=status, error=error, name=name, next=wanted)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name, password = normalize_name(str(form.get("name", ""))), str(form.get("password", ""))
        wanted = form.get("next")
        if not csrf_ok(request.session, form.get("csrf_token")):
            request.session.setdefault("csrf", new_csrf_token())
            error = "ページの有効期限が切れました。もう一度ログインしてください。"
            return self.login_page(request, wanted=wanted, error=error, name=name, status=403)
        address = client_address(request.scope, self.service.settings.trusted_proxies)
        wait = await run_in_threadpool(self.throttle.attempt, name, address)
        if wait:
            minutes = math.ceil(wait / 60)
            text = (
                f"ログインの失敗が続いたため、一時的にログインできません。約{minutes}分後にお試しください。"
            )
            return self.message(request, 429, "しばらくお待ちください", text, **{"Retry-After": str(wait)})
        token = await run_in_threadpool(self._sign_in, name, password)
        if token is None:
            # Not the name typed: a password typed into the name field would land in the log.
            logger.warning("failed staff login from %s", address)
            error = "名前またはパスワードが違います。"
            return self.login_page(request, wanted=wanted, error=error, name=name, status=401)
        await run_in_threadpool(self.throttle.succeeded, name, address)
        request.session.clear()  # a new session id and CSRF token: nothing from before login survives
        request.session.update(sid=token, csrf=new_csrf_token())
        logger.info("staff %s signed in from %s", name, address)
        return RedirectResponse(self.safe_next(request, wanted), status_code=303)

    def _sign_in(self, name: str, password: str) -> str | None:
        """A new server-side session's token if the password is right."""
        with self.service.sessions() as session, session.begin():
            user = authenticate(session, name, password)
            return open_session(session, user) if user is not None else None

    @staff_only
    def logout(self, visit: Visit) -> Response:
        """End this session, or with `everywhere` every session of the account (all browsers)."""
        assert visit.form is not None
        with self.service.sessions() as session, session.begin():
            if visit.form.get("everywhere"):
                end_all_sessions(session, visit.signed_in.staff_id)
            else:
                end_session(session, str(visit.request.session["sid"]))
        visit.request.session.clear()
        return self.redirect(visit.request, "staff_login")

    # --- pages

    @staff_only
    def overview(self, visit: Visit) -> Response:
        request = visit.request
        form = parse_filter(request.query_params, default_period="30")
        with self.service.sessions() as session:
            stats = compute_stats(session, form.log_filter, self.plan)
            inbox = count_exchanges(session, LogFilter(inbox=True))
            per_channel = {
                name: count_exchanges(session, dataclasses.replace(form.log_filter, channel=name))
                for name in CHANNELS
            }
            version = active_version(session)
            span = chart_span(form.log_filter.since, form.log_filter.until, log_first_day(session))
        exchanges = request.url_for("staff_exchanges").path
        chapters = [
            (c.label, stats.per_chapter.get(c.number, 0), f"{exchanges}?{form.query(chapter=c.number)}")
            for c in self.plan.chapters
        ]
        days = span_points(*span, stats.per_day) if span else []
        return self.render(
            request,
            "overview.html",
            visit.staff,
            status=400 if form.errors else 200,
            active="staff_overview",
            form=form,
            stats=stats,
            inbox=inbox,
            per_channel=[
                (label, per_channel[name], f"{exchanges}?{form.query(channel=name)}")
                for name, label in CHANNELS.items()
            ],
            version=version,
            per_day=column_chart("日別の質問数", days),
            per_chapter=row_chart("章別の回答数（1位に表示した施策の章）", chapters),
        )

    @staff_only
    def exchanges(self, visit: Visit) -> Response:
        request = visit.request
        form = parse_filter(request.query_params)
        with self.service.sessions() as session:
            pager = Pager.from_param(
                request.query_params.get("page"), count_exchanges(session, form.log_filter)
            )
            rows = list_exchanges(
                session, form.log_filter, self.plan, limit=pager.size, offset=pager.offset, sort=form.sort
            )
            choices = filter_choices(session, self.plan)
        return self.render(
            request,
            "exchanges.html",
            visit.staff,
            status=400 if form.errors else 200,
            active="staff_exchanges",
            form=form,
            rows=rows,
            pager=pager,
            choices=choices,
        )

    @staff_only
    def exchange(self, visit: Visit) -> Response:
        """One exchange in full: citations, rating, and the reveal and delete buttons."""
        return self._exchange_page(visit, revealed=False)

    @staff_only
    def reveal(self, visit: Visit) -> Response:
        """The exchange with its personal details shown, once, for this response only; audited."""
        exchange_id = self.exchange_id(visit.request)
        with self.service.sessions() as session, session.begin():
            if find_exchange(session, exchange_id, None) is not None:
                record_action(session, visit.staff, "reveal", exchange_id)
        logger.info("staff %s revealed exchange %d", visit.staff, exchange_id)
        return self._exchange_page(visit, revealed=True)

    def _exchange_page(self, visit: Visit, *, revealed: bool) -> Response:
        exchange_id = self.exchange_id(visit.request)
        with self.service.sessions() as session:
            row = find_exchange(session, exchange_id, self.plan)
        if row is None:
            return self.message(visit.request, 404, "見つかりません", "この質問は見つかりませんでした。")
        has_personal = bool(personal_spans(row.question))
        return self.render(
            visit.request, "exchange.html", visit.staff, row=row, revealed=revealed, has_personal=has_personal
        )

    @staff_only
    @editors_only
    def delete(self, visit: Visit) -> Response:
        """Delete one exchange (a resident asked, or it holds what must not be kept); audited."""
        assert visit.form is not None
        exchange_id = self.exchange_id(visit.request)
        if not visit.form.get("confirm"):
            text = "「削除してよいことを確認しました」にチェックを入れてから、もう一度押してください。"
            return self.message(visit.request, 400, "削除していません", text)
        with self.service.sessions() as session, session.begin():
            found = delete_exchange(session, exchange_id)
            if found:
                record_action(session, visit.staff, "delete", exchange_id)
        if not found:
            return self.message(visit.request, 404, "見つかりません", "この質問は見つかりませんでした。")
        logger.info("staff %s deleted exchange %d", visit.staff, exchange_id)
        return self.redirect(visit.request, "staff_exchanges")

    @staff_only
    def inbox(self, visit: Visit) -> Response:
        inbox = LogFilter(inbox=True)
        with self.service.sessions() as session:
            total = count_exchanges(session, inbox)
            rows = list_exchanges(session, inbox, self.plan, limit=INBOX_LIMIT)
            handled = recently_handled(session)
        return self.render(
            visit.request,
            "inbox.html",
            visit.staff,
            active="staff_inbox",
            total=total,
            shown=len(rows),
            groups=group_by_words(rows),
            handled=handled,
        )

    @staff_only
    def report(self, visit: Visit) -> Response:
        """A week's or month's summary beside the one before, to print or send on."""
        try:
            period = parse_report(visit.request.query_params)
        except ValueError:
            raise HTTPException(400) from None
        with self.service.sessions() as session:
            current = compute_stats(session, period.log_filter, self.plan)
            previous = compute_stats(session, period.previous().log_filter, self.plan)
        return self.render(
            visit.request,
            "report.html",
            visit.staff,
            active="staff_report",
            period=period,
            current=current,
            previous=previous,
            previous_counts={measure_id: n for measure_id, _c, n in previous.top_measures},
            per_day=column_chart("日別の質問数", span_points(period.first, period.last, current.per_day)),
        )

    @staff_only
    @editors_only
    def handle_item(self, visit: Visit) -> Response:
        """Mark an inbox item handled (POST, with a note)."""
        assert visit.form is not None
        note = str(visit.form.get("note", "")).strip()[:2000]
        exchange_id = self.exchange_id(visit.request)
        try:
            with self.service.sessions() as session, session.begin():
                found = mark_handled(session, exchange_id, visit.staff, note)
        except IntegrityError:  # marked by someone else at the same moment: handled either way
            found = True
        if not found:
            return self.message(visit.request, 404, "見つかりません", "この質問は見つかりませんでした。")
        return self.redirect(visit.request, "staff_inbox")

    @staff_only
    def measure(self, visit: Visit) -> Response:
        request = visit.request
        measure_id: str = request.path_params["measure_id"]
        form = parse_filter(request.query_params, default_period="all")
        period = LogFilter(since=form.log_filter.since, until=form.log_filter.until)
        shown = dataclasses.replace(period, measure=measure_id)
        try:
            located = self.plan.locate(measure_id)
        except KeyError:
            located = None
        with self.service.sessions() as session:
            ranks = measure_ranks(session, measure_id, period)
            stats = compute_stats(session, shown, self.plan)
            total = count_exchanges(session, shown)
            rows = list_exchanges(session, shown, self.plan, limit=PAGE_SIZE)
            span = chart_span(period.since, period.until, log_first_day(session))
        if located is None and not total:
            return self.message(
                request, 404, "見つかりません", f"施策 {measure_id} は計画にも記録にもありません。"
            )
        days = span_points(*span, stats.per_day) if span else []
        return self.render(
            request,
            "measure.html",
            visit.staff,
            status=400 if form.errors else 200,
            form=form,
            measure_id=measure_id,
            located=located,
            ranks=ranks,
            total=total,
            rows=rows,
            per_day=column_chart("日別の表示回数", days),
        )

    @staff_only
    def export(self, visit: Visit) -> Response:
        """The current filter as CSV for Excel; every export is recorded (who, when, which filter, rows)."""
        assert visit.form is not None
        form = parse_filter({key: value for key, value in visit.form.items() if isinstance(value, str)})
        if form.errors:
            return Response("\n".join(form.errors), status_code=400, media_type="text/plain; charset=utf-8")
        with self.service.sessions() as session, session.begin():
            total = count_exchanges(session, form.log_filter)
            if total > EXPORT_LIMIT:
                text = (
                    f"一度に書き出せるのは{EXPORT_LIMIT:,}件までです（この条件では{total:,}件）。"
                    "期間を絞ってください。"
                )
                return self.message(visit.request, 400, "件数が多すぎます", text)
            rows = list_exchanges(session, form.log_filter, self.plan, limit=total)
            session.add(
                Export(
                    staff_name=visit.staff,
                    filter=form.log_filter.describe(),
                    rows=len(rows),
                    created_at=utcnow(),
                )
            )
        logger.info(
            "staff %s exported %d exchange(s) with %s", visit.staff, len(rows), form.log_filter.describe()
        )
        filename = f"planbot-exchanges-{dt.datetime.now(LOCAL_TZ):%Y%m%d-%H%M}.csv"
        return Response(
            rows_to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def create_dashboard(service: PlanService) -> Starlette:
    """The staff pages as an app to mount at STAFF_PREFIX; routes here are relative to it."""
    pages = Dashboard(service)
    routes = [
        Route("/", pages.overview, name="staff_overview"),
        Route("/login", pages.login_form, name="staff_login"),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"], name="staff_logout"),
        Route("/exchanges", pages.exchanges, name="staff_exchanges"),
        Route("/exchanges/{exchange_id:int}", pages.exchange, name="staff_exchange"),
        Route("/exchanges/{exchange_id:int}/reveal", pages.reveal, methods=["POST"], name="staff_reveal"),
        Route("/exchanges/{exchange_id:int}/delete", pages.delete, methods=["POST"], name="staff_delete"),
        Route("/inbox", pages.inbox, name="staff_inbox"),
        Route("/report", pages.report, name="staff_report"),
        Route("/inbox/{exchange_id:int}/handled", pages.handle_item, methods=["POST"], name="staff_handle"),
        Route("/measures/{measure_id}", pages.measure, name="staff_measure"),
        Route("/export.csv", pages.export, methods=["POST"], name="staff_export"),
        *curation_routes(service),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="staff_static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=service.settings.session_secret,
            session_cookie=SESSION_COOKIE,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path=STAFF_PREFIX,
            same_site="lax",
        ),
    ]
    handlers = {HTTPException: pages.http_error, Exception: pages.server_error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


def create_standalone_app(service: PlanService) -> Starlette:
    """`python -m bot dashboard`: the same pages at the same URLs as `serve`, without the webhook."""

    async def home(request: Request) -> Response:
        return RedirectResponse(request.url_for("staff_overview").path)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    routes = [Route("/", home), Mount(STAFF_PREFIX, app=create_dashboard(service))]
    headers = Middleware(SecurityHeaders, trusted_proxies=service.settings.trusted_proxies)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[headers])
