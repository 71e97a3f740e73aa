"""The residents' web chat: the page at `/` and `/chat/`, `POST /api/chat`, the embed script.

Few residents use Telegram, so the city's own website carries the same answers. The
page is server-rendered HTML that works as a plain form without JavaScript; a small
script (`static/chat/chat.js`) turns it into a chat by posting to the JSON API and
inserting the reply HTML the server rendered with the same template. Nothing is
loaded from elsewhere (the city's closed network) and nothing tracks the visitor: no
cookies at all; the conversation id is random, lives in the page (and the tab's
sessionStorage) and reaches the answer log only as a pseudonym, like Telegram ids.
Other sites may frame the chat only when listed in CHAT_EMBED_ORIGINS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index import Plan

from .answer import Language, Line, Style, render_plain, say
from .callback_data import ChapterMenu, FeedbackPress, encode, parse
from .chat_guard import ChatLimiter, ChatLimits, cross_site
from .conversation import Conversation, Reply, Turn
from .service import MAX_QUESTION_CHARS, PlanService
from .staff_templates import page_templates
from .web_edge import SecurityHeaders, client_address, health_route

__all__ = ["chat_routes", "create_web_app", "negotiate_language", "reply_json"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
CHANNEL = "web"
# A request body bigger than this is no question (the longest question answered is
# MAX_QUESTION_CHARS characters, a few KiB as JSON), so it is refused before parsing.
MAX_BODY_BYTES = 16 * 1024
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
PRIVACY_PATH = "/chat/privacy"

# What the page says around the plan's answers, in the visitor's language.
TEXTS: dict[Language, dict[str, str]] = {
    Language.JA: {
        "title": "朝霞市 総合計画 質問チャット",
        "intro": "第6次朝霞市総合計画について、ふだんの言葉で質問できます。",
        "log": "会話",
        "label": "質問",
        "placeholder": "例：保育園が足りない",
        "hint": f"{MAX_QUESTION_CHARS}文字まで。",
        "enter": "Enterで送信、Shift+Enterで改行。",
        "send": "送信",
        "you": "あなた",
        "bot": "チャット",
        "busy": "回答を準備しています…",
        "privacy": "質問と回答は、あなたが誰かわからない形で記録し、回答の改善に使います（1年で削除）。"
        "名前や連絡先は書かないでください。",
        "privacy_link": "記録と保存について",
        "switch": "English",
        "switch_lang": "en",
        "network": "通信できませんでした。少し待ってから、もう一度お試しください。",
        "empty": say(Language.JA, "empty"),
        "limited": "短い時間にたくさんの質問が届いたため、少しお休みしています。"
        "{seconds}秒ほどしてから、もう一度お試しください。",
        "too_long": say(Language.JA, "too_long", limit=str(MAX_QUESTION_CHARS)),
        "cross_site": "このページからは送信できません。朝霞市のサイトのチャットからお試しください。",
        "bad_request": "送られた内容を読み取れませんでした。もう一度お試しください。",
        "error": say(Language.JA, "apology"),
        "not_found": "このページはありません。",
        "stale": say(Language.JA, "stale"),
        "open": "総合計画について質問する",
        "close": "閉じる",
        "back": "チャットに戻る",
        "rate": "この回答は役に立ちましたか？",
        "choices": "選択肢",
    },
    Language.EN: {
        "title": "Asaka City Comprehensive Plan chat",
        "intro": "Ask about Asaka City's 6th Comprehensive Plan in your own words."
        " The plan itself is in Japanese.",
        "log": "Conversation",
        "label": "Your question",
        "placeholder": "e.g. not enough daycare",
        "hint": f"Up to {MAX_QUESTION_CHARS} characters.",
        "enter": "Enter sends, Shift+Enter starts a new line.",
        "send": "Send",
        "you": "You",
        "bot": "Chat",
        "busy": "Preparing the answer…",
        "privacy": "Questions and answers are logged without anything that identifies you, to improve the"
        " answers, and deleted after a year. Please do not type your name or contact details.",
        "privacy_link": "About logging and retention",
        "switch": "日本語",
        "switch_lang": "ja",
        "network": "The server could not be reached. Please wait a moment and try again.",
        "empty": say(Language.EN, "empty"),
        "limited": "Many messages arrived in a short time, so the chat is taking a short break."
        " Please try again in about {seconds} seconds.",
        "too_long": say(Language.EN, "too_long", limit=str(MAX_QUESTION_CHARS)),
        "cross_site": "Messages cannot be sent from this page. Please use the chat on Asaka City's website.",
        "bad_request": "The message could not be read. Please try again.",
        "error": say(Language.EN, "apology"),
        "not_found": "There is no such page.",
        "stale": say(Language.EN, "stale"),
        "open": "Ask about the city plan",
        "close": "Close",
        "back": "Back to the chat",
        "rate": "Was this answer helpful?",
        "choices": "Choices",
    },
}


def negotiate_language(accept_language: str) -> Language:
    """The first of our languages the browser prefers (Accept-Language, by q-value); Japanese otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([^;]*)", params)
        if match:  # a malformed weight counts as "not wanted"
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    for negative_quality, _, primary in sorted(ranked):
        if negative_quality < 0 and primary in (Language.JA, Language.EN):
            return Language(primary)
    return Language.JA


