"""The residents' web chat over HTTP (Starlette's TestClient) on a real SQLite log and the real search.

The browser side (JavaScript, layout, accessibility, embedding) is in test_webchat_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.chat_guard import ChatLimiter, ChatLimits, cross_site
from bot.cli import cli
from bot.config import ConfigError, Settings
from bot.console import run_chat
from bot.service import MAX_QUESTION_CHARS, PlanService
from bot.store import Exchange, Feedback, pseudonym
from bot.webchat import CONVERSATION_ID, MAX_BODY_BYTES, create_web_app, linkify, negotiate_language
from tests.helpers import converse, make_settings
from tests.test_dashboard import add_account, login, questions_in

HOSTILE = '<script>alert("hostile")</script><b>太字</b> 🙂'

LANGUAGES = [
    ("", "ja"),
    ("ja", "ja"),
    ("en-US,en;q=0.9", "en"),
    ("en-GB;q=0.8, ja;q=0.9", "ja"),
    ("fr-FR, en;q=0.5, ja;q=0.4", "en"),
    ("fr, de", "ja"),
    ("en;q=0", "ja"),
    ("EN", "en"),
    ("ja;q=garbage, en", "en"),
]


@pytest.mark.parametrize(("header", "expected"), LANGUAGES)
def test_language_follows_accept_language(header: str, expected: str) -> None:
    assert negotiate_language(header) == expected


CROSS_SITE = [
    ({"host": "chat.example.jp"}, False),  # curl, scripts: no Origin
    ({"host": "chat.example.jp", "origin": "https://chat.example.jp"}, False),
    ({"host": "chat.example.jp", "origin": "https://CHAT.example.jp"}, False),
    ({"host": "chat.example.jp", "origin": "https://evil.example"}, True),
    ({"host": "chat.example.jp", "origin": "https://www.example.jp"}, True),  # same site, other host
    ({"host": "chat.example.jp:8000", "origin": "http://chat.example.jp:9000"}, True),
    ({"host": "chat.example.jp", "origin": "null"}, True),
    ({"host": "chat.example.jp", "sec-fetch-site": "cross-site"}, True),
    # behind a proxy that rewrites Host
    ({"host": "app:8000", "x-forwarded-host": "chat.example.jp", "origin": "https://chat.example.jp"}, False),
    ({"host": "app:8000", "x-forwarded-host": "chat.example.jp", "origin": "https://evil.example"}, True),
]


@pytest.mark.parametrize(("headers", "expected"), CROSS_SITE)
def test_cross_site_posts_are_recognised(headers: dict[str, str], expected: bool) -> None:
    assert cross_site(headers) is expected


LINKS = [
    ("048-463-1111", '<a href="tel:048-463-1111">048-463-1111</a>'),
    (
        "窓口 https://www.city.asaka.lg.jp/page?a=1&b=2 ／",
        '窓口 <a href="https://www.city.asaka.lg.jp/page?a=1&amp;b=2" target="_blank" '
        'rel="noopener noreferrer">https://www.city.asaka.lg.jp/page?a=1&amp;b=2</a> ／',
    ),
    ('https://x.jp/"onmouseover="alert(1)', '<a href="https://x.jp/&#34;onmouseover=&#34;alert(1" '),
    ("<b>javascript:alert(1)</b>", "&lt;b&gt;javascript:alert(1)&lt;/b&gt;"),
]


@pytest.mark.parametrize(("text", "expected"), LINKS)
def test_addresses_and_phone_numbers_become_links(text: str, expected: str) -> None:
    assert str(linkify(text)).startswith(expected)


def test_limiter_counts_per_client_and_overall() -> None:
    now = [0.0]
    limiter = ChatLimiter(ChatLimits(per_client=3, overall=5, window_seconds=60), clock=lambda: now[0])
    assert [limiter.attempt("a") for _ in range(4)] == [0, 0, 0, 60]
    now[0] = 30
    assert [limiter.attempt("b") for _ in range(3)] == [0, 0, 30]  # the overall cap: 5 in the window
    now[0] = 60.5  # a's first three have left the window; b's two are still in it
    assert [limiter.attempt("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.attempt("c") == 30  # full overall until b's first leaves the window at 90


def test_limiter_forgets_quiet_clients_first() -> None:
    now = [0.0]
    limiter = ChatLimiter(ChatLimits(max_clients=2), clock=lambda: now[0])
    for client in ("a", "b", "c"):
        now[0] += 1
        limiter.attempt(client)
    assert set(limiter._clients) == {"b", "c"}


def test_embed_origins_are_read_and_checked(tmp_path) -> None:
    settings = make_settings(
        tmp_path, CHAT_EMBED_ORIGINS="https://www.city.asaka.lg.jp, http://127.0.0.1:9000/"
    )
    assert settings.chat_embed_origins == ("https://www.city.asaka.lg.jp", "http://127.0.0.1:9000")
    with pytest.raises(ConfigError, match=r"'www\.city\.asaka\.lg\.jp/chat' is not an origin"):
        make_settings(tmp_path, CHAT_EMBED_ORIGINS="www.city.asaka.lg.jp/chat")


@pytest.fixture
def client(service: PlanService) -> Iterator[TestClient]:
    app = create_web_app(service, limits=ChatLimits(per_client=5, overall=100))
    with TestClient(app) as client:
        yield client


def ask(client: TestClient, **body: object) -> dict[str, Any]:
    response = client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_page_works_without_cookies_or_other_sites(client: TestClient) -> None:
    for path in ("/", "/chat/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'self';" in response.headers["content-security-policy"] + ";"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["x-content-type-options"] == "nosniff"
        page = response.text
        assert '<label for="chat-message">質問</label>' in page
        assert 'role="log"' in page and 'aria-live="polite"' in page
        assert "http://" not in page and "https://" not in page  # nothing loaded from elsewhere
        assert '<form id="chat-form" class="ask" method="post" action="/chat/">' in page
    assert client.get("/chat", follow_redirects=False).headers["location"] == "/chat/"
    assert client.get("/chat/embed.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/chat/static/chat.js").status_code == 200


def test_english_when_the_browser_prefers_it_with_a_switch(client: TestClient) -> None:
    page = client.get("/chat/", headers={"accept-language": "en-US,en;q=0.9,ja;q=0.5"}).text
    assert '<html lang="en">' in page and "Your question" in page
    assert 'href="/chat/?lang=ja"' in page
    assert '<html lang="ja">' in client.get("/chat/?lang=ja", headers={"accept-language": "en"}).text


def test_api_answers_with_the_ask_json_fields_and_the_rendered_card(
    client: TestClient, service: PlanService
) -> None:
    reply = ask(client, message="保育園が足りない")
    expected = service.bundle.index.search("保育園が足りない").as_json()
    assert {key: reply[key] for key in expected} == expected
    assert reply["hits"][0]["id"] == "2-2-4"
    assert CONVERSATION_ID.fullmatch(str(reply["conversation"]))
    assert reply["language"] == "ja"
    assert "<h2>幼児期等の教育と保育の充実</h2>" in str(reply["html"])
    assert "■ 幼児期等の教育と保育の充実" in str(reply["text"])
    uid = reply["rating"]
    actions = [button["action"] for button in reply["buttons"]]
    assert actions[-2:] == [f"f:+:{uid}", f"f:-:{uid}"]


def test_buttons_post_back_their_action(client: TestClient) -> None:
    first = ask(client, message="公園を増やしてほしい")
    conversation = first["conversation"]
    candidate = next(b for b in first["buttons"] if b["action"].startswith("o:"))
    card = ask(client, action=candidate["action"], conversation=conversation)
    assert card["conversation"] == conversation
    assert candidate["label"].removeprefix("もしかして：") in str(card["html"])
    assert (card["question"], card["answered"], card["hits"]) == (None, None, [])  # no search behind it
    chapters = ask(client, action="c", conversation=conversation)
    assert [b["action"] for b in chapters["buttons"]][:2] == ["c:1", "c:2"]
    stale = ask(client, action="m:9-9-9", conversation=conversation)
    assert "計画の改訂で変わりました" in str(stale["text"])


def test_exchanges_and_ratings_are_logged_under_a_pseudonym(client: TestClient, service: PlanService) -> None:
    reply = ask(client, message="公園を増やしてほしい")
    conversation, uid = str(reply["conversation"]), str(reply["rating"])
    ask(client, action=f"f:-:{uid}", conversation=conversation)
    assert service.log.flush()
    with service.sessions() as session:
        exchange = session.scalars(select(Exchange)).one()
        rating = session.scalars(select(Feedback)).one()
    assert (exchange.channel, exchange.uid, exchange.question) == ("web", uid, "公園を増やしてほしい")
    assert exchange.user_key == pseudonym(service.settings.log_salt, "web", conversation) != conversation
    assert (rating.helpful, rating.user_key) == (False, exchange.user_key)


def test_a_malformed_conversation_id_gets_a_fresh_one(client: TestClient) -> None:
    reply = ask(client, message="空き家", conversation="x" * 10 + "<>")
    assert CONVERSATION_ID.fullmatch(str(reply["conversation"]))


def test_bad_requests_get_a_polite_answer(client: TestClient) -> None:
    cases = [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (json.dumps({"message": "   "}).encode(), 400, "empty"),
        (json.dumps({"message": 12}).encode(), 400, "bad_request"),
        (b"x" * (MAX_BODY_BYTES + 1), 413, "too_long"),
    ]
    for body, status, code in cases:
        response = client.post("/api/chat", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["error"]) == (status, code), body[:20]
        assert response.json()["message"]


def test_one_length_limit_said_as_it_is(client: TestClient, service: PlanService) -> None:
    """Over MAX_QUESTION_CHARS a question is not searched (never silently cut) and the reply says the
    limit: the same words as the 413 for a body too big to hold a question, and the console's."""
    longest = "保育園" + "あ" * (MAX_QUESTION_CHARS - 3)
    assert ask(client, message=longest)["question"] == longest
    for language in ("ja", "en"):
        reply = ask(client, message=longest + "あ", language=language)
        assert reply["question"] is None and reply["hits"] == [] and reply["rating"] is None
        refused = client.post(
            "/api/chat",
            content=b"x" * (MAX_BODY_BYTES + 1),
            headers={"content-type": "application/json", "accept-language": language},
        )
        assert refused.status_code == 413 and refused.json()["message"] == reply["text"]
        assert str(MAX_QUESTION_CHARS) in reply["text"]
    hint = client.get("/chat/").text
    assert f'maxlength="{MAX_QUESTION_CHARS}"' in hint and f"{MAX_QUESTION_CHARS}文字まで" in hint
    assert service.log.flush()
    with service.sessions() as session:
        assert [e.question for e in session.scalars(select(Exchange))] == [longest]
    written: list[str] = []
    script = iter([longest + "あ", "/quit"])
    run_chat(service, read=lambda _prompt: next(script), write=written.append)
    assert any("質問が長すぎます。1000文字までにして" in text for text in written), written


