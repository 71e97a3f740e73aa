"""The staff dashboard over HTTP (Starlette's TestClient) on a real SQLite log filled by the real answers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import click
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from bot.config import Settings
from bot.dashboard import create_standalone_app
from bot.reports import LOCAL_TZ
from bot.service import PlanService
from bot.staff_auth import LoginThrottle, hash_password, verify_password
from bot.staff_cli import dashboard, staff
from bot.store import (
    Exchange,
    Export,
    Feedback,
    HandledItem,
    LoginAttempt,
    StaffAction,
    StaffSession,
    StaffUser,
    utcnow,
)
from bot.web import create_app
from tests.helpers import TEST_SALT, converse, make_settings

STAFF = "tanaka"
PASSWORD = "correct horse battery"
HOSTILE = '<script>alert("hostile")</script>'

# (question, answered by the bundled plan); the dashboard shows whatever the real search decided,
# and `fill` checks that it decided this, so a change in the index fails here with a clear message.
QUESTIONS = (
    ("保育園が足りない", True),  # 2-2-4 at rank 1, rated helpful
    ("保育園に入れない", True),  # 2-2-4 at rank 1, asked 10 days ago
    ("子育て支援", True),  # the chapter-2 field list, 2-2-4 at rank 2
    ("公園を増やしてほしい", True),  # chapter 5, asked 40 days ago
    ("ごみの出し方", True),  # chapter 4, rated unhelpful
    ("ラーメン屋のおすすめ", False),
    ("ラーメンの屋台を出したい", False),
    ("宇宙旅行に行きたい", False),
    ("宇宙旅行の費用", False),
    (HOSTILE, False),
)
DAYS_AGO = {"保育園に入れない": 10, "公園を増やしてほしい": 40}


def fill(service: PlanService) -> dict[str, str]:
    """Ask each question as a different resident, rate two answers, move two back in time; uid by question."""
    uids = {}
    for user_id, (question, expected) in enumerate(QUESTIONS):
        exchange = converse(service, "telegram", user_id, question)
        assert exchange.answered == expected, question
        uids[question] = exchange.uid
    service.record_feedback("telegram", 0, uids["保育園が足りない"], True)
    service.record_feedback("telegram", 4, uids["ごみの出し方"], False)
    assert service.log.flush()
    with service.sessions() as session, session.begin():
        for question, days in DAYS_AGO.items():
            when = utcnow() - dt.timedelta(days=days)
            session.execute(update(Exchange).where(Exchange.uid == uids[question]).values(created_at=when))
    return uids


def add_account(
    service: PlanService, name: str = STAFF, password: str = PASSWORD, *, role: str = "editor"
) -> None:
    """A staff account with cheap scrypt parameters (they travel in the stored hash) to keep tests fast."""
    with service.sessions() as session, session.begin():
        session.add(
            StaffUser(
                name=name,
                password_hash=hash_password(password, n=2**10, r=8, p=1),
                created_at=utcnow(),
                role=role,
            )
        )


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(
    client: TestClient,
    name: str = STAFF,
    password: str = PASSWORD,
    headers: Mapping[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    token = csrf_token(client.get("/staff/login").text)
    form = {"name": name, "password": password, "csrf_token": token, **extra}
    return client.post("/staff/login", data=form, headers=headers, follow_redirects=False)


def press_export(client: TestClient, token: str | None = None, **values: str) -> httpx.Response:
    """Press a page's CSV button: a POST of the filter with the session's CSRF token."""
    token = token or csrf_token(client.get("/staff/inbox").text)
    return client.post("/staff/export.csv", data={**values, "csrf_token": token})


def questions_in(html: str) -> set[str]:
    """The questions a page lists, unescaped (the page shows them as text)."""
    cells = re.findall(r'class="question">(.*?)</(?:td|p)>', html, flags=re.S)
    return {cell.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"') for cell in cells}


def bars(html: str) -> list[str]:
    """The tooltips of the desktop drawing's columns (the phone drawing repeats them)."""
    wide = "".join(re.findall(r'<svg class="wide".*?</svg>', html, flags=re.S))
    return re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', wide)


class Filled(NamedTuple):
    service: PlanService
    uids: dict[str, str]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """One filled database for the tests that only read (starting a service takes about a second)."""
    data_dir = tmp_path_factory.mktemp("dashboard")
    service = PlanService.start(
        Settings.from_env(
            {"PLANBOT_DATA_DIR": str(data_dir), "LOG_SALT": "test-salt-0123456789abcdef0123456789"}
        )
    )
    add_account(service)
    yield Filled(service, fill(service))
    service.close()


@pytest.fixture(scope="module")
def reader(shared: Filled) -> TestClient:
    """Signed in to the `serve` app (no Telegram token configured) on the shared database."""
    client = TestClient(create_standalone_app(shared.service), follow_redirects=False)
    assert login(client).status_code == 303
    return client


@pytest.fixture(scope="module")
def stranger(shared: Filled) -> TestClient:
    return TestClient(create_standalone_app(shared.service), follow_redirects=False)


@pytest.fixture
def visitor(shared: Filled) -> TestClient:
    """Not signed in, on a new app over the shared database."""
    return TestClient(create_standalone_app(shared.service), follow_redirects=False)