# --- what the chat shows ----------------------------------------------------------------------


def notice(language: Language, text: str) -> Reply:
    """A reply of the web chat's own (thanks for a rating, a refusal): one line, nothing to log."""
    return Reply(language, lead=(Line(Style.LEAD, text),))


def rating_uid(reply: Reply) -> str | None:
    """The exchange 👍/👎 refer to, when the reply offers them."""
    return reply.exchange.uid if reply.rating and reply.exchange is not None else None


def feedback_buttons(uid: str, language: Language) -> tuple[tuple[str, str], tuple[str, str]]:
    """👍/👎 as (label, action); the action carries the exchange's uid (a second press replaces the first)."""
    return (
        (say(language, "helpful"), encode(FeedbackPress(True, uid))),
        (say(language, "unhelpful"), encode(FeedbackPress(False, uid))),
    )


def search_fields(reply: Reply, plan: Plan) -> dict[str, object]:
    """The `ask --json` fields of the exchange behind a reply; null when the reply searched nothing."""
    exchange = reply.exchange
    if exchange is None:
        return {"question": None, "answered": None, "grade": None, "reason": None, "hits": []}
    hits: list[dict[str, object]] = []
    for hit in exchange.hits:
        try:
            located = plan.locate(hit.measure_id)
        except KeyError:  # a measure the newest plan version no longer has
            title = citation = None
        else:
            title, citation = located.middle.title, located.citation
        hits.append(
            {
                "id": hit.measure_id,
                "score": hit.score,
                "title": title,
                "citation": citation,
                "chapter": hit.chapter,
            }
        )
    # Shown measures: an answer's, or related ones (the search shows none for "none").
    grade = "answer" if exchange.answered else ("related" if hits else "none")
    return {
        "question": exchange.question,
        "answered": exchange.answered,
        "grade": grade,
        "reason": exchange.reason,
        "hits": hits,
    }


# --- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """Lines as the page groups them: runs of items or goals become one list."""

    style: Style
    lines: tuple[Line, ...]


def blocks(lines: Iterable[Line]) -> list[Block]:
    grouped: list[Block] = []
    for line in lines:
        if line.style is Style.BLANK:
            continue
        if grouped and line.style in (Style.ITEM, Style.GOAL) and grouped[-1].style is line.style:
            grouped[-1] = Block(line.style, (*grouped[-1].lines, line))
        else:
            grouped.append(Block(line.style, (line,)))
    return grouped


# Web addresses and Japanese phone numbers in plan text (contacts, pages) become links.
_LINKABLE = re.compile(r"https?://[^\s）)」、。]+|0\d{1,4}-\d{1,4}-\d{3,4}")


