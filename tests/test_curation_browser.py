"""Improving an answer in a real browser (Debian's Chromium, Playwright), end to end with the real bots.

A resident's question goes unanswered in Telegram (the real bot process and the local Bot API
server); an editor resolves it from the inbox, accepts the suggested synonym, reads the preview and
publishes; the Telegram bot and the console chat then answer with the chosen measure; a confirmed
rollback restores the previous answer. A declined question is resolved from the search's candidates.
A viewer's changes are refused. The pages also fit a phone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from bot.service import PlanService
from tests.botapi import BotApiServer
from tests.browser import assert_fits_a_phone, shoot
from tests.helpers import BotProcess, bot_env, wait_logged
from tests.test_curation import ask
from tests.test_curation_pages import TOKOROZAWA, VIEWER
from tests.test_dashboard import PASSWORD, STAFF, add_account
from tests.test_dashboard_browser import (
    base_url,
    page,
    phone,
    sign_in,
)
from tests.test_improving_loop import GREEN, MEASURE_TITLE, RESIDENT, _console

pytestmark = pytest.mark.browser

__all__ = ["base_url", "page", "phone"]  # fixtures shared with the dashboard's browser tests


@pytest.fixture
def telegram(service: PlanService) -> Iterator[BotApiServer]:
    """`python -m bot run` on the dashboard's own database, talking to a local Bot API server."""
    add_account(service, VIEWER, role="viewer")
    with BotApiServer(token="123:ABC") as api:
        env = bot_env(api.base_url, api.base_file_url, service.settings.data_dir)
        process = BotProcess(env, service.settings.data_dir / "bot.log")
        try:
            api.wait_polling()
            yield api
        finally:
            assert process.stop() == 0, process.output


def _telegram_reply(api: BotApiServer, *, answered: bool) -> str:
    """Ask until the running bot answers with the measure (or stops doing so): it follows the
    active version within seconds."""
    deadline = time.monotonic() + 20
    while True:
        seen = len(api.messages(RESIDENT))
        api.send_text(RESIDENT, GREEN)
        while len(api.messages(RESIDENT)) <= seen and time.monotonic() < deadline:
            time.sleep(0.05)
        reply = api.messages(RESIDENT)[-1].plain_text
        if (MEASURE_TITLE in reply) == answered or time.monotonic() > deadline:
            return reply
        time.sleep(0.5)


def _console_env(service: PlanService) -> dict[str, str]:
    return {"PLANBOT_DATA_DIR": str(service.settings.data_dir), "LOG_SALT": service.settings.log_salt}


