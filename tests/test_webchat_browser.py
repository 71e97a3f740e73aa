"""The residents' web chat in a real browser: Debian's headless Chromium driven by Playwright.

`python -m bot web`'s app runs under uvicorn on 127.0.0.1 with a real SQLite log. A resident
asks, follows up, opens a candidate, rates and browses; the page is checked at phone size, with
large text, by keyboard alone, by axe-core (bundled by axe-playwright-python, no network), with
JavaScript off, against hostile input and over the rate limit; the embed script is tried from
pages on other origins (other local ports), allowed and not. Screenshots go to tests/artifacts/
(the README's picture, docs/webchat-phone.png, is a copy of webchat-phone.png).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.chat_guard import ChatLimits
from bot.service import PlanService
from bot.store import Exchange, Feedback
from bot.webchat import create_web_app
from tests.browser import ARTIFACTS, ROOT, scripts_refused, served, shoot
from tests.helpers import make_settings

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
EXAMPLE_PAGE = ROOT / "docs" / "embed-example.html"
EXAMPLE_CHAT = "http://127.0.0.1:8000"  # the chat's address as the example page writes it


@pytest.fixture
def chat_url(service: PlanService) -> Iterator[str]:
    with served(create_web_app(service)) as url:
        yield url


@contextlib.contextmanager
def browsing(
    browser: Browser, *, phone: bool = False, locale: str = "ja-JP", javascript: bool = True
) -> Iterator[Page]:
    """A fresh browser profile (desktop, or a 390×844 phone); fails the test if any text ran as a script."""
    context: BrowserContext = browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
        locale=locale,
        java_script_enabled=javascript,
    )
    with scripts_refused(context) as page:
        yield page


def assert_accessible(page: Page) -> None:
    """axe-core (WCAG 2.1 A/AA rules and best practices): no serious or critical violation."""
    results = Axe().run(page)
    grave = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert grave == [], results.generate_report()


def assert_no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def last_reply(page: Page) -> Locator:
    return page.locator("#chat-log article.msg.bot").last


def ask(page: Page, text: str) -> Locator:
    """Type a question and send it with Enter, as a resident does; the reply that arrives."""
    replies = page.locator("#chat-log article.msg.bot")
    before = replies.count()
    page.get_by_label("質問", exact=True).fill(text)
    page.get_by_label("質問", exact=True).press("Enter")
    expect(replies).to_have_count(before + 1)
    return replies.nth(before)


def press(page: Page, reply: Locator, name: str) -> Locator:
    replies = page.locator("#chat-log article.msg.bot")
    before = replies.count()
    reply.get_by_role("button", name=name).click()
    expect(replies).to_have_count(before + 1)
    return replies.nth(before)


def test_a_resident_asks_follows_up_opens_a_candidate_rates_and_browses(
    browser: Browser, chat_url: str, service: PlanService
) -> None:
    plan = service.bundle.plan
    with browsing(browser) as page:
        page.goto(chat_url + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("朝霞市 総合計画 質問チャット")
        expect(page.get_by_role("log", name="会話")).to_contain_text("こんにちは")
        assert_accessible(page)

        # A question: the card with why it matched, its citation and where to ask next.
        answer = ask(page, "公園を増やしてほしい")
        expect(answer.get_by_role("heading", name=plan.locate("5-3-2").middle.title)).to_be_visible()
        expect(answer.locator("p.citation")).to_contain_text("第5章 都市基盤・産業振興 › 3 みどり・景観")
        expect(answer).to_contain_text("見つけた理由")
        expect(answer.get_by_role("link", name="048-463-1111")).to_have_attribute("href", "tel:048-463-1111")
        expect(page.get_by_label("質問", exact=True)).to_have_value("")
        expect(page.get_by_label("質問", exact=True)).to_be_focused()

        # Follow-ups lean on that answer: the next candidate, then its whole text.
        more = ask(page, "他には？")
        expect(more.get_by_role("heading", name=plan.locate("5-3-1").middle.title)).to_be_visible()
        detail = ask(page, "詳しく")
        expect(detail.get_by_role("heading", name=plan.locate("5-3-1").middle.title)).to_be_visible()
        expect(detail).to_contain_text("出典")

        # Small talk is answered as such, not searched.
        hello = ask(page, "こんにちは")
        expect(hello).to_contain_text("総合計画")
        expect(hello.get_by_role("button")).to_have_count(0)

        card = press(page, answer, plan.locate("5-3-3").middle.title)
        expect(card.get_by_role("heading", name=plan.locate("5-3-3").middle.title)).to_be_visible()

        thanks = press(page, answer, "👍 役に立った")
        expect(thanks).to_contain_text("ご評価ありがとうございます")
        expect(answer.get_by_role("button", name="👍 役に立った")).to_have_attribute("aria-pressed", "true")
        expect(answer.get_by_role("button", name="👎 役に立たなかった")).to_have_attribute(
            "aria-pressed", "false"
        )

        welcome = page.locator("#chat-log article.msg.bot").first
        chapter = press(page, welcome, "第5章 都市基盤・産業振興")
        measure = press(page, chapter, "3 みどり・景観")
        middle = press(page, measure, f"(2) {plan.locate('5-3-2').middle.title}")
        expect(middle.get_by_role("heading", name=plan.locate("5-3-2").middle.title)).to_be_visible()
        shoot(page, "webchat-desktop")
        assert_accessible(page)

        # Another page of the site (or a reload) in the same tab keeps what was said.
        shown = page.locator("#chat-log article.msg.bot").count()
        page.reload()
        expect(page.locator(".msg.you p").first).to_have_text("公園を増やしてほしい")
        expect(page.locator("#chat-log article.msg.bot")).to_have_count(shown)
        again = ask(page, "ありがとう")
        expect(again).to_contain_text("どういたしまして")

    assert service.log.flush()
    with service.sessions() as session:
        exchanges = session.scalars(select(Exchange).order_by(Exchange.id)).all()
        rating = session.scalars(select(Feedback)).one()
    assert [(e.channel, e.question) for e in exchanges] == [
        ("web", "公園を増やしてほしい"),
        ("web", "他には？"),
        ("web", "詳しく"),
        ("web", "こんにちは"),
        ("web", "ありがとう"),
    ]
    assert len({e.user_key for e in exchanges}) == 1  # one conversation, one pseudonym
    assert (rating.exchange_id, rating.helpful) == (exchanges[0].id, True)


def test_the_phone_layout_fits_and_text_scales(browser: Browser, chat_url: str) -> None:
    with browsing(browser, phone=True) as page:
        page.goto(chat_url + "/")
        assert_no_horizontal_scroll(page)
        ask(page, "保育園が足りない")
        ask(page, "https://example.invalid/" + "とても長い一続きの文字列" * 30)
        assert_no_horizontal_scroll(page)
        page.locator("#chat-log article.msg.bot").nth(1).scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "webchat-phone.png")
        shoot(page, "webchat-phone-full")
        assert_accessible(page)

        # The browser's font size doubled (what a resident with low vision sets): still no sideways scrolling.
        size = page.get_by_label("質問", exact=True).evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        bigger = page.get_by_label("質問", exact=True).evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        assert bigger == 2 * size
        assert_no_horizontal_scroll(page)
        shoot(page, "webchat-phone-large-text")


def test_keyboard_alone_reaches_everything(browser: Browser, chat_url: str, service: PlanService) -> None:
    plan = service.bundle.plan
    with browsing(browser) as page:
        page.goto(chat_url + "/")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="English")).to_be_focused()
        for _ in range(20):  # past the welcome's chapter buttons to the question box
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "chat-message":
                break
        expect(page.get_by_label("質問", exact=True)).to_be_focused()
        page.keyboard.type("公園を増やしてほしい")
        page.keyboard.press("Enter")
        answer = page.locator("#chat-log article.msg.bot").nth(1)
        expect(answer.get_by_role("heading", name=plan.locate("5-3-2").middle.title)).to_be_visible()
        candidate = answer.get_by_role("button", name=plan.locate("5-3-3").middle.title)
        for _ in range(6):  # back from the question box into the answer's buttons
            page.keyboard.press("Shift+Tab")
            if candidate.evaluate("e => e === document.activeElement"):
                break
        expect(candidate).to_be_focused()
        page.keyboard.press("Enter")
        expect(
            last_reply(page).get_by_role("heading", name=plan.locate("5-3-3").middle.title)
        ).to_be_visible()
        outline = candidate.evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline == "solid", "the focused button shows no focus ring"


def test_english_interface_and_switch(browser: Browser, chat_url: str) -> None:
    with browsing(browser, locale="en-US") as page:
        page.goto(chat_url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_label("Your question")).to_be_visible()
        reply = page.locator("#chat-log article.msg.bot")
        page.get_by_label("Your question").fill("daycare")
        page.get_by_role("button", name="Send").click()
        expect(reply).to_have_count(2)
        expect(reply.last).to_contain_text("Better early childhood education and childcare")
        expect(reply.last.get_by_role("button", name="👍 Helpful")).to_be_visible()
        assert_accessible(page)
        page.get_by_role("link", name="日本語").click()
        expect(page.get_by_label("質問", exact=True)).to_be_visible()


def test_without_javascript_a_question_still_gets_its_answer(
    browser: Browser, chat_url: str, service: PlanService
) -> None:
    plan = service.bundle.plan
    with browsing(browser, phone=True, javascript=False) as page:
        page.goto(chat_url + "/")
        page.get_by_label("質問", exact=True).fill("公園を増やしてほしい")
        page.get_by_role("button", name="送信").click()
        expect(page).to_have_url(chat_url + "/chat/")
        answer = last_reply(page)
        expect(answer.get_by_role("heading", name=plan.locate("5-3-2").middle.title)).to_be_visible()
        expect(page.locator(".msg.you")).to_have_text("あなた:公園を増やしてほしい")
        shoot(page, "webchat-no-javascript")
        answer.get_by_role("button", name=plan.locate("5-3-1").middle.title).click()
        card = last_reply(page)
        expect(card.get_by_role("heading", name=plan.locate("5-3-1").middle.title)).to_be_visible()
        card.get_by_role("button", name="目指す姿・詳しく").click()
        expect(last_reply(page)).to_contain_text("出典")
    assert service.log.flush()
    with service.sessions() as session:
        assert session.scalars(select(Exchange.channel)).all() == ["web"]


HOSTILE = [
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)"><b>太字</b>',
    "🙂👍🏽 絵文字だけ 🏞️",
    "&lt;escaped&gt; & \"quotes\" 'single'",
]


def test_hostile_input_shows_as_text(browser: Browser, chat_url: str) -> None:
    with browsing(browser) as page:
        page.goto(chat_url + "/")
        for text in HOSTILE:
            ask(page, text)
            expect(page.locator(".msg.you p").last).to_have_text(text)
        huge = "保育園" + "あ" * 5000
        ask(page, huge)
        shown = page.locator(".msg.you p").last.text_content() or ""
        assert (
            huge.startswith(shown) and len(shown) == 1000
        )  # the box takes 1000 characters, like other channels
        expect(page.locator("#chat-log img")).to_have_count(0)
        expect(page.locator("#chat-log b")).to_have_count(0)
        assert_no_horizontal_scroll(page)


def test_the_rate_limit_answers_politely(browser: Browser, service: PlanService) -> None:
    with served(create_web_app(service, limits=ChatLimits(per_client=2))) as url, browsing(browser) as page:
        page.goto(url + "/")
        ask(page, "空き家")
        ask(page, "公園")
        refused = ask(page, "保育園")
        expect(refused).to_contain_text("少しお休みしています")
        expect(refused).to_contain_text("秒ほどしてから")
        page.get_by_label("質問", exact=True).fill("保育園")
        page.get_by_role("button", name="送信").click()
        expect(page.locator("#chat-log article.msg.bot")).to_have_count(5)


def host_page(chat: str) -> ASGIApp:
    """A city page on another origin, carrying the repository's example snippet pointed at `chat`."""
    html = EXAMPLE_PAGE.read_text(encoding="utf-8").replace(EXAMPLE_CHAT, chat)
    assert chat + "/chat/embed.js" in html

    async def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(html)

    return Starlette(routes=[Route("/", page)])