@pytest.fixture
def uids(service: PlanService) -> dict[str, str]:
    add_account(service)
    return fill(service)


@pytest.fixture
def anonymous(service: PlanService) -> TestClient:
    """The `serve` app on this test's own database, not signed in."""
    return TestClient(create_standalone_app(service), follow_redirects=False)


@pytest.fixture
def client(anonymous: TestClient, uids: dict[str, str]) -> TestClient:
    assert login(anonymous).status_code == 303
    return anonymous


def exchange_id(service: PlanService, uid: str) -> int:
    with service.sessions() as session:
        return session.scalars(select(Exchange.id).where(Exchange.uid == uid)).one()


# --- access ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/staff/", "/staff/exchanges?search=x", "/staff/inbox", "/staff/measures/2-2-4"]
)
def test_pages_redirect_to_login_without_session(stranger: TestClient, path: str) -> None:
    response = stranger.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login?" + urlencode({"next": path})
    assert "保育園" not in response.text


def test_export_and_actions_refused_without_session(visitor: TestClient, shared: Filled) -> None:
    def recorded() -> tuple[int | None, ...]:
        with shared.service.sessions() as session:
            return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Export, HandledItem))

    before = recorded()
    for response in (
        visitor.get("/staff/export.csv"),
        visitor.post("/staff/export.csv", data={"inbox": "1", "csrf_token": "x"}),
    ):
        assert response.status_code in (303, 405) and "宇宙" not in response.text
    target = exchange_id(shared.service, shared.uids["宇宙旅行の費用"])
    response = visitor.post(f"/staff/inbox/{target}/handled", data={"note": "x", "csrf_token": "x"})
    assert response.headers["location"] == "/staff/login"
    assert recorded() == before


def test_login_then_logout(visitor: TestClient) -> None:
    response = login(visitor, next="/staff/inbox")
    assert (response.status_code, response.headers["location"]) == (303, "/staff/inbox")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("planbot_staff=")
    for attribute in ("path=/staff", "httponly", "samesite=lax", "Max-Age=28800"):
        assert attribute in cookie
    assert "secure" not in cookie  # plain http on 127.0.0.1: a Secure cookie would never come back
    page = visitor.get("/staff/")
    assert page.status_code == 200 and f"{STAFF} さん" in page.text

    response = visitor.post("/staff/logout", data={"csrf_token": csrf_token(page.text)})
    assert (response.status_code, response.headers["location"]) == (303, "/staff/login")
    assert visitor.get("/staff/").status_code == 303


def test_login_goes_only_to_dashboard_pages(visitor: TestClient) -> None:
    response = login(visitor, next="https://evil.example/staff/")
    assert response.headers["location"] == "/staff/"


PROXY = "10.0.0.5"  # the reverse proxy in front of `serve`, named in TRUSTED_PROXIES


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[PlanService]:
    service = PlanService.start(make_settings(tmp_path, TRUSTED_PROXIES=f"{PROXY}/32, 192.168.0.0/16"))
    add_account(service)
    yield service
    service.close()


def test_session_cookie_is_secure_behind_https(behind_proxy: PlanService) -> None:
    for peer, secure in ((PROXY, True), ("203.0.113.9", False)):
        client = TestClient(create_standalone_app(behind_proxy), follow_redirects=False, client=(peer, 1))
        response = login(client, headers={"X-Forwarded-Proto": "https"})
        assert response.headers["set-cookie"].endswith("; secure") is secure, peer
        assert ("strict-transport-security" in response.headers) is secure, peer


def test_security_headers(stranger: TestClient) -> None:
    headers = stranger.get("/staff/login").headers
    assert "script-src" not in headers["content-security-policy"]  # no scripts at all: default-src 'none'
    assert "default-src 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["cache-control"]) == ("DENY", "no-store")
    assert "camera=()" in headers["permissions-policy"]
    assert "strict-transport-security" not in headers  # plain http: HSTS would lock out 127.0.0.1


def test_security_headers_on_every_response_of_the_web_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, TELEGRAM_BOT_TOKEN="123:ABC", TRUSTED_PROXIES=PROXY)
    service = PlanService.start(settings)
    try:
        client = TestClient(create_app(service), follow_redirects=False, client=(PROXY, 1))
        # (paths outside /staff/ are the web chat, whose own frame policy test_webchat checks)
        for path in ("/healthz", "/staff/nowhere", "/staff/static/staff.css", "/staff/login"):
            headers = client.get(path, headers={"X-Forwarded-Proto": "https"}).headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "camera=()" in headers["permissions-policy"], path
            assert headers["strict-transport-security"].startswith("max-age="), path
    finally:
        service.close()