def linkify(text: str) -> Markup:
    """A line of plan text with its web addresses and phone numbers as links; the rest escaped."""
    parts: list[Markup] = []
    position = 0
    for found in _LINKABLE.finditer(text):
        parts.append(escape(text[position : found.start()]))
        target = found.group()
        if target.startswith("http"):
            link = '<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>'
            parts.append(Markup(link).format(target))
        else:
            parts.append(Markup('<a href="tel:{0}">{0}</a>').format(target))
        position = found.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def _templates() -> Jinja2Templates:
    return page_templates(
        blocks=blocks,
        encode=encode,
        linkify=linkify,
        rating_uid=rating_uid,
        feedback_buttons=feedback_buttons,
        max_chars=MAX_QUESTION_CHARS,
        privacy_path=PRIVACY_PATH,
    )


TEMPLATES = _templates()


def reply_html(reply: Reply, *, conversation: str, embed: bool) -> Markup:
    """One reply as the page shows it (the API hands the same HTML to the page's script)."""
    template = TEMPLATES.get_template("chat/_reply.html")
    render = getattr(template.module, "reply")  # noqa: B009 (a macro: an attribute only at run time)
    return Markup(render(reply, conversation, reply.language, embed, TEXTS[reply.language]))


def reply_json(reply: Reply, html: str, *, conversation: str, plan: Plan) -> dict[str, object]:
    """The API's answer: the `ask --json` fields, then the rendered reply and its buttons."""
    uid = rating_uid(reply)
    buttons = [{"label": b.label, "action": encode(b.action)} for row in reply.buttons for b in row]
    if uid is not None:
        buttons += [
            {"label": label, "action": action} for label, action in feedback_buttons(uid, reply.language)
        ]
    return {
        **search_fields(reply, plan),
        "conversation": conversation,
        "language": reply.language.value,
        "rating": uid,
        "text": render_plain(reply.lines()),
        "html": html,
        "buttons": buttons,
    }


# --- HTTP ----------------------------------------------------------------------------------------


def content_security_policy(embed_origins: Iterable[str]) -> str:
    """Only our own script, styles and API; framed by this site and CHAT_EMBED_ORIGINS only."""
    ancestors = " ".join(("'self'", *embed_origins))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )


