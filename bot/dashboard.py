"""The staff dashboard under /staff/: overview, exchanges, the unanswered inbox, measures, CSV export.

City staff are not command-line users, so this is the answer log in the browser, in
Japanese, behind a login. It reads through `reports` (the filters and figures mean
what they mean in `python -m bot logs`/`stats`) and adds only what pages need: charts
drawn as inline SVG (no JavaScript, nothing from the internet), the inbox grouping
and a measure's figures. Pages are plain functions Starlette runs in its thread
pool, so database work never blocks the event loop the Telegram webhook shares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hmac
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from index import Plan

from .reports import (
    LOCAL_TZ,
    ExchangeRow,
    LogFilter,
    WordTally,
    compute_stats,
    count_exchanges,
    list_exchanges,
    parse_time,
    rows_to_csv,
)
from .service import PlanService
from .staff_auth import (
    HardenResponses,
    LoginThrottle,
    account_stamp,
    authenticate,
    csrf_ok,
    find_staff,
    new_csrf_token,
    normalize_name,
    session_secret,
)
from .store import Exchange, ExchangeHit, Export, Feedback, HandledItem, PlanVersion, StaffUser, utcnow

__all__ = ["STAFF_PREFIX", "create_dashboard", "create_standalone_app", "group_by_words"]

logger = logging.getLogger(__name__)

STAFF_PREFIX = "/staff"  # where both `serve` and `dashboard` mount the pages (and the cookie's path)
SESSION_COOKIE = "planbot_staff"
SESSION_MAX_AGE = 8 * 60 * 60  # a working day; the cookie is not renewed, so sessions end by evening
PAGE_SIZE = 50
INBOX_LIMIT = 500
HERE = Path(__file__).parent

REASONS = {
    "matched": "回答",
    "field": "回答（分野の一覧）",
    "no_terms": "回答なし（語句なし）",
    "other_city": "回答なし（他市の話題）",
    "off_topic": "回答なし（対象外の依頼）",
    "no_match": "回答なし（該当なし）",
    "weak_evidence": "関連施策のみ（根拠が弱い）",
    "procedure": "関連施策のみ（手続き等は計画外）",
    "other_body": "関連施策のみ（他機関の事業）",
    "small_talk": "回答なし（あいさつ・雑談）",
}
PERIODS = (("7", "直近7日"), ("30", "直近30日"), ("90", "直近90日"), ("all", "全期間"))
FILTER_KEYS = (
    "period",
    "since",
    "until",
    "unanswered",
    "feedback",
    "measure",
    "chapter",
    "search",
    "version",
    "inbox",
)


# --- filters and paging -------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterForm:
    """A page's filter as typed (to show it again and to build links) and the LogFilter it means."""

    values: Mapping[str, str]
    log_filter: LogFilter
    errors: tuple[str, ...] = ()

    @property
    def period(self) -> str | None:
        """The preset period in effect (for highlighting its link), None for chosen dates."""
        return self.values.get("period")

    def query(self, **changes: str | int | None) -> str:
        """This filter as a query string, with `changes` applied (None drops a key)."""
        values = dict(self.values)
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = str(value)
        return urlencode({key: value for key, value in values.items() if value})


def parse_filter(params: Mapping[str, str], *, default_period: str | None = None) -> FilterForm:
    """The query string's filter; a malformed value is reported in Japanese and left out."""
    values = {key: params.get(key, "").strip() for key in FILTER_KEYS}
    values = {key: value for key, value in values.items() if value}
    errors: list[str] = []

    def day(key: str, label: str, *, end: bool) -> dt.datetime | None:
        if key not in values:
            return None
        try:
            return parse_time(values[key], end_of_day=end)
        except ValueError:
            errors.append(f"{label}は 2026-11-01 のように入力してください。")
            return None

    def number(key: str, label: str) -> int | None:
        if key not in values:
            return None
        if not values[key].isascii() or not values[key].isdigit():
            errors.append(f"{label}は数字で選んでください。")
            return None
        return int(values[key])

    since, until = day("since", "開始日", end=False), day("until", "終了日", end=True)
    if "since" not in values and "until" not in values and "period" not in values and default_period:
        values["period"] = default_period
    if values.get("period", "all") not in dict(PERIODS):
        errors.append("期間の指定が正しくありません。")
        values.pop("period")
    if since is None and until is None and values.get("period", "all") != "all":
        days = int(values["period"])
        today = dt.datetime.now(LOCAL_TZ).date()
        since = parse_time((today - dt.timedelta(days=days - 1)).isoformat())
    elif since is not None or until is not None:
        values.pop("period", None)
    feedback = values.get("feedback")
    if feedback not in (None, "up", "down"):
        errors.append("評価の指定が正しくありません。")
        feedback = None
    log_filter = LogFilter(
        since=since,
        until=until,
        unanswered="unanswered" in values,
        feedback=feedback,
        measure=values.get("measure"),
        chapter=number("chapter", "章"),
        search=values.get("search"),
        version=number("version", "計画版"),
        inbox="inbox" in values,
    )
    return FilterForm(values, log_filter, tuple(errors))