def test_logout_ends_the_session_on_the_server(visitor: TestClient, shared: Filled) -> None:
    """Replaying the cookie after logout reads nothing, exports nothing, closes nothing."""
    login(visitor)
    page = visitor.get("/staff/inbox").text
    replayed = dict(visitor.cookies)
    assert visitor.post("/staff/logout", data={"csrf_token": csrf_token(page)}).status_code == 303

    attacker = TestClient(create_standalone_app(shared.service), follow_redirects=False, cookies=replayed)
    assert attacker.get("/staff/exchanges").status_code == 303
    response = attacker.post("/staff/export.csv", data={"inbox": "1", "csrf_token": csrf_token(page)})
    assert response.status_code == 303 and "宇宙" not in response.text
    target = exchange_id(shared.service, shared.uids["宇宙旅行の費用"])
    response = attacker.post(
        f"/staff/inbox/{target}/handled", data={"note": "", "csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303
    with shared.service.sessions() as session:
        assert session.scalar(select(HandledItem).where(HandledItem.exchange_id == target)) is None


def test_log_out_everywhere(shared: Filled) -> None:
    office, phone = (TestClient(create_standalone_app(shared.service), follow_redirects=False) for _ in "ab")
    login(office), login(phone)
    token = csrf_token(phone.get("/staff/").text)
    assert phone.post("/staff/logout", data={"csrf_token": token, "everywhere": "1"}).status_code == 303
    assert office.get("/staff/").status_code == 303 and phone.get("/staff/").status_code == 303


def test_idle_and_old_sessions_end(client: TestClient, service: PlanService) -> None:
    assert client.get("/staff/").status_code == 200
    with service.sessions() as session, session.begin():
        session.execute(update(StaffSession).values(seen_at=utcnow() - dt.timedelta(minutes=61)))
    assert client.get("/staff/").status_code == 303
    login(client)
    with service.sessions() as session, session.begin():
        session.execute(update(StaffSession).values(created_at=utcnow() - dt.timedelta(hours=8, minutes=1)))
    assert client.get("/staff/").status_code == 303


def test_cookie_key_is_its_own_secret(service: PlanService, anonymous: TestClient) -> None:
    """The cookie is signed with SESSION_SECRET (or the data folder's key), never with LOG_SALT."""
    from itsdangerous import BadSignature, TimestampSigner

    add_account(service)
    cookie = login(anonymous).cookies["planbot_staff"]
    settings = service.settings
    assert settings.session_secret != settings.log_salt and len(settings.session_secret) >= 32
    TimestampSigner(settings.session_secret).unsign(cookie)
    with pytest.raises(BadSignature):
        TimestampSigner(settings.log_salt).unsign(cookie)
    assert (settings.data_dir / "session_secret").stat().st_mode & 0o777 == 0o600


def test_short_secrets_are_refused(tmp_path: Path) -> None:
    from bot.cli import cli

    for name in ("LOG_SALT", "SESSION_SECRET"):
        env = {"PLANBOT_DATA_DIR": str(tmp_path), "LOG_SALT": "x" * 40, name: "x"}
        result = CliRunner().invoke(cli, ["logs"], env=env)
        assert result.exit_code == 1, result.output
        assert (
            result.output.strip().count("\n") == 0
            and f"{name} must be at least 32 characters" in result.output
        )
    settings = make_settings(tmp_path, SESSION_SECRET="s" * 32)
    assert settings.session_secret == "s" * 32 and "s" * 32 not in repr(settings)


@pytest.mark.parametrize(("name", "password"), [(STAFF, "wrong password"), ("nobody", PASSWORD), (STAFF, "")])
def test_wrong_credentials(visitor: TestClient, name: str, password: str) -> None:
    response = login(visitor, name=name, password=password)
    assert response.status_code == 401
    assert "名前またはパスワードが違います。" in response.text
    assert visitor.get("/staff/").status_code == 303


def test_failed_logins_are_rate_limited(anonymous: TestClient, uids: dict[str, str]) -> None:
    for _ in range(5):
        assert login(anonymous, password="wrong password").status_code == 401
    response = login(anonymous)  # even the right password waits now
    assert response.status_code == 429
    assert "一時的にログインできません" in response.text
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert anonymous.get("/staff/").status_code == 303


def test_throttle_window_and_keys(service: PlanService) -> None:
    start = utcnow()
    now = [start]
    throttle = LoginThrottle(
        service.sessions,
        TEST_SALT,
        limit=2,
        per_address=100,
        per_name=100,
        window_seconds=60,
        clock=lambda: now[0],
    )
    key = ("tanaka", "10.0.0.1")
    assert throttle.attempt(*key) == 0
    now[0] = start + dt.timedelta(seconds=30)
    assert throttle.attempt(*key) == 0
    assert throttle.attempt(*key) == 30  # counted before checking: parallel tries cannot slip through
    assert throttle.attempt("tanaka", "10.0.0.2") == 0
    now[0] = start + dt.timedelta(seconds=61)
    assert throttle.attempt(*key) == 0  # the first attempt left the window
    throttle.succeeded(*key)
    assert throttle.attempt(*key) == 0


def test_throttle_counts_an_address_across_names_and_a_name_across_addresses(service: PlanService) -> None:
    throttle = LoginThrottle(service.sessions, TEST_SALT, limit=5, per_address=3, per_name=4)
    assert [throttle.attempt(name, "10.0.0.1") for name in ("a", "b", "c", "d")][-1] > 0
    assert [throttle.attempt("e", f"10.0.1.{n}") for n in range(5)][-1] > 0
    assert throttle.attempt("f", "10.0.2.1") == 0


def test_the_throttle_is_shared_by_every_web_process(
    service: PlanService,
) -> None:
    """Two processes' throttles on one database count the same attempts (test_privacy checks that
    no table holds a typed name or an address)."""
    first, second = (LoginThrottle(service.sessions, TEST_SALT, limit=3) for _ in "ab")
    assert [first.attempt("tanaka", "10.0.0.1"), second.attempt("tanaka", "10.0.0.1")] == [0, 0]
    assert first.attempt("tanaka", "10.0.0.1") == 0
    assert second.attempt("tanaka", "10.0.0.1") > 0
    with service.sessions() as session:
        stored = session.scalars(select(LoginAttempt.kind)).all()
    assert sorted(stored) == ["address"] * 3 + ["name"] * 3 + ["pair"] * 3  # the refused one is not kept


def test_forwarded_for_is_believed_only_from_trusted_proxies(behind_proxy: PlanService) -> None:
    """Names guessed from one address hit its limit; a client cannot pick a new address per request."""
    for n in range(21):  # real accounts with cheap hashes: a wrong password costs little to check here
        add_account(behind_proxy, f"user{n}")
    direct = TestClient(
        create_standalone_app(behind_proxy), follow_redirects=False, client=("203.0.113.9", 1)
    )
    codes = [
        login(
            direct, name=f"user{n}", password="wrong", headers={"X-Forwarded-For": f"198.51.100.{n}"}
        ).status_code
        for n in range(21)
    ]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    proxied = TestClient(create_standalone_app(behind_proxy), follow_redirects=False, client=(PROXY, 1))
    codes = [
        login(
            proxied,
            name=f"user{n}",
            password="wrong",
            headers={"X-Forwarded-For": f"198.51.100.{n}, {PROXY}"},
        ).status_code
        for n in range(21)
    ]
    assert codes == [401] * 21  # 21 residents' addresses behind the proxy, one try each


def test_removed_account_loses_its_session(client: TestClient, service: PlanService) -> None:
    assert client.get("/staff/").status_code == 200
    with service.sessions() as session, session.begin():
        session.delete(session.scalar(select(StaffUser)))
    assert client.get("/staff/").status_code == 303


def test_forms_need_the_session_csrf_token(visitor: TestClient, shared: Filled) -> None:
    login(visitor)
    target = exchange_id(shared.service, shared.uids["宇宙旅行の費用"])
    for token in ("", "forged"):
        response = visitor.post(f"/staff/inbox/{target}/handled", data={"note": "x", "csrf_token": token})
        assert response.status_code == 403
        assert visitor.post("/staff/logout", data={"csrf_token": token}).status_code == 403
    assert "宇宙旅行の費用" in questions_in(visitor.get("/staff/inbox").text)
    assert visitor.get("/staff/").status_code == 200  # still signed in


def test_login_form_needs_its_csrf_token(visitor: TestClient) -> None:
    visitor.get("/staff/login")
    form = {"name": STAFF, "password": PASSWORD, "csrf_token": "forged"}
    response = visitor.post("/staff/login", data=form)
    assert response.status_code == 403
    assert visitor.get("/staff/").status_code == 303


# --- pages --------------------------------------------------------------------------------------------


def test_overview_shows_the_period_figures(reader: TestClient) -> None:
    page = reader.get("/staff/").text  # the last 30 days: all but the exchange of 40 days ago
    assert re.search(r'aria-current="true">直近30日', page)
    assert re.search(r"質問数</div>\s*<div class=\"value\">9<small>", page)
    assert "9件中 4件に回答" in page and "44.4%" in page
    assert "役に立った 1件・役に立たなかった 1件" in page and "50.0%" in page
    assert "第1版" in page  # the plan version in use
    assert len(bars(page)) == 30 and page.count("<meter ") == 6  # one column per day, one row per chapter
    assert "第2章 福祉・こども・健康" in page
    assert "/staff/measures/2-2-4" in page
    assert "ラーメン" in page  # a frequent word of unanswered questions

    everything = reader.get("/staff/?period=all").text
    assert re.search(r"質問数</div>\s*<div class=\"value\">10<small>", everything)
    week = reader.get("/staff/?period=7").text
    assert re.search(r"質問数</div>\s*<div class=\"value\">8<small>", week)
    assert len(bars(week)) == 7 and week.count("<meter ") == 6


def test_overview_reports_bad_dates(reader: TestClient) -> None:
    page = reader.get("/staff/?since=yesterday").text
    assert "開始日は 2026-11-01 のように入力してください。" in page


def _days_ago(days: int) -> str:
    return (dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=days)).isoformat()


DECLINED = {
    "ラーメン屋のおすすめ",
    "ラーメンの屋台を出したい",
    "宇宙旅行に行きたい",
    "宇宙旅行の費用",
    HOSTILE,
}
FILTERS = [
    ("", {q for q, _ in QUESTIONS}),
    ("unanswered=1", DECLINED),
    ("feedback=up", {"保育園が足りない"}),
    ("feedback=down", {"ごみの出し方"}),
    ("measure=2-2-4", {"保育園が足りない", "保育園に入れない", "子育て支援"}),
    ("chapter=5", {"公園を増やしてほしい"}),
    ("search=宇宙", {"宇宙旅行に行きたい", "宇宙旅行の費用"}),
    ("version=1", {q for q, _ in QUESTIONS}),
    ("version=2", set()),
    ("period=7", {q for q, _ in QUESTIONS} - set(DAYS_AGO)),
    (f"since={_days_ago(45)}&until={_days_ago(5)}", set(DAYS_AGO)),
    ("inbox=1", DECLINED | {"ごみの出し方"}),
    ("unanswered=1&search=ラーメン", {"ラーメン屋のおすすめ", "ラーメンの屋台を出したい"}),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_exchange_filters(reader: TestClient, query: str, expected: set[str]) -> None:
    page = reader.get(f"/staff/exchanges?{query}").text
    assert questions_in(page) == expected
    assert f"{len(expected)}件中" in page


def test_exchange_rows_show_citations_and_feedback(reader: TestClient) -> None:
    page = reader.get("/staff/exchanges?feedback=up").text
    assert "第2章 福祉・こども・健康 › 2 " in page  # the citation of 2-2-4
    assert "役に立った 1" in page and 'href="/staff/measures/2-2-4"' in page


def test_exchanges_are_paginated(client: TestClient, service: PlanService) -> None:
    for n in range(45):
        converse(service, "web", f"pager-{n}", f"保育園の質問 {n}")
    assert service.log.flush()
    first = client.get("/staff/exchanges").text
    assert "55件中 1–50件" in first and "1 / 2 ページ" in first
    assert first.count('class="question"') == 50
    assert 'href="?page=2" rel="next"' in first
    second = client.get("/staff/exchanges?page=2").text
    assert "55件中 51–55件" in second and second.count('class="question"') == 5
    assert 'href="?page=1" rel="prev"' in second
    assert "55件中 51–55件" in client.get("/staff/exchanges?page=99").text  # past the end: the last page


def test_inbox_groups_by_words_and_items_leave_when_handled(
    client: TestClient, service: PlanService, uids: dict[str, str]
) -> None:
    page = client.get("/staff/inbox").text
    assert '「ラーメン」を含む質問 <span class="count">2件</span>' in page
    assert '「宇宙旅行」を含む質問 <span class="count">2件</span>' in page
    assert questions_in(page) == DECLINED | {"ごみの出し方"}

    target = exchange_id(service, uids["宇宙旅行の費用"])
    note = "<b>計画の対象外</b>と回答"
    response = client.post(
        f"/staff/inbox/{target}/handled", data={"note": note, "csrf_token": csrf_token(page)}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/staff/inbox")
    after = client.get("/staff/inbox").text
    assert "「宇宙旅行」を含む質問" not in after  # one left: no longer a group
    assert "&lt;b&gt;計画の対象外&lt;/b&gt;と回答" in after  # in the recently handled list, escaped
    assert "宇宙旅行の費用" not in "".join(
        re.findall(r'<article class="item".*?</article>', after, flags=re.S)
    )
    with service.sessions() as session:
        handled = session.scalars(select(HandledItem)).one()
    assert (handled.exchange_id, handled.staff_name, handled.note) == (target, STAFF, note)

    again = client.post(f"/staff/inbox/{target}/handled", data={"note": "", "csrf_token": csrf_token(page)})
    assert again.status_code == 303  # marking twice is harmless
    missing = client.post("/staff/inbox/99999/handled", data={"note": "", "csrf_token": csrf_token(page)})
    assert missing.status_code == 404


def test_measure_page(reader: TestClient) -> None:
    page = reader.get("/staff/measures/2-2-4").text
    assert "第2章 福祉・こども・健康 › 2 " in page
    assert re.search(r"表示された回数</div><div class=\"value\">3<small>", page)
    assert re.search(r"1位で表示</div><div class=\"value\">2<small>", page)
    ranks = re.findall(r"<tr><td>(\d)位</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", page)
    assert ranks == [("1", "2", "1"), ("2", "1", "0")]
    assert questions_in(page) == {"保育園が足りない", "保育園に入れない", "子育て支援"}
    week = reader.get("/staff/measures/2-2-4?period=7").text
    assert questions_in(week) == {"保育園が足りない", "子育て支援"}


def test_unknown_measure_and_page_are_not_found(reader: TestClient) -> None:
    response = reader.get("/staff/measures/9-9-9")
    assert response.status_code == 404 and "見つかりません" in response.text
    assert reader.get("/staff/nowhere").status_code == 404


def test_export_csv_of_the_filter_is_recorded(reader: TestClient, shared: Filled) -> None:
    response = press_export(reader, measure="2-2-4", period="all")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="planbot-exchanges-')
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["時刻", "チャネル", "質問"]
    assert {row[2] for row in rows[1:]} == {"保育園が足りない", "保育園に入れない", "子育て支援"}
    assert all("第2章 福祉・こども・健康" in row[6] for row in rows[1:])  # citations spelled out
    with shared.service.sessions() as session:
        export = session.scalars(select(Export).order_by(Export.id.desc())).first()
    assert export is not None
    assert (export.staff_name, export.filter, export.rows) == (STAFF, {"measure": "2-2-4"}, 3)


def test_a_failure_shows_a_japanese_page_not_a_traceback(
    shared: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(
        create_standalone_app(shared.service), follow_redirects=False, raise_server_exceptions=False
    )
    login(client)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr("bot.dashboard.compute_stats", broken)
    response = client.get("/staff/")
    assert response.status_code == 500
    assert "エラーが発生しました" in response.text and "database went away" not in response.text


def test_a_hostile_question_is_shown_as_text(reader: TestClient) -> None:
    for path in ("/staff/exchanges", "/staff/inbox", "/staff/?period=all"):
        page = reader.get(path).text
        assert "<script" not in page, path
    assert "&lt;script&gt;alert(&#34;hostile&#34;)&lt;/script&gt;" in reader.get("/staff/exchanges").text


def test_standalone_app_serves_the_same_urls(shared: Filled) -> None:
    client = TestClient(create_standalone_app(shared.service), follow_redirects=False)
    assert client.get("/").headers["location"] == "/staff/"
    assert login(client).headers["location"] == "/staff/"
    assert "概要" in client.get("/staff/").text
    assert client.get("/staff/static/staff.css").headers["content-type"].startswith("text/css")


@pytest.mark.postgres
def test_the_pages_on_postgres(pg_settings: Settings) -> None:
    """Production runs on PostgreSQL: the same figures, filters, inbox and export there."""
    service = PlanService.start(pg_settings)
    try:
        add_account(service)
        uids = fill(service)
        client = TestClient(create_standalone_app(service), follow_redirects=False)
        login(client)
        assert "9件中 4件に回答" in client.get("/staff/").text
        for query, expected in FILTERS:
            assert questions_in(client.get(f"/staff/exchanges?{query}").text) == expected, query
        ranks = re.findall(
            r"<tr><td>(\d)位</td><td class=\"num\">(\d+)</td>", client.get("/staff/measures/2-2-4").text
        )
        assert ranks == [("1", "2"), ("2", "1")]
        page = client.get("/staff/inbox").text
        target = exchange_id(service, uids["宇宙旅行の費用"])
        client.post(f"/staff/inbox/{target}/handled", data={"note": "済", "csrf_token": csrf_token(page)})
        assert "宇宙旅行の費用" not in questions_in(client.get("/staff/exchanges?inbox=1").text)
        assert press_export(client, inbox="1").text.count("\n") == 1 + 5
    finally:
        service.close()


# --- passwords and the command line ---------------------------------------------------------------


def test_password_hashes() -> None:
    stored = hash_password("ｐａｓｓｗｏｒｄ１２３", n=2**10, r=8, p=1)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("password123", stored)  # typed with the IME in full-width mode or not
    assert not verify_password("password124", stored)
    assert stored != hash_password("password123", n=2**10, r=8, p=1)  # salted
    for broken in ("", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AA==$AA=="):
        assert not verify_password("password123", broken)


@pytest.fixture
def cli_env(settings: Settings) -> Mapping[str, str | None]:
    return {
        "PLANBOT_DATA_DIR": str(settings.data_dir),
        "LOG_SALT": "test-salt-0123456789abcdef0123456789",
        "DATABASE_URL": None,
    }


def test_staff_commands(cli_env: Mapping[str, str | None]) -> None:
    runner = CliRunner()
    assert runner.invoke(staff, ["list"], env=cli_env).output.startswith("no staff accounts")
    added = runner.invoke(staff, ["add", "suzuki"], input=PASSWORD + "\n", env=cli_env)
    assert (added.exit_code, added.output) == (0, "added staff account 'suzuki' (viewer)\n")
    listed = runner.invoke(staff, ["list"], env=cli_env)
    assert re.fullmatch(r"suzuki\tviewer\t\d{4}-\d\d-\d\d \d\d:\d\d\n", listed.output)

    again = runner.invoke(staff, ["add", "suzuki"], input=PASSWORD + "\n", env=cli_env)
    assert again.exit_code == 1 and "already exists" in again.output
    removed = runner.invoke(staff, ["remove", "suzuki"], env=cli_env)
    assert (removed.exit_code, removed.output) == (0, "removed staff account 'suzuki'\n")
    missing = runner.invoke(staff, ["remove", "suzuki"], env=cli_env)
    assert missing.exit_code == 1 and "there is no staff account 'suzuki'" in missing.output


def test_new_password_ends_every_session(
    cli_env: Mapping[str, str | None], client: TestClient, service: PlanService
) -> None:
    assert client.get("/staff/").status_code == 200
    weak = CliRunner().invoke(staff, ["passwd", STAFF], input="password1234\n", env=cli_env)
    assert weak.exit_code == 1 and "too easy to guess" in weak.output
    assert client.get("/staff/").status_code == 200  # a refused password changes nothing
    changed = CliRunner().invoke(staff, ["passwd", STAFF], input="kodomo-no-mori-2026\n", env=cli_env)
    assert changed.exit_code == 0, changed.output
    assert client.get("/staff/").status_code == 303
    assert login(client, password="kodomo-no-mori-2026").status_code == 303


ADD_ERRORS = [
    (["add", "sato"], "short\n", "at least 12 characters"),
    (["add", "sato"], "aaaaaaaaaaaa\n", "too easy to guess"),
    (["add", "sato"], "1234567890123\n", "too easy to guess"),
    (["add", "sato"], "sato12345678\n", "too easy to guess"),
    (["add", "sato"], "", "no password on stdin"),
    (["add", "sa to"], PASSWORD + "\n", "not a usable name"),
]


@pytest.mark.parametrize(("args", "stdin", "message"), ADD_ERRORS)
def test_staff_add_refuses(
    cli_env: Mapping[str, str | None], args: list[str], stdin: str, message: str
) -> None:
    result = CliRunner().invoke(staff, args, input=stdin, env=cli_env)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_staff_add_asks_twice_at_a_terminal(
    cli_env: Mapping[str, str | None], monkeypatch: pytest.MonkeyPatch, service: PlanService
) -> None:
    monkeypatch.setattr("bot.staff_cli.stdin_is_terminal", lambda: True)
    typed = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    result = CliRunner().invoke(staff, ["add", "sato"], input=typed, env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Error: The two entered values do not match." in result.output
    assert PASSWORD not in result.output  # hidden input
    client = TestClient(create_standalone_app(service), follow_redirects=False)
    assert login(client, name="sato").status_code == 303  # the dashboard accepts what the CLI stored


@pytest.mark.parametrize("command", [*staff.commands.values(), staff, dashboard], ids=lambda c: c.name)
def test_every_command_has_help_with_an_example(command: click.Command) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0 and "Example: python -m bot " in result.output


# --- bounded work --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["since=0001-01-02", "until=9999-12-30", "since=0001-01-02&until=9999-12-30", "period=all"],
)
def test_long_periods_draw_a_bounded_chart(reader: TestClient, query: str) -> None:
    response = reader.get(f"/staff/?{query}")
    assert response.status_code == 200
    assert 1 <= len(bars(response.text)) <= 100
    assert len(response.content) < 300_000


def test_a_long_log_is_drawn_by_week_then_by_month(client: TestClient, service: PlanService) -> None:
    for days in (200, 800):
        converse(service, "web", f"old-{days}", "保育園の質問")
        assert service.log.flush()
        with service.sessions() as session, session.begin():
            newest = session.scalar(select(func.max(Exchange.id)))
            when = utcnow() - dt.timedelta(days=days)
            session.execute(update(Exchange).where(Exchange.id == newest).values(created_at=when))
        page = client.get("/staff/?period=all").text
        titles = bars(page)
        assert len(titles) <= 100, days
        assert all(("週" in title) == (days == 200) for title in titles), titles[:3]
        assert (
            sum(int(t.rsplit(": ", 1)[1].rstrip("件")) for t in titles) == len(QUESTIONS) + (days == 800) + 1
        )


OUT_OF_RANGE = [
    "/staff/?until=9999-12-31",
    "/staff/?since=0001-01-01",
    "/staff/?since=0001-01-01T00:00%2B14:00",
    "/staff/exchanges?chapter=99999999999999999999999",
    "/staff/exchanges?version=4294967296",
    "/staff/exchanges?search=" + "あ" * 101,
    "/staff/measures/2-2-4?until=9999-12-31",
]


@pytest.mark.parametrize("path", OUT_OF_RANGE)
def test_out_of_range_values_are_a_japanese_400(reader: TestClient, path: str) -> None:
    response = reader.get(path)
    assert response.status_code == 400
    assert re.search(
        r'<ul class="errors" role="alert"><li>[^<]*(までの日付|正しくありません|文字以内)', response.text
    )


def test_out_of_range_ids_and_pages(reader: TestClient) -> None:
    token = csrf_token(reader.get("/staff/inbox").text)
    for target in ("99999999999999999999999", "2147483648", "0"):
        response = reader.post(f"/staff/inbox/{target}/handled", data={"note": "", "csrf_token": token})
        assert response.status_code == 400 and "範囲外" in response.text, target
    assert "10件中 1–10件" in reader.get("/staff/exchanges?page=" + "9" * 5000).text


# --- personal details, one exchange ------------------------------------------------------------------

PERSONAL = "山田太郎です。保育園のことで電話090-1234-5678か taro@example.jp に連絡ください。本町1-2-3"


def _ask(service: PlanService, question: str) -> int:
    exchange = converse(service, "web", "personal", question)
    assert service.log.flush()
    return exchange_id(service, exchange.uid)


def test_personal_details_are_masked_on_pages_and_in_exports(
    client: TestClient, service: PlanService
) -> None:
    target = _ask(service, PERSONAL)
    pages = [client.get(p).text for p in ("/staff/exchanges", "/staff/inbox", f"/staff/exchanges/{target}")]
    csv_text = press_export(client, search="保育園").content.decode("utf-8-sig")
    for text in [*pages, csv_text]:
        for secret in ("山田", "太郎", "090-1234-5678", "taro@example.jp", "本町1-2-3"):
            assert secret not in text
    assert "〔氏名〕です。保育園のことで電話〔電話番号〕か 〔メール〕 に連絡ください。〔住所〕" in csv_text
    assert "〔電話番号〕" in pages[0] and "伏せ字を外して表示" in pages[2]


def test_revealing_one_exchange_is_audited(client: TestClient, service: PlanService) -> None:
    target = _ask(service, PERSONAL)
    page = client.get(f"/staff/exchanges/{target}").text
    assert client.post(f"/staff/exchanges/{target}/reveal", data={"csrf_token": "forged"}).status_code == 403
    revealed = client.post(f"/staff/exchanges/{target}/reveal", data={"csrf_token": csrf_token(page)})
    assert revealed.status_code == 200 and "090-1234-5678" in revealed.text and "山田太郎" in revealed.text
    assert "090-1234-5678" not in client.get(f"/staff/exchanges/{target}").text  # masked again
    with service.sessions() as session:
        actions = session.execute(select(StaffAction.staff_name, StaffAction.action, StaffAction.exchange_id))
        assert list(actions) == [(STAFF, "reveal", target)]


def test_deleting_one_exchange_from_its_page(
    client: TestClient, service: PlanService, uids: dict[str, str]
) -> None:
    target = exchange_id(service, uids["ごみの出し方"])
    page = client.get(f"/staff/exchanges/{target}").text
    unconfirmed = client.post(f"/staff/exchanges/{target}/delete", data={"csrf_token": csrf_token(page)})
    assert unconfirmed.status_code == 400 and "ごみの出し方" in client.get("/staff/exchanges").text
    done = client.post(
        f"/staff/exchanges/{target}/delete", data={"csrf_token": csrf_token(page), "confirm": "1"}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/staff/exchanges")
    assert "ごみの出し方" not in questions_in(client.get("/staff/exchanges").text)
    assert client.get(f"/staff/exchanges/{target}").status_code == 404
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 1  # its rating went too
        assert session.scalar(select(StaffAction.action).where(StaffAction.exchange_id == target)) == "delete"
    again = client.post(
        f"/staff/exchanges/{target}/delete", data={"csrf_token": csrf_token(page), "confirm": "1"}
    )
    assert again.status_code == 404


# --- lists ----------------------------------------------------------------------------------------------


def test_list_rows_are_compact(client: TestClient, service: PlanService) -> None:
    long_question = "保育園について" + "とても長い質問です。" * 99  # just within MAX_QUESTION_CHARS
    _ask(service, long_question)
    page = client.get("/staff/exchanges").text
    assert long_question not in page.replace("<summary>", "").split("</summary>")[0]
    assert re.search(r'<details class="long"><summary>保育園について[^<]{50,}…', page)
    assert page.count("第2章 福祉・こども・健康 › 2 ") <= page.count(
        'title="第2章'
    )  # citations only as tooltips
    assert re.search(r"<summary>ほか\d件</summary>", page)  # more measures behind an expander


def test_one_date_control_and_sortable_columns(reader: TestClient) -> None:
    page = reader.get("/staff/exchanges?unanswered=1").text
    assert page.count('name="since"') == 1 and page.count('name="until"') == 1
    newest = questions_in(reader.get("/staff/exchanges?sort=-time").text)
    times = re.findall(r'title="詳細">([\d-]+ [\d:]+)</a>', reader.get("/staff/exchanges?sort=time").text)
    assert times == sorted(times) and len(times) == len(newest)
    by_feedback = reader.get("/staff/exchanges?sort=-feedback").text
    assert questions_in(by_feedback.split("</tr>")[1]) == {"ごみの出し方"}  # the unhelpful one first
    assert 'aria-sort="descending"' in by_feedback
    assert reader.get("/staff/exchanges?sort=evil").status_code == 400


def test_reasons_are_japanese_everywhere(reader: TestClient) -> None:
    page = reader.get("/staff/exchanges").text
    assert "回答なし（該当なし）" in page or "回答なし（根拠不足）" in page
    for code in ("no_match", "weak_evidence", "off_topic", "matched"):
        assert f">{code}<" not in page


# --- reports --------------------------------------------------------------------------------------------


def test_weekly_and_monthly_report_compares_with_the_period_before(
    client: TestClient, service: PlanService, uids: dict[str, str]
) -> None:
    questions = [q for q, _ in QUESTIONS]
    with service.sessions() as session, session.begin():
        for n, question in enumerate(questions):
            day = dt.datetime(
                2026, 11, 18 if n < 6 else 10, 12, tzinfo=LOCAL_TZ
            )  # a Wednesday, the week before
            session.execute(update(Exchange).where(Exchange.uid == uids[question]).values(created_at=day))
    week = client.get("/staff/report?unit=week&start=2026-11-18").text
    assert (
        "2026年11月16日（月）〜11月22日（日）" in week and "比較: 2026年11月9日（月）〜11月15日（日）" in week
    )
    assert re.search(
        r"質問数</div><div class=\"value\">6<small>件</small></div>"
        r"\s*<div class=\"sub\">\s*<span[^>]*>前週 4件（\+2件）",
        week,
    )
    assert len(bars(week)) == 7
    month = client.get("/staff/report?unit=month&start=2026-11-30").text
    assert "2026年11月1日（日）〜11月30日（月）" in month and "前月 0件（+10件）" in month
    assert 'href="?unit=month&amp;start=2026-10-01" rel="prev"' in month
    default = client.get("/staff/report").text
    assert "週の報告" in default and "（月）〜" in default  # the last week that has ended
    for query in ("unit=year", "start=9999-12-31", "start=tomorrow", "unit=month&start=0001-01-01"):
        assert client.get(f"/staff/report?{query}").status_code == 400, query
