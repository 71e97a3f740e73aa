"""The staff dashboard in a real browser: Debian's headless Chromium, driven by Playwright for Python.

The app runs under uvicorn on 127.0.0.1 with a database filled through the real answer
path. Screenshots of the main pages go to tests/artifacts/ (the README's picture,
docs/dashboard.png, is a copy of overview.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from bot.dashboard import create_standalone_app
from bot.service import PlanService
from bot.store import Exchange, Export, StaffAction
from tests.browser import assert_fits_a_phone, scripts_refused, served, shoot
from tests.helpers import converse
from tests.test_dashboard import HOSTILE, PASSWORD, STAFF, add_account, fill

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(service: PlanService) -> Iterator[str]:
    """`python -m bot dashboard`'s app under uvicorn in a thread, on a free port of 127.0.0.1."""
    add_account(service)
    fill(service)
    with served(create_standalone_app(service)) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ja-JP", accept_downloads=True
    )
    with scripts_refused(context) as page:
        yield page


def test_a_working_session(page: Page, base_url: str, service: PlanService) -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/staff/login?next=%2Fstaff%2F")
    shoot(page, "login")
    page.get_by_label("名前").fill(STAFF)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()

    # Overview: figures, both charts, the plan version, a period choice.
    expect(page.get_by_role("heading", name="概要")).to_be_visible()
    expect(page.locator(".card", has_text="質問数")).to_contain_text("9件")
    expect(page.locator(".card", has_text="回答率")).to_contain_text("44.4%")
    expect(page.locator(".card", has_text="使用中の計画版")).to_contain_text("第1版")
    expect(page.get_by_role("img", name="日別の質問数").locator("rect")).to_have_count(30)
    expect(
        page.get_by_role("list", name="章別の回答数（1位に表示した施策の章）").get_by_role("listitem")
    ).to_have_count(6)
    shoot(page, "overview")
    page.get_by_role("link", name="全期間", exact=True).click()
    expect(page.locator(".card", has_text="質問数")).to_contain_text("10件")

    # Exchanges, filtered: unanswered questions containing a word; the hostile one is plain text.
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="質問一覧").click()
    expect(page.locator("td.question", has_text=HOSTILE)).to_have_text(HOSTILE)
    page.get_by_label("回答なしのみ").check()
    page.get_by_label("語句").fill("宇宙")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("td.question")).to_have_text(["宇宙旅行の費用", "宇宙旅行に行きたい"])
    page.get_by_role("link", name="条件をクリア").click()
    page.get_by_label("章").select_option(label="第2章 福祉・こども・健康")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("td.question")).to_have_count(3)
    shoot(page, "exchanges")

    # A measure's page, reached from a row.
    page.get_by_role("link", name="2-2-4").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2-2-4")
    expect(page.locator(".card", has_text="表示された回数")).to_contain_text("3回")
    expect(page.locator("table.ranks tbody tr")).to_have_count(2)
    shoot(page, "measure")

    # The inbox: grouped; marking an item handled takes it out.
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="未対応の質問").click()
    expect(page.get_by_role("heading", name="「ラーメン」を含む質問 2件")).to_be_visible()
    shoot(page, "inbox")
    item = page.locator("article.item", has_text="ラーメン屋のおすすめ")
    item.get_by_label("対応メモ").fill("飲食店の案内は計画の対象外")
    item.get_by_role("button", name="対応済みにする").click()
    expect(page.locator("article.item", has_text="ラーメン屋のおすすめ")).to_have_count(0)
    expect(page.locator("table", has_text="飲食店の案内は計画の対象外")).to_contain_text(STAFF)
    shoot(page, "inbox-handled")

    # CSV export of the inbox: a file with a BOM, recorded.
    with page.expect_download() as download:
        page.get_by_role("button", name="CSVを書き出す").click()
    content = Path(download.value.path()).read_bytes()
    assert content.startswith("\ufeff時刻".encode())
    assert "宇宙旅行の費用" in content.decode("utf-8-sig")
    with service.sessions() as session:
        export = session.scalars(select(Export)).one()
    assert (export.staff_name, export.filter) == (STAFF, {"inbox": "True"})

    page.get_by_role("button", name="ログアウト", exact=True).click()
    expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()
    page.goto(f"{base_url}/staff/exchanges")
    expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()


def test_pages_refuse_a_browser_without_session(page: Page, base_url: str) -> None:
    for path in ("/staff/", "/staff/exchanges?unanswered=1", "/staff/inbox", "/staff/measures/2-2-4"):
        page.goto(base_url + path)
        expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()
        assert "保育園" not in page.content()
    assert page.request.post(f"{base_url}/staff/export.csv", max_redirects=0).status == 303