class ChatHeaders:
    """The chat's own policy on every chat response: only its own script, styles and API, framed by
    this site and CHAT_EMBED_ORIGINS. The app's SecurityHeaders add the rest (nosniff, referrer …)."""

    def __init__(self, app: ASGIApp, *, embed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.headers = {b"content-security-policy": content_security_policy(embed_origins).encode()}
        if not embed_origins:  # browsers too old for frame-ancestors know this one
            self.headers[b"x-frame-options"] = b"SAMEORIGIN"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in self.headers.items() if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ChatError(Exception):
    """A message the chat refuses, with the polite text key and the HTTP status to answer with."""

    def __init__(self, status: int, code: str, *, seconds: int = 0) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.seconds = seconds

    def text(self, language: Language) -> str:
        return TEXTS[language][self.code].format(seconds=self.seconds)


class ChatPages:
    """The chat's endpoints for one service; limits live as long as the process."""

    def __init__(self, service: PlanService, limits: ChatLimits) -> None:
        self.service = service
        self.conversation = Conversation(service)
        self.limiter = ChatLimiter(limits)

    def language(self, request: Request, chosen: object = None) -> Language:
        for value in (chosen, request.query_params.get("lang")):
            if isinstance(value, str) and value in (Language.JA, Language.EN):
                return Language(value)
        return negotiate_language(request.headers.get("accept-language", ""))

    def render(
        self,
        request: Request,
        *,
        language: Language,
        conversation: str,
        embed: bool,
        turns: Iterable[tuple[str, Reply]],
        status: int = 200,
    ) -> Response:
        context = {
            "texts": TEXTS[language],
            "language": language,
            "conversation": conversation,
            "embed": embed,
            "turns": [
                (said, reply_html(reply, conversation=conversation, embed=embed)) for said, reply in turns
            ],
        }
        response = TEMPLATES.TemplateResponse(request, "chat/page.html", context, status_code=status)
        # The page may show a resident's question: not for shared caches or the back/forward cache.
        response.headers["cache-control"] = "no-store"
        return response

    def page(self, request: Request) -> Response:
        """GET: the chat with its welcome (the page's script keeps the tab's conversation id)."""
        language, conversation = self.language(request), new_conversation()
        welcome = self.turn(conversation, "/start", "", language)
        return self.render(
            request,
            language=language,
            conversation=conversation,
            embed=request.query_params.get("embed") == "1",
            turns=[("", welcome)],
        )

    def privacy(self, request: Request) -> Response:
        language = self.language(request)
        context = {"texts": TEXTS[language], "language": language}
        return TEMPLATES.TemplateResponse(request, "chat/privacy.html", context)

    def check(self, request: Request) -> None:
        """Refuse cross-site posts and clients over their limit (ChatError says which, politely)."""
        if cross_site(request.headers):
            raise ChatError(403, "cross_site")
        wait = self.limiter.attempt(client_address(request.scope, self.service.settings.trusted_proxies))
        if wait:
            raise ChatError(429, "limited", seconds=wait)

    async def api(self, request: Request) -> Response:
        """POST /api/chat: {"message" | "action", "conversation", "language"?} → the reply as JSON."""
        language = self.language(request)
        try:
            try:
                data = json.loads(await _body(request))
            except (json.JSONDecodeError, UnicodeDecodeError):
                data = None
            if isinstance(data, dict):
                language = self.language(request, data.get("language"))
            self.check(request)
            if not isinstance(data, dict):
                raise ChatError(400, "bad_request")
            message, action, conversation = _fields(data)
            reply = await asyncio.to_thread(self.turn, conversation, message, action, language)
        except ChatError as error:
            headers = {"retry-after": str(error.seconds)} if error.seconds else None
            body = {"error": error.code, "message": error.text(language), "language": language}
            return JSONResponse(body, status_code=error.status, headers=headers)
        html = reply_html(reply, conversation=conversation, embed=False)
        return JSONResponse(
            reply_json(reply, html, conversation=conversation, plan=self.service.bundle.plan),
            headers={"cache-control": "no-store"},
        )

    async def form(self, request: Request) -> Response:
        """POST /chat/ without JavaScript: the form's question or button, answered on a new page."""
        try:
            raw = await _body(request)
            form = _parse_form(raw)
        except ChatError as error:
            form = {}
            failed: ChatError | None = error
        else:
            failed = None
        language = self.language(request, form.get("lang"))
        embed = form.get("embed") == "1"
        conversation = _conversation(form.get("conversation"))
        said = str(form.get("message") or "").strip()
        try:
            if failed is not None:
                raise failed
            self.check(request)
            message, action, conversation = _fields(form)
            reply = await asyncio.to_thread(self.turn, conversation, message, action, language)
        except ChatError as error:
            return self.render(
                request,
                language=language,
                conversation=conversation,
                embed=embed,
                turns=[(said, notice(language, error.text(language)))],
                status=error.status,
            )
        return self.render(
            request, language=language, conversation=conversation, embed=embed, turns=[(said, reply)]
        )

    def turn(self, conversation: str, message: str, action: str, language: Language) -> Reply:
        """The conversation's reply to a message or a button; 👍/👎 are stored here, as Telegram's are."""
        pressed = parse(action) if action else None
        if isinstance(pressed, FeedbackPress):
            self.service.record_feedback(CHANNEL, conversation, pressed.uid, pressed.helpful)
            return notice(language, say(language, "rated_up" if pressed.helpful else "rated_down"))
        user_key = self.service.user_key(CHANNEL, conversation)
        if action and pressed is None:  # a button from an older release or a forged post: the chapters
            chapters = self.conversation.reply(Turn(CHANNEL, user_key, language.value, action=ChapterMenu()))
            return replace(chapters, lead=(Line(Style.LEAD, TEXTS[language]["stale"]), *chapters.lead))
        reply = self.conversation.reply(Turn(CHANNEL, user_key, language.value, text=message, action=pressed))
        # Journaled before the reply goes out (a local append), so a reply seen is a reply logged.
        self.conversation.record(reply)
        return reply

    def error(self, request: Request, exc: Exception) -> Response:
        """Resident-facing errors: a short page or JSON, never a traceback."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        language = self.language(request)
        code = "not_found" if status == 404 else "error"
        if request.url.path.startswith("/api/"):
            body = {"error": code, "message": TEXTS[language][code], "language": language}
            return JSONResponse(body, status_code=status)
        context = {"texts": TEXTS[language], "language": language, "message": TEXTS[language][code]}
        return TEMPLATES.TemplateResponse(request, "chat/notice.html", context, status_code=status)


def new_conversation() -> str:
    return secrets.token_urlsafe(16)


def _conversation(value: object) -> str:
    """The client's conversation id when it is one of ours in form, else a fresh one."""
    return value if isinstance(value, str) and CONVERSATION_ID.fullmatch(value) else new_conversation()


def _fields(data: Mapping[str, object]) -> tuple[str, str, str]:
    """(message, action, conversation) from a request; ChatError for an empty or malformed one."""
    message, action = data.get("message", ""), data.get("action", "")
    if not isinstance(message, str) or not isinstance(action, str):
        raise ChatError(400, "bad_request")
    message = message.strip()
    if not message and not action:
        raise ChatError(400, "empty")
    return message, action[:64], _conversation(data.get("conversation"))


async def _body(request: Request) -> bytes:
    """The request body, refused as soon as it passes MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ChatError(413, "too_long")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ChatError(413, "too_long")
    return body


def _parse_form(raw: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ChatError(400, "bad_request") from None


def create_chat_app(service: PlanService, *, limits: ChatLimits | None = None) -> Starlette:
    """The chat as an app mounted at the site's root (after the webhook and /staff)."""
    pages = ChatPages(service, limits or ChatLimits())

    async def embed_script(_request: Request) -> Response:
        # Other sites load this script, so it is served with a short cache and no cookies.
        return FileResponse(
            HERE / "static" / "chat" / "embed.js",
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=3600"},
        )

    async def to_chat(request: Request) -> Response:
        return RedirectResponse("/chat/" + (f"?{request.url.query}" if request.url.query else ""))

    routes = [
        Route("/", pages.page, name="chat_home"),
        Route("/chat", to_chat),
        Route("/chat/", pages.page, name="chat_page"),
        Route("/chat/", pages.form, methods=["POST"]),
        Route(PRIVACY_PATH, pages.privacy, name="chat_privacy"),
        Route("/api/chat", pages.api, methods=["POST"], name="chat_api"),
        Route("/chat/embed.js", embed_script, name="chat_embed"),
        Mount("/chat/static", StaticFiles(directory=HERE / "static" / "chat"), name="chat_static"),
    ]
    middleware = [Middleware(ChatHeaders, embed_origins=service.settings.chat_embed_origins)]
    handlers = {HTTPException: pages.error, Exception: pages.error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


def chat_routes(service: PlanService, *, limits: ChatLimits | None = None) -> list[BaseRoute]:
    """For `serve` and `web`: the chat owns every path the other routes leave, so it goes last."""
    return [Mount("", app=create_chat_app(service, limits=limits))]


def create_web_app(service: PlanService, *, limits: ChatLimits | None = None) -> Starlette:
    """`python -m bot web`: the chat and the staff pages without Telegram."""
    from .dashboard import STAFF_PREFIX, create_dashboard

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    routes = [
        health_route(service),
        Mount(STAFF_PREFIX, app=create_dashboard(service)),
        *chat_routes(service, limits=limits),  # last: the chat answers every path the others leave
    ]
    headers = Middleware(SecurityHeaders, trusted_proxies=service.settings.trusted_proxies)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[headers])