@dataclass(frozen=True)
class Pager:
    page: int
    total: int
    size: int = PAGE_SIZE

    @classmethod
    def from_param(cls, value: str | None, total: int) -> Pager:
        """The requested page, kept within the pages there are (an old link past the end shows the last)."""
        page = int(value) if value and value.isascii() and value.isdigit() else 1
        return cls(min(max(page, 1), cls(1, total).pages), total)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)


# --- charts (inline SVG, drawn by the column_chart and row_chart macros in templates/_macros.html) ---


@dataclass(frozen=True)
class Bar:
    label: str  # the axis label; "" where labels are thinned out
    title: str  # the tooltip: full label and value
    value: int
    x: float
    y: float
    width: float
    height: float
    href: str | None = None


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    gridlines: tuple[tuple[float, str], ...]  # (position along the value axis, label)
    left: float  # where the plot area starts
    baseline: float  # y of the value axis' zero for columns; x of it for rows


def _step(top: int, lines: int = 4) -> int:
    """A round gridline step (1, 2, 5 × 10^k) so that `lines` steps reach at least `top`."""
    rough = max(top / lines, 1)
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def column_chart(title: str, points: Sequence[tuple[str, int]], *, width: int = 760) -> Chart:
    """Vertical bars, one per point (used for days); at most about 14 axis labels."""
    height, left, top, bottom = 220, 40, 12, 28
    step = _step(max((v for _, v in points), default=0))
    ceiling = step * max(1, math.ceil(max((v for _, v in points), default=0) / step))
    plot_h, plot_w = height - top - bottom, width - left - 8
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / 14))
    bars = tuple(
        Bar(
            label=label if i % every == 0 else "",
            title=f"{label}: {value}件",
            value=value,
            x=left + i * slot + slot * 0.15,
            y=top + plot_h * (1 - value / ceiling),
            width=slot * 0.7,
            height=plot_h * value / ceiling,
        )
        for i, (label, value) in enumerate(points)
    )
    gridlines = tuple((top + plot_h * (1 - v / ceiling), str(v)) for v in range(0, ceiling + 1, step))
    return Chart(title, width, height, bars, gridlines, left, top + plot_h)


def row_chart(title: str, items: Sequence[tuple[str, int, str]], *, width: int = 760) -> Chart:
    """Horizontal bars with their labels on the left (used for chapters); each bar links somewhere."""
    row, left, right, top = 30, 300, 60, 8
    ceiling = max((v for _, v, _ in items), default=0) or 1
    plot_w = width - left - right
    bars = tuple(
        Bar(
            label=label,
            title=f"{label}: {value}件",
            value=value,
            x=left,
            y=top + i * row + 5,
            width=plot_w * value / ceiling,
            height=row - 10,
            href=href,
        )
        for i, (label, value, href) in enumerate(items)
    )
    return Chart(title, width, top * 2 + row * len(items), bars, (), left, left)


def _days(form: FilterForm, per_day: Mapping[str, int]) -> list[tuple[str, int]]:
    """Every day of the period (or of the data), zeros included, so gaps show as gaps."""
    today = dt.datetime.now(LOCAL_TZ).date()
    since, until = form.log_filter.since, form.log_filter.until
    known = sorted(per_day)
    if since is None and not known:
        return []
    first = since.astimezone(LOCAL_TZ).date() if since else dt.date.fromisoformat(known[0])
    last = (until - dt.timedelta(microseconds=1)).astimezone(LOCAL_TZ).date() if until else today
    if known and not until:
        last = max(last, dt.date.fromisoformat(known[-1]))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [(f"{d.month}/{d.day}", per_day.get(d.isoformat(), 0)) for d in days]


# --- what pages show beyond reports.py ------------------------------------------------------------------


@dataclass(frozen=True)
class WordGroup:
    word: str | None  # as residents wrote it; None for questions sharing no frequent word
    rows: tuple[ExchangeRow, ...]