def sign_in(page: Page, base_url: str, path: str = "/staff/") -> None:
    page.goto(base_url + path)
    page.get_by_label("名前").fill(STAFF)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("button", name="ログアウト", exact=True)).to_be_visible()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ja-JP",
    )
    yield context.new_page()
    context.close()


def test_every_page_fits_a_phone(phone: Page, base_url: str, service: PlanService) -> None:
    with service.sessions() as session:
        target = session.scalar(select(Exchange.id).where(Exchange.question == "ごみの出し方"))
    sign_in(phone, base_url)
    pages = {
        "overview": "/staff/",
        "exchanges": "/staff/exchanges?period=all",
        "inbox": "/staff/inbox",
        "measure": "/staff/measures/2-2-4",
        "report": "/staff/report?unit=month",
        "exchange": f"/staff/exchanges/{target}",
    }
    for name, path in pages.items():
        phone.goto(base_url + path)
        assert_fits_a_phone(phone, name)
    phone.goto(base_url + "/staff/")
    expect(phone.get_by_role("img", name="日別の質問数")).to_be_visible()  # the phone drawing
    expect(phone.get_by_role("list", name="章別の回答数（1位に表示した施策の章）")).to_be_visible()


def test_lists_expand_sort_and_reveal(page: Page, base_url: str, service: PlanService) -> None:
    long_question = "山田太郎です。保育園について" + "とても長い質問です。" * 30 + "090-1234-5678"
    converse(service, "web", "long", long_question)
    assert service.log.flush()
    sign_in(page, base_url, "/staff/exchanges?period=all")
    row = page.locator("tr", has_text="保育園について")
    expect(row).not_to_contain_text("090-1234-5678")
    expect(row).not_to_contain_text("山田")
    row.get_by_text("続きを表示").click()
    expect(row).to_contain_text("〔電話番号〕")  # expanded, still masked
    page.get_by_role("link", name="評価").click()
    expect(page.locator("td.question").first).to_have_text("ごみの出し方")  # most unhelpful first
    page.locator("tr", has_text="保育園について").locator("td.time a").click()
    expect(page.get_by_role("heading", name="質問の詳細")).to_be_visible()
    page.get_by_role("button", name="伏せ字を外して表示（記録されます）").click()
    expect(page.locator(".question.revealed")).to_contain_text("山田太郎です。")
    expect(page.locator(".question.revealed")).to_contain_text("090-1234-5678")
    shoot(page, "exchange-revealed")
    with service.sessions() as session:
        assert [a.action for a in session.scalars(select(StaffAction))] == ["reveal"]
    page.get_by_role("link", name="週・月の報告").click()
    expect(page.get_by_role("heading", name="朝霞市総合計画ボット 週の報告")).to_be_visible()
    shoot(page, "report")
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="メニュー")).to_be_hidden()
    expect(page.get_by_role("img", name="日別の質問数")).to_be_visible()


def test_another_site_cannot_export_or_act(page: Page, base_url: str, service: PlanService) -> None:
    sign_in(page, base_url)
    page.set_content(f'<a href="{base_url}/staff/export.csv?inbox=1">link</a>')
    page.get_by_role("link", name="link").click()
    expect(page.get_by_role("heading", name="操作できません")).to_be_visible()  # a GET is not an export
    page.set_content(
        f'<form method="post" action="{base_url}/staff/export.csv"><input name="inbox" value="1">'
        "<button>post</button></form>"
    )
    page.get_by_role("button", name="post").click()
    expect(
        page.get_by_role("heading", name="職員ログイン").or_(
            page.get_by_role("heading", name="操作を受け付けられません")
        )
    ).to_be_visible()
    with service.sessions() as session:
        assert session.scalar(select(Export)) is None


def test_a_copied_cookie_dies_with_logout(browser: Browser, page: Page, base_url: str) -> None:
    sign_in(page, base_url)
    cookies = page.context.cookies()
    page.get_by_role("button", name="ログアウト", exact=True).click()
    expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()
    thief = browser.new_context()
    try:
        thief.add_cookies(cookies)  # type: ignore[arg-type]
        stolen = thief.new_page()
        stolen.goto(f"{base_url}/staff/inbox")
        expect(stolen.get_by_role("heading", name="職員ログイン")).to_be_visible()
    finally:
        thief.close()