def test_the_embed_snippet_works_from_an_allowed_origin_only(browser: Browser, tmp_path: Path) -> None:
    allowed_sock = socket.socket()
    allowed_sock.bind(("127.0.0.1", 0))
    allowed_origin = f"http://127.0.0.1:{allowed_sock.getsockname()[1]}"
    service = PlanService.start(make_settings(tmp_path, CHAT_EMBED_ORIGINS=allowed_origin))
    try:
        with (
            served(create_web_app(service)) as chat,
            served(host_page(chat), allowed_sock) as allowed,
            served(host_page(chat)) as other,
        ):
            assert allowed == allowed_origin
            with browsing(browser, phone=True) as page:
                page.goto(allowed + "/")
                opener = page.get_by_role("button", name="総合計画について質問する")
                expect(opener).to_have_attribute("aria-expanded", "false")
                opener.click()
                frame = page.frame_locator("#asaka-plan-chat-frame")
                expect(frame.locator("#chat-hint .enter")).to_be_visible()  # the chat's script is running
                frame.get_by_label("質問", exact=True).fill("公園を増やしてほしい")
                frame.get_by_label("質問", exact=True).press("Enter")
                expect(frame.locator("#chat-log article.msg.bot")).to_have_count(2)
                expect(
                    frame.locator("#chat-log article.msg.bot").last.get_by_role("heading").first
                ).to_be_visible()
                assert_no_horizontal_scroll(page)
                shoot(page, "webchat-embedded")
                page.get_by_role("button", name="チャットを閉じる").click()
                expect(page.locator("#asaka-plan-chat-frame")).to_be_hidden()

            with browsing(browser) as page:
                refusals: list[str] = []
                page.on("console", lambda message: refusals.append(message.text))
                page.goto(other + "/")
                page.get_by_role("button", name="総合計画について質問する").click()
                expect(page.locator("#asaka-plan-chat-frame")).to_be_visible()
                deadline = time.monotonic() + 10
                while not any("frame-ancestors" in text for text in refusals):
                    assert time.monotonic() < deadline, f"the frame was not refused: {refusals}"
                    page.wait_for_timeout(50)
                frame = page.frame_locator("#asaka-plan-chat-frame")
                expect(frame.get_by_label("質問", exact=True)).to_have_count(0)
    finally:
        service.close()


def test_the_privacy_note_links_to_what_is_kept(browser: Browser, chat_url: str) -> None:
    with browsing(browser, phone=True) as page:
        page.goto(chat_url + "/")
        page.get_by_role("link", name="記録と保存について").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("記録と保存について")
        expect(page.locator("main")).to_contain_text("1年で削除")
        expect(page.locator("main")).to_contain_text("クッキー")
        assert_accessible(page)
        assert_no_horizontal_scroll(page)
        page.get_by_role("link", name="チャットに戻る").click()
        expect(page.get_by_label("質問", exact=True)).to_be_visible()
