"""The staff dashboard in a real browser: Debian's headless Chromium, driven by Playwright for Python.

The app runs under uvicorn on 127.0.0.1 with a database filled through the real answer
path. Screenshots of the main pages go to tests/artifacts/ (the README's picture,
docs/dashboard.png, is a copy of overview.png).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from sqlalchemy import select

from bot.dashboard import create_standalone_app
from bot.service import PlanService
from bot.store import Export
from tests.test_dashboard import HOSTILE, PASSWORD, STAFF, add_account, fill

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# A browser that stays off the network: the pages must work on the city's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def base_url(service: PlanService) -> Iterator[str]:
    """`python -m bot dashboard`'s app under uvicorn in a thread, on a free port of 127.0.0.1."""
    add_account(service)
    fill(service)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_standalone_app(service), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ja-JP", accept_downloads=True
    )
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()
    assert dialogs == [], "a resident's text ran as a script"


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


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
        page.get_by_role("img", name="章別の回答数（1位に表示した施策の章）").locator("rect")
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
        page.get_by_role("link", name="CSVを書き出す").click()
    content = Path(download.value.path()).read_bytes()
    assert content.startswith("\ufeff時刻".encode())
    assert "宇宙旅行の費用" in content.decode("utf-8-sig")
    with service.sessions() as session:
        export = session.scalars(select(Export)).one()
    assert (export.staff_name, export.filter) == (STAFF, {"inbox": "True"})

    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()
    page.goto(f"{base_url}/staff/exchanges")
    expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()


def test_pages_refuse_a_browser_without_session(page: Page, base_url: str) -> None:
    for path in ("/staff/", "/staff/exchanges?unanswered=1", "/staff/inbox", "/staff/measures/2-2-4"):
        page.goto(base_url + path)
        expect(page.get_by_role("heading", name="職員ログイン")).to_be_visible()
        assert "保育園" not in page.content()
    assert page.request.get(f"{base_url}/staff/export.csv").status == 401