def group_by_words(rows: Sequence[ExchangeRow], *, min_count: int = 2) -> list[WordGroup]:
    """Put each question under its most frequent word, so one gap in the plan reads as one group.

    Words are counted by search key (ゴミ and ごみ together) and shown as written; a longer word
    wins a tie, so 駐輪場 is preferred to 駐輪. Largest groups first, the unshared rest last.
    """
    tally = WordTally()
    words = [tally.add(row.question) for row in rows]
    counts = tally.counts
    groups: dict[str | None, list[ExchangeRow]] = {}
    for row, keys in zip(rows, words, strict=True):
        best = max(keys, key=lambda k: (counts[k], len(k)), default=None)
        groups.setdefault(best if best and counts[best] >= min_count else None, []).append(row)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, -len(item[1])))
    return [WordGroup(tally.written(key) if key else None, tuple(members)) for key, members in ordered]


@dataclass(frozen=True)
class RankRow:
    rank: int
    shown: int
    helpful: int
    unhelpful: int


def measure_ranks(session: Session, measure_id: str, period: LogFilter) -> list[RankRow]:
    """How often a measure was shown at each rank in the period, and how those answers were rated."""
    exchanges = period.apply(select(Exchange.id))
    of_measure = (ExchangeHit.measure_id == measure_id, ExchangeHit.exchange_id.in_(exchanges))
    ranks = select(ExchangeHit.rank, func.count()).where(*of_measure).group_by(ExchangeHit.rank)
    shown: dict[int, int] = dict(session.execute(ranks).all())
    rated: Counter[tuple[int, bool]] = Counter()
    for rank, helpful, count in session.execute(
        select(ExchangeHit.rank, Feedback.helpful, func.count())
        .join(Feedback, Feedback.exchange_id == ExchangeHit.exchange_id)
        .where(*of_measure)
        .group_by(ExchangeHit.rank, Feedback.helpful)
    ):
        rated[rank, helpful] = count
    return [RankRow(rank, n, rated[rank, True], rated[rank, False]) for rank, n in sorted(shown.items())]


@dataclass(frozen=True)
class HandledRow:
    question: str
    staff_name: str
    note: str
    created_at: dt.datetime

    @property
    def local_time(self) -> str:
        return self.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def recently_handled(session: Session, *, limit: int = 20) -> list[HandledRow]:
    query = (
        select(Exchange.question, HandledItem.staff_name, HandledItem.note, HandledItem.created_at)
        .join(Exchange, Exchange.id == HandledItem.exchange_id)
        .order_by(HandledItem.created_at.desc(), HandledItem.id.desc())
        .limit(limit)
    )
    return [HandledRow(*row) for row in session.execute(query)]


def mark_handled(session: Session, exchange_id: int, staff_name: str, note: str) -> bool:
    """Take an exchange out of the inbox; False if there is no such exchange. Idempotent."""
    if session.get(Exchange, exchange_id) is None:
        return False
    if session.scalar(select(HandledItem.id).where(HandledItem.exchange_id == exchange_id)) is None:
        session.add(
            HandledItem(exchange_id=exchange_id, staff_name=staff_name, note=note, created_at=utcnow())
        )
    return True


@dataclass(frozen=True)
class Choices:
    """What the filter form's drop-downs offer."""

    chapters: tuple[tuple[int, str], ...]
    measures: tuple[tuple[str, str], ...]
    versions: tuple[tuple[int, str], ...]


def _choices(session: Session, plan: Plan) -> Choices:
    versions = session.execute(select(PlanVersion.id, PlanVersion.label).order_by(PlanVersion.id))
    return Choices(
        chapters=tuple((c.number, c.label) for c in plan.chapters),
        measures=tuple((m.middle.id, f"{m.middle.id} {m.middle.title}") for m in plan.located()),
        versions=tuple((vid, f"第{vid}版 {label}") for vid, label in versions),
    )


# --- templates -----------------------------------------------------------------------------------------


@jinja2.pass_context
def _path_for(context: Mapping[str, object], name: str, /, **params: object) -> str:
    """A link as a path (no scheme or host), right under /staff whichever app mounts the pages."""
    request = context["request"]
    assert isinstance(request, Request)
    return request.url_for(name, **params).path


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything residents typed is shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(path_for=_path_for, reasons=REASONS, periods=PERIODS)
    env.filters["percent"] = lambda value: f"{value * 100:.1f}%"
    return Jinja2Templates(env=env)


TEMPLATES = _templates()


# --- the app ------------------------------------------------------------------------------------------------


Page = Callable[["Dashboard", Request, str], Response]