def test_an_editor_improves_an_answer_in_the_browser(
    page: Page, base_url: str, service: PlanService, telegram: BotApiServer
) -> None:
    assert MEASURE_TITLE not in _telegram_reply(telegram, answered=False)
    wait_logged(service.settings.data_dir, GREEN)  # the bot's writer thread stores it just after the reply

    sign_in(page, base_url, "/staff/inbox")
    group = page.locator("section.group", has_text=GREEN)
    group.locator("article.item", has_text=GREEN).get_by_role("link", name="施策を選んで解決する").click()
    expect(page.get_by_role("heading", name="質問を解決する")).to_be_visible()
    page.get_by_label("施策を探す（番号・名称・質問の言葉）").fill("低炭素")
    page.get_by_role("button", name="探す").click()
    page.get_by_label("4-1-2 第4章", exact=False).first.check()
    shoot(page, "resolve")
    page.get_by_role("button", name="選んだ施策で解決").click()

    expect(page.get_by_role("heading", name="改善の提案")).to_be_visible()
    suggestion = page.locator("article.suggestion").first
    expect(suggestion).to_contain_text("synonym: 低炭素 ← グリーンカーテン")
    expect(suggestion).to_contain_text("1位で回答")
    shoot(page, "suggest")
    suggestion.get_by_role("button", name="下書きに追加").click()
    page.get_by_role("link", name="下書きの効果を確かめる（プレビュー）").click()

    expect(page.get_by_role("status")).to_contain_text("正答率が下がるところはありません")
    expect(page.locator("tr.better", has_text=GREEN)).to_contain_text("4-1-2")
    expect(page.locator("table.quality")).to_contain_text("市の正解集")
    shoot(page, "preview")
    page.get_by_label("この版のメモ").fill("グリーンカーテンを追加")
    page.get_by_role("button", name="新しい版として公開（ボットは数秒で切り替わります）").click()

    expect(page.get_by_role("heading", name="計画の版")).to_be_visible()
    current = page.locator("tr.current")
    expect(current).to_contain_text("第2版")
    expect(current).to_contain_text(STAFF)
    current.get_by_text("1件の変更").click()
    expect(current).to_contain_text("低炭素")
    shoot(page, "versions")

    assert MEASURE_TITLE in _telegram_reply(telegram, answered=True)
    assert f"■ {MEASURE_TITLE}" in _console(_console_env(service), GREEN)

    page.locator("tr", has_text="第1版").get_by_role("link", name="この版に戻す").click()
    expect(page.get_by_role("heading", name="第1版に戻す")).to_be_visible()
    page.get_by_label("この版に戻してよいことを確認しました").check()
    page.get_by_role("button", name="第1版に戻す").click()
    expect(page.locator("tr.current")).to_contain_text("第1版")

    assert MEASURE_TITLE not in _telegram_reply(telegram, answered=False)
    assert f"■ {MEASURE_TITLE}" not in _console(_console_env(service), GREEN)

    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="正答率の推移").click()
    expect(page.get_by_role("img", name="市の正解集での1位正答率（%）").locator("rect")).to_have_count(2)
    shoot(page, "quality")
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="操作の記録").click()
    for action in ("resolve", "edit", "publish", "rollback"):
        expect(page.locator("table.audit")).to_contain_text(action)
    shoot(page, "audit")


def test_a_declined_question_is_resolved_from_the_searchs_candidates(
    page: Page, base_url: str, service: PlanService
) -> None:
    declined = ask(service, TOKOROZAWA)
    sign_in(page, base_url, f"/staff/exchanges/{declined}")
    candidates = page.get_by_role("region", name="検索の候補（回答に使わなかった施策）")
    expect(candidates.get_by_role("listitem").first).to_contain_text("4-2-2 (2) ごみ処理体制の充実")
    candidates.get_by_role("link", name="候補から選んで解決する").click()
    page.get_by_role("checkbox", name="4-2-2 (2) ごみ処理体制の充実", exact=True).check()
    shoot(page, "resolve-candidates")
    page.get_by_role("button", name="選んだ施策で解決").click()
    expect(page.get_by_role("heading", name="改善の提案")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("4-2-2")


def test_a_viewer_reads_but_cannot_change(page: Page, base_url: str, service: PlanService) -> None:
    add_account(service, VIEWER, role="viewer")
    page.goto(f"{base_url}/staff/login")
    page.get_by_label("名前").fill(VIEWER)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.goto(f"{base_url}/staff/draft")
    expect(page.locator(".notice")).to_contain_text("閲覧のみの権限です")
    page.get_by_label("計画の言葉 または 施策番号（例: 低炭素 / 4-1-2）").fill("低炭素")
    page.get_by_label("住民の言葉 または キーワード").fill("グリーンカーテン")
    page.get_by_role("button", name="下書きに追加").click()
    expect(page.get_by_role("heading", name="権限がありません")).to_be_visible()
    page.goto(f"{base_url}/staff/versions")
    expect(page.get_by_role("link", name="この版に戻す")).to_have_count(0)


def test_the_pages_fit_a_phone(phone: Page, base_url: str, service: PlanService) -> None:
    sign_in(phone, base_url)
    pages = {
        "resolve": "/staff/resolve?id=1&q=保育",
        "draft": "/staff/draft?part=2-2-4",
        "preview": "/staff/preview",
        "versions": "/staff/versions",
        "quality": "/staff/quality",
        "audit": "/staff/audit",
    }
    for name, path in pages.items():
        phone.goto(base_url + path)
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        assert_fits_a_phone(phone, name)