def test_healthz_is_answered_as_by_serve(client: TestClient, service: PlanService) -> None:
    """`python -m bot web` answers /healthz with serve's JSON, not the chat's 404 page."""
    response = client.get("/healthz")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "plan_version": service.active.version_id,
        "database": "ok",
        "unwritten_exchanges": 0,
    }


def test_cross_site_posts_are_refused(client: TestClient, service: PlanService) -> None:
    response = client.post(
        "/api/chat", json={"message": "保育園"}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site"
    form = client.post("/chat/", data={"message": "保育園"}, headers={"origin": "https://evil.example"})
    assert form.status_code == 403 and "このページからは送信できません" in form.text
    same = client.post("/api/chat", json={"message": "保育園"}, headers={"origin": "http://testserver"})
    assert same.status_code == 200
    assert service.log.flush()
    with service.sessions() as session:
        assert len(session.scalars(select(Exchange)).all()) == 1


def test_the_limit_answers_politely(client: TestClient) -> None:
    for n in range(5):  # forwarding headers from a client that is no trusted proxy change nothing
        response = client.post(
            "/api/chat", json={"message": "空き家"}, headers={"x-forwarded-for": f"10.0.0.{n}"}
        )
        assert response.status_code == 200
    response = client.post("/api/chat", json={"message": "空き家"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "少しお休みしています" in response.json()["message"]
    english = client.post("/api/chat", json={"message": "hi", "language": "en"})
    assert "try again in about" in english.json()["message"]


def test_the_form_works_without_javascript(client: TestClient) -> None:
    page = client.post("/chat/", data={"message": HOSTILE, "lang": "ja", "conversation": "c" * 22})
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;hostile&#34;)&lt;/script&gt;&lt;b&gt;太字&lt;/b&gt; 🙂" in page.text
    assert "<script>alert" not in page.text and "<b>太字" not in page.text
    assert 'name="conversation" value="cccccccccccccccccccccc"' in page.text
    answered = client.post("/chat/", data={"message": "ごみの分別どうなるの？", "lang": "en", "embed": "1"})
    assert '<html lang="en">' in answered.text and 'class="embed"' in answered.text
    assert "<h2>" in answered.text


def test_frame_ancestors_follow_chat_embed_origins(tmp_path) -> None:
    settings = make_settings(tmp_path, CHAT_EMBED_ORIGINS="https://www.city.asaka.lg.jp")
    service = PlanService.start(settings)
    with TestClient(create_web_app(service)) as client:
        policy = client.get("/chat/").headers["content-security-policy"]
        framing = client.get("/chat/").headers.get("x-frame-options")
        staff = client.get("/staff/login").headers
    assert "frame-ancestors 'self' https://www.city.asaka.lg.jp" in policy
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert framing is None  # it could only say DENY or SAMEORIGIN; frame-ancestors says who may
    assert (staff["x-frame-options"], "frame-ancestors 'none'" in staff["content-security-policy"]) == (
        "DENY",
        True,
    )


def test_unknown_paths_get_a_resident_page(client: TestClient) -> None:
    response = client.get("/nothing-here")
    assert response.status_code == 404 and "このページはありません" in response.text
    assert client.post("/api/nothing").status_code in (404, 405)


def test_staff_pages_are_served_beside_the_chat(client: TestClient) -> None:
    assert "職員ログイン" in client.get("/staff/").text


def test_web_command_has_help() -> None:
    result = CliRunner().invoke(cli, ["web", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "Example:" in result.output


def test_settings_without_origins_allow_only_the_same_site(settings: Settings) -> None:
    assert settings.chat_embed_origins == ()


def test_staff_pages_and_logs_count_and_filter_by_channel(
    client: TestClient, service: PlanService, tmp_path
) -> None:
    add_account(service)
    ask(client, message="公園を増やしてほしい")
    ask(client, message="ウェブからの宇宙旅行")
    for user_id, question in enumerate(("保育園が足りない", "ごみの出し方", "空き家")):
        converse(service, "telegram", user_id, question)
    converse(service, "console", "someone", "防災")
    assert service.log.flush()
    assert login(client).status_code == 303
    overview = client.get("/staff/").text
    counts = dict(re.findall(r'channel=(\w+)">[^<]+</a> <strong>(\d+)</strong>件', overview))
    assert counts == {"telegram": "3", "web": "2", "console": "1"}
    assert questions_in(client.get("/staff/exchanges?channel=web").text) == {
        "公園を増やしてほしい",
        "ウェブからの宇宙旅行",
    }
    assert questions_in(client.get("/staff/exchanges?channel=console&unanswered=1").text) == set()
    assert "窓口の指定が正しくありません" in client.get("/staff/exchanges?channel=fax").text

    env = {"PLANBOT_DATA_DIR": str(service.settings.data_dir), "LOG_SALT": service.settings.log_salt}
    logged = CliRunner().invoke(cli, ["logs", "--channel", "web", "--format", "json"], env=env)
    assert logged.exit_code == 0, logged.output
    assert {row["question"] for row in json.loads(logged.output)} == {
        "公園を増やしてほしい",
        "ウェブからの宇宙旅行",
    }