def _staff_page(page: Page) -> Callable[[Dashboard, Request], Response]:
    """A page for signed-in staff; anyone else is sent to the login form (and back afterwards)."""

    @functools.wraps(page)
    def endpoint(self: Dashboard, request: Request) -> Response:
        staff = self.signed_in(request)
        if staff is None:
            return self.to_login(request)
        self.service.active.refresh()  # show citations from the version the bot answers with
        return page(self, request, staff)

    return endpoint


class Dashboard:
    """The pages' handlers, sharing the service (database, plan) and the login throttle."""

    def __init__(self, service: PlanService) -> None:
        self.service = service
        self.throttle = LoginThrottle()

    @property
    def plan(self) -> Plan:
        return self.service.active.bundle.plan

    # --- helpers

    def signed_in(self, request: Request) -> str | None:
        """The session's staff name, if that account still exists with the password it signed in with."""
        name, stamp = request.session.get("staff"), request.session.get("stamp")
        if not isinstance(name, str) or not isinstance(stamp, str):
            return None
        with self.service.sessions() as session:
            user = find_staff(session, name)
            return name if user is not None and hmac.compare_digest(account_stamp(user), stamp) else None

    def render(
        self, request: Request, template: str, staff: str | None, *, status: int = 200, **context: object
    ) -> Response:
        context.update(request=request, staff=staff, csrf_token=request.session.get("csrf", ""))
        return TEMPLATES.TemplateResponse(request, template, context, status_code=status)

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
        client = (name, request.client.host if request.client else "")
        wait = self.throttle.attempt(client)
        if wait:
            minutes = math.ceil(wait / 60)
            text = (
                f"ログインの失敗が続いたため、一時的にログインできません。約{minutes}分後にお試しください。"
            )
            return self.message(request, 429, "しばらくお待ちください", text, **{"Retry-After": str(wait)})
        user = await run_in_threadpool(self._authenticate, name, password)
        if user is None:
            logger.warning("failed staff login for %r from %s", name, client[1])
            error = "名前またはパスワードが違います。"
            return self.login_page(request, wanted=wanted, error=error, name=name, status=401)
        self.throttle.succeeded(client)
        request.session.clear()
        request.session.update(staff=user.name, stamp=account_stamp(user), csrf=new_csrf_token())
        logger.info("staff %s signed in", user.name)
        return RedirectResponse(self.safe_next(request, wanted), status_code=303)

    def _authenticate(self, name: str, password: str) -> StaffUser | None:
        with self.service.sessions() as session:
            return authenticate(session, name, password)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request.session, form.get("csrf_token")):
            return self.message(request, 403, "操作を受け付けられません", "ページを開き直してください。")
        request.session.clear()
        return self.redirect(request, "staff_login")

    # --- pages

    @_staff_page
    def overview(self, request: Request, staff: str) -> Response:
        form = parse_filter(request.query_params, default_period="30")
        with self.service.sessions() as session:
            stats = compute_stats(session, form.log_filter, self.plan)
            inbox = count_exchanges(session, LogFilter(inbox=True))
            version = session.scalar(select(PlanVersion).where(PlanVersion.active.is_(True)))
        exchanges = request.url_for("staff_exchanges").path
        chapters = [
            (c.label, stats.per_chapter.get(c.number, 0), f"{exchanges}?{form.query(chapter=c.number)}")
            for c in self.plan.chapters
        ]
        return self.render(
            request,
            "overview.html",
            staff,
            active="staff_overview",
            form=form,
            stats=stats,
            inbox=inbox,
            version=version,
            per_day=column_chart("日別の質問数", _days(form, stats.per_day)),
            per_chapter=row_chart("章別の回答数（1位に表示した施策の章）", chapters),
        )

    @_staff_page
    def exchanges(self, request: Request, staff: str) -> Response:
        form = parse_filter(request.query_params)
        with self.service.sessions() as session:
            pager = Pager.from_param(
                request.query_params.get("page"), count_exchanges(session, form.log_filter)
            )
            rows = list_exchanges(session, form.log_filter, self.plan, limit=pager.size, offset=pager.offset)
            choices = _choices(session, self.plan)
        return self.render(
            request,
            "exchanges.html",
            staff,
            active="staff_exchanges",
            form=form,
            rows=rows,
            pager=pager,
            choices=choices,
        )

    @_staff_page
    def inbox(self, request: Request, staff: str) -> Response:
        inbox = LogFilter(inbox=True)
        with self.service.sessions() as session:
            total = count_exchanges(session, inbox)
            rows = list_exchanges(session, inbox, self.plan, limit=INBOX_LIMIT)
            handled = recently_handled(session)
        return self.render(
            request,
            "inbox.html",
            staff,
            active="staff_inbox",
            total=total,
            shown=len(rows),
            groups=group_by_words(rows),
            handled=handled,
        )

    async def handle_item(self, request: Request) -> Response:
        """Mark an inbox item handled (POST, with a note)."""
        staff = await run_in_threadpool(self.signed_in, request)
        if staff is None:  # not back here after login: this address only takes a form
            return self.redirect(request, "staff_login")
        form = await request.form()
        if not csrf_ok(request.session, form.get("csrf_token")):
            return self.message(
                request, 403, "操作を受け付けられません", "ページを開き直してから、もう一度お試しください。"
            )
        note = str(form.get("note", "")).strip()[:2000]
        exchange_id: int = request.path_params["exchange_id"]
        try:
            found = await run_in_threadpool(self._mark_handled, exchange_id, staff, note)
        except IntegrityError:  # marked by someone else at the same moment: handled either way
            found = True
        if not found:
            return self.message(request, 404, "見つかりません", "この質問は見つかりませんでした。")
        return self.redirect(request, "staff_inbox")

    def _mark_handled(self, exchange_id: int, staff: str, note: str) -> bool:
        with self.service.sessions() as session, session.begin():
            return mark_handled(session, exchange_id, staff, note)

    @_staff_page
    def measure(self, request: Request, staff: str) -> Response:
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
        if located is None and not total:
            return self.message(
                request, 404, "見つかりません", f"施策 {measure_id} は計画にも記録にもありません。"
            )
        return self.render(
            request,
            "measure.html",
            staff,
            form=form,
            measure_id=measure_id,
            located=located,
            ranks=ranks,
            total=total,
            rows=rows,
            per_day=column_chart("日別の表示回数", _days(form, stats.per_day)),
        )

    def export(self, request: Request) -> Response:
        """The current filter as CSV for Excel; every export is recorded (who, when, which filter, rows)."""
        staff = self.signed_in(request)
        if staff is None:
            return PlainTextResponse("ログインが必要です。", status_code=401)
        form = parse_filter(request.query_params)
        if form.errors:
            return PlainTextResponse("\n".join(form.errors), status_code=400)
        with self.service.sessions() as session, session.begin():
            total = count_exchanges(session, form.log_filter)
            rows = list_exchanges(session, form.log_filter, self.plan, limit=total)
            session.add(
                Export(
                    staff_name=staff, filter=form.log_filter.describe(), rows=len(rows), created_at=utcnow()
                )
            )
        logger.info("staff %s exported %d exchange(s) with %s", staff, len(rows), form.log_filter.describe())
        filename = f"planbot-exchanges-{dt.datetime.now(LOCAL_TZ):%Y%m%d-%H%M}.csv"
        return Response(
            rows_to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    # --- errors

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {
            404: ("見つかりません", "このページはありません。"),
            405: ("操作できません", "この操作はできません。"),
        }
        title, text = titles.get(exc.status_code, ("エラー", "リクエストを処理できませんでした。"))
        return self.message(request, exc.status_code, title, text, **(exc.headers or {}))

    def server_error(self, request: Request, _exc: Exception) -> Response:
        """A Japanese page instead of a traceback (Starlette re-raises, so the server logs the error)."""
        text = "しばらくしてからもう一度お試しください。続く場合は担当者に連絡してください。"
        return self.message(request, 500, "エラーが発生しました", text)


def create_dashboard(service: PlanService) -> Starlette:
    """The staff pages as an app to mount at STAFF_PREFIX; routes here are relative to it."""
    pages = Dashboard(service)
    routes = [
        Route("/", pages.overview, name="staff_overview"),
        Route("/login", pages.login_form, name="staff_login"),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"], name="staff_logout"),
        Route("/exchanges", pages.exchanges, name="staff_exchanges"),
        Route("/inbox", pages.inbox, name="staff_inbox"),
        Route("/inbox/{exchange_id:int}/handled", pages.handle_item, methods=["POST"], name="staff_handle"),
        Route("/measures/{measure_id}", pages.measure, name="staff_measure"),
        Route("/export.csv", pages.export, name="staff_export"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="staff_static"),
    ]
    middleware = [
        Middleware(HardenResponses),
        Middleware(
            SessionMiddleware,
            secret_key=session_secret(service.settings.log_salt),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
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
    return Starlette(routes=routes, lifespan=lifespan)
