"""A local stand-in for api.telegram.org that end-to-end tests point the real bot at.

Why a real HTTP server rather than a mocked transport: the bot under test may run in a
subprocess, and we want python-telegram-bot's own request, retry and de-serialisation code
to run unchanged.  The server is strict where Telegram is strict (text length after entity
parsing, HTML well-formedness, callback_data size, "message is not modified", unknown chats),
so that the bugs those limits cause in production show up in tests instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import inspect
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JSON = dict[str, Any]
T = TypeVar("T")

METHODS = (
    "getMe",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "sendChatAction",
    "close",
    "logOut",
)
# Telegram delivers every update type by default except these.
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
# PTB JSON-encodes every non-string form value but sends strings verbatim, so a text of "123"
# must not be decoded into an int: these free-text parameters are never JSON-decoded.
_FREE_TEXT = {
    "text",
    "caption",
    "parse_mode",
    "callback_query_id",
    "inline_message_id",
    "url",
    "secret_token",
    "action",
    "language_code",
    "ip_address",
    "description",
    "title",
}
_BUTTON_ACTIONS = {
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "pay",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
_CONFLICT_HOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use "
    "deleteWebhook to delete the webhook first"
)
# What Telegram's nginx front answers while the backend is down: HTML, not JSON.
_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>"
    "502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
)


@dataclass(frozen=True)
class Call:
    """One request the bot made. Kept in completion order: a long poll lands when it returns."""

    method: str
    params: JSON
    time: float  # time.monotonic() when the request arrived, to measure back-off intervals
    status: int = 200
    description: str | None = None  # the error description of a failed call

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class MessageVersion:
    """One state of a bot message; ``SentMessage.history[0]`` is what was first sent."""

    text: str
    parse_mode: str | None
    reply_markup: JSON | None
    time: float


@dataclass
class SentMessage:
    """A bot message in its current (post-edit) state.

    ``text`` is what the bot passed (tags included); ``plain_text`` and ``entities`` are what
    the resident sees after Telegram parsed it.
    """

    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    plain_text: str
    entities: list[JSON]
    reply_markup: JSON | None
    history: list[MessageVersion] = field(default_factory=list)

    @property
    def callback_data(self) -> list[str]:
        """Every callback_data on the current inline keyboard, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


class ApiError(Exception):
    """A Telegram-shaped error response: handlers raise it, the endpoint renders it."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        return body | ({"parameters": self.parameters} if self.parameters else {})


class _Outage(ApiError):
    """Rendered as nginx's HTML 502, which is what clients really get during an outage."""

    def __init__(self) -> None:
        super().__init__(502, "Bad Gateway (simulated outage)")


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Hold:
    """A call held by the server before it runs: `arrived` once it is held, run after `release()`."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class _Fault:
    method: str  # lower-case method name, or "*" for any
    times: int
    error: ApiError | None = None
    delay: float = 0.0
    after: int = 0  # matching calls that pass untouched before this fault starts
    when: Callable[[JSON], bool] | None = None  # only calls whose parameters match
    hold: Hold | None = None


# --------------------------------------------------------------------------- text & params
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_VALUE = r"""\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))"""
_TAG_RE = re.compile(rf"<(/?)([a-zA-Z][\w-]*)((?:\s+[\w-]+(?:{re.sub(r'[(](?![?])', '(?:', _VALUE)})?)*)\s*>")
_ATTR_RE = re.compile(rf"([\w-]+)(?:{_VALUE})?")
_CHAR_REF_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_COMMAND_RE = re.compile(r"(?:^|(?<=\s))/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?(?![\w/])")


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (plain text, entities).

    Raises ValueError, like Telegram's "can't parse entities", for unknown, unclosed or
    mis-nested tags and for a ``<`` or ``&`` that does not start a tag or a character reference.
    """
    out: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, int, JSON | None]] = []  # (tag, start offset, entity to emit)
    pos = offset = 0
    while pos < len(text):
        at = f"at byte offset {len(text[:pos].encode())}"
        char = text[pos]
        if char == "<":
            if (m := _TAG_RE.match(text, pos)) is None:
                raise ValueError(f"Unexpected character '<' {at}; use &lt; for a literal '<'")
            name, pos = m[2].lower(), m.end()
            if m[1]:
                if not stack:
                    raise ValueError(f'Unexpected end tag "</{name}>" {at}')
                top, start, closed = stack.pop()
                if top != name:
                    raise ValueError(f'Unmatched end tag {at}, expected "</{top}>", found "</{name}>"')
                language = closed.pop("language", None) if closed and top == "code" else None
                if language and stack and stack[-1][0] == "pre" and stack[-1][2] is not None:
                    stack[-1][2]["language"] = language  # <pre><code class="language-x">
                elif closed and offset > start:
                    entities.append(closed | {"offset": start, "length": offset - start})
                continue
            if name not in _HTML_TAGS:
                raise ValueError(f'Unsupported start tag "{name}" {at}')
            attrs = {a[1].lower(): html.unescape(a[2] or a[3] or a[4] or "") for a in _ATTR_RE.finditer(m[3])}
            entity: JSON | None = {"type": _HTML_TAGS[name]}
            if name == "a":
                entity = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
            elif name == "span" and attrs.get("class") != "tg-spoiler":
                raise ValueError(f'Tag "span" must have class "tg-spoiler" {at}')
            elif name == "blockquote" and "expandable" in attrs:
                entity = {"type": "expandable_blockquote"}
            elif name == "code" and attrs.get("class", "").startswith("language-"):
                entity = {"type": "code", "language": attrs["class"].removeprefix("language-")}
            elif name == "tg-emoji":
                if not attrs.get("emoji-id"):
                    raise ValueError(f'Tag "tg-emoji" must have attribute "emoji-id" {at}')
                entity = {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}
            stack.append((name, offset, entity))
            continue
        if char == "&":
            if (m := _CHAR_REF_RE.match(text, pos)) is None:
                raise ValueError(f"Unsupported HTML entity {at}; use &amp; for a literal '&'")
            char = _NAMED_REFS[m[3]] if m[3] else chr(int(m[1]) if m[1] else int(m[2], 16))
            pos = m.end()
        else:
            pos += 1
        out.append(char)
        offset += utf16_len(char)
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _render_text(params: JSON) -> tuple[str, list[JSON]]:
    """Validate a message text as Telegram does; return (plain text, entities).

    Markdown modes are not parsed: only backslash escapes are removed before counting.
    """
    text = params.get("text")
    if not isinstance(text, str) or not text:
        raise _bad("message text is empty")
    mode = str(params.get("parse_mode") or "").lower()
    if mode == "html":
        try:
            plain, entities = parse_html(text)
        except ValueError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
    elif mode in ("markdown", "markdownv2"):
        plain, entities = re.sub(r"\\(.)", r"\1", text), []
    elif mode:
        raise _bad(f"unsupported parse_mode {params['parse_mode']!r}")
    else:
        plain, entities = text, list(params.get("entities") or [])
    if not plain.strip():
        raise _bad("message text is empty")
    if len(plain) > 4096:
        raise _bad("message is too long")
    return plain, entities


def _check_markup(markup: object) -> JSON | None:
    """Validate reply_markup; inline buttons are where most real-world 400s come from."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    for button in (b for row in markup.get("inline_keyboard", []) for b in row):
        if not _BUTTON_ACTIONS & button.keys():
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise _bad("BUTTON_DATA_INVALID")
        if "url" in button and not re.fullmatch(r"(https?|tg)://\S+", str(button["url"])):
            raise _bad("BUTTON_URL_INVALID")
    return markup


async def _read_params(request: Request) -> JSON:
    """Accept parameters the ways Telegram does: query string, JSON, urlencoded, multipart.

    Multipart is parsed with the stdlib email parser to avoid needing python-multipart.
    """
    raw: JSON = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    body = await request.body()
    if "application/json" in ctype and body:
        raw.update(json.loads(body))
    elif "multipart/form-data" in ctype:
        head = f"Content-Type: {ctype}\r\n\r\n".encode()
        for part in BytesParser(policy=HTTP).parsebytes(head + body).iter_parts():
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            value = {"filename": name, "size": len(data)} if (name := part.get_filename()) else None
            raw[str(part.get_param("name", header="content-disposition"))] = value or data.decode()
    elif body:
        raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    return {key: _decode(key, value) for key, value in raw.items()}


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _FREE_TEXT:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _update_type(update: JSON) -> str:
    return next(key for key in update if key != "update_id")


# --------------------------------------------------------------------------- the server
class BotApiServer:
    """Fake Bot API on 127.0.0.1, served by uvicorn in a background thread with its own loop.

    All public methods are thread-safe: tests call them from the main thread, from an asyncio
    test's loop, or while the bot runs in another process.
    """

    def __init__(
        self, token: str = "123:ABC", *, bot_username: str = "test_bot", bot_name: str = "Test Bot"
    ) -> None:
        self.token, self.port = token, 0
        head = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(head) if head.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._updates: list[JSON] = []  # queued and not yet confirmed by an offset
        self._built: dict[int, JSON] = {}  # every update ever made, queued or not
        self._last_update_id = self._seq = self._poll_generation = 0
        self._open_polls = 0  # getUpdates requests waiting right now: the bot is listening
        self._allowed: list[str] | None = None
        self._users: dict[int, JSON] = {}
        self._chats: dict[int, JSON] = {}
        self._last_message_id: dict[int, int] = {}
        self._raw: dict[tuple[int, int], JSON] = {}  # every message, as Telegram would show it
        self._sent: dict[tuple[int, int], SentMessage] = {}
        self._sent_log: list[SentMessage] = []
        self._mark_calls = self._mark_sent = 0
        self._reply_cursor: dict[int, int] = {}
        self._queries: set[str] = set()
        self._commands: dict[str, list[JSON]] = {}
        self._webhook: JSON = {"url": ""}
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._down_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None  # set when updates arrive or state changes
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers = {
            m.lower(): (m, getattr(self, "_" + re.sub("([A-Z])", r"_\1", m).lower())) for m in METHODS
        }
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> BotApiServer:
        """Bind a free port first (so it is known at once), then serve it from a thread.

        The explicit IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets
        whose proto says TCP, and without it every response waits ~40 ms for a delayed ACK.
        """
        self._stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
            )
        )
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=f"botapi:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Bot API test server failed to start")
            time.sleep(0.005)
        return self

    async def _serve(self, sock: socket.socket) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        assert self._server is not None
        await self._server.serve(sockets=[sock])

    def stop(self) -> None:
        """Wake pending long polls and delays first, so uvicorn's graceful shutdown is quick."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._poke()
        self._server.should_exit = True
        self._thread.join(10)
        self._server = self._thread = None

    def _poke(self) -> None:
        """Wake long polls in the server loop; safe from any thread."""
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------ HTTP plumbing
    async def _endpoint(self, request: Request) -> Response:
        arrived, name = time.monotonic(), request.path_params["method"]
        method = self._handlers.get(name.lower(), (name,))[0]
        params: JSON = {}
        try:
            try:
                params = await _read_params(request)
            except (TypeError, ValueError):
                raise _bad("can't parse request JSON object") from None
            result = await self._dispatch(request.path_params["token"], method, params)
        except ApiError as exc:
            self._record(Call(method, params, arrived, exc.status, exc.description))
            if isinstance(exc, _Outage):
                return Response(_NGINX_502, status_code=502, media_type="text/html")
            return JSONResponse(exc.body(), status_code=exc.status)
        self._record(Call(method, params, arrived))
        return JSONResponse({"ok": True, "result": result})

    async def _dispatch(self, token: str, method: str, params: JSON) -> Any:
        if self._is_down():
            raise _Outage()
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        if method.lower() not in self._handlers:
            raise ApiError(404, "Not Found")
        fault = self._take_fault(method, params)
        if fault and fault.delay:
            await asyncio.to_thread(self._stopping.wait, fault.delay)
        if fault and fault.hold:
            fault.hold.arrived.set()
            await asyncio.to_thread(self._until_released, fault.hold)
        if fault and fault.error:
            raise fault.error
        try:
            result = self._handlers[method.lower()][1](params)
            return await result if inspect.isawaitable(result) else result
        except (TypeError, ValueError) as exc:  # a parameter of the wrong type or shape
            raise _bad(f"invalid parameters: {exc}") from None

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        after: int = 0,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" = any) with an error, unexecuted,
        once ``after`` more calls of it have run normally.

        429 carries ``parameters.retry_after`` like Telegram's flood control; other statuses
        are plain ``{"ok": false, ...}`` errors, described by the HTTP phrase by default.
        """
        if status == 429:
            error = ApiError(
                429,
                description or f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        else:
            error = ApiError(status, description or HTTPStatus(status).phrase)
        with self._lock:
            self._faults.append(_Fault(method.lower(), times, error=error, after=after))

    def hold_next(self, method: str, *, when: Callable[[JSON], bool] | None = None) -> Hold:
        """Hold the next call of ``method`` (whose parameters match ``when``) until released: a
        send that Telegram is slow to accept. Release it within the bot's read timeout (5 s), or
        the bot sends again and both copies arrive, as they would on Telegram."""
        hold = Hold()
        with self._lock:
            self._faults.append(_Fault(method.lower(), 1, when=when, hold=hold))
            self._holds.append(hold)
        return hold

    def _until_released(self, hold: Hold) -> None:
        while not (hold.released.wait(0.05) or self._stopping.is_set()):
            pass

    def clear_faults(self) -> None:
        """Drop every fault still waiting and release every held call: calls run normally again."""
        with self._lock:
            self._faults.clear()
            for hold in self._holds:
                hold.release()
            self._holds.clear()

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next calls before executing them, to trigger client read timeouts.

        Like the real API, the call still runs after the delay even if the client gave up,
        which is exactly how a retried send becomes a duplicate.
        """
        with self._lock:
            self._faults.append(_Fault(method.lower(), times, delay=seconds))

    def outage(self, seconds: float) -> None:
        """Answer every request, in-flight long polls too, with nginx's HTML 502 for a while."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
        self._poke()

    def down(self) -> None:
        """Start an open-ended outage, until :meth:`up`."""
        self.outage(math.inf)

    def up(self) -> None:
        with self._lock:
            self._down_until = 0.0

    def _is_down(self) -> bool:
        with self._lock:
            return time.monotonic() < self._down_until

    def _take_fault(self, method: str, params: JSON) -> _Fault | None:
        with self._lock:
            fault = None
            for candidate in self._faults:
                if candidate.method not in (method.lower(), "*"):
                    continue
                if candidate.when is not None and not candidate.when(params):
                    continue
                if candidate.after > 0:
                    candidate.after -= 1  # every waiting fault counts the call; none takes it
                elif fault is None:
                    fault = candidate
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault

    # ------------------------------------------------------------------ Bot API methods
    def _get_me(self, p: JSON) -> JSON:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, p: JSON) -> list[JSON]:
        """Long polling; a newer getUpdates terminates an older one with 409, as on Telegram."""
        assert self._wake is not None
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        with self._cond:
            if self._webhook["url"]:
                raise ApiError(409, _CONFLICT_HOOK)
            self._poll_generation += 1
            generation = self._poll_generation
            if p.get("allowed_updates") is not None:
                self._allowed = list(p["allowed_updates"]) or None
            offset = int(p.get("offset") or 0)
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            self._open_polls += 1
            self._cond.notify_all()
        self._wake.set()  # an older poll wakes up, sees it was superseded, and fails
        try:
            return await self._poll(generation, limit, deadline)
        finally:
            with self._cond:
                self._open_polls -= 1

    async def _poll(self, generation: int, limit: int, deadline: float) -> list[JSON]:
        assert self._wake is not None
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT_POLL)
            if self._is_down():
                raise _Outage()
            self._wake.clear()
            with self._lock:
                self._updates = [u for u in self._updates if self._wanted(_update_type(u))]
                batch = copy.deepcopy(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._stopping.is_set():
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    def _wanted(self, kind: str) -> bool:
        return kind in self._allowed if self._allowed else kind not in _NOT_BY_DEFAULT

    def _send_message(self, p: JSON) -> JSON:
        chat = self._chat_for(p.get("chat_id"))
        plain, entities = _render_text(p)
        markup = _check_markup(p.get("reply_markup"))
        reply = p.get("reply_parameters") or (
            {"message_id": p["reply_to_message_id"]} if "reply_to_message_id" in p else {}
        )
        with self._cond:
            target = self._raw.get((chat["id"], reply["message_id"])) if "message_id" in reply else None
            allow = reply.get("allow_sending_without_reply", p.get("allow_sending_without_reply"))
            if reply and target is None and not allow:
                raise _bad("message to be replied not found")
            raw = self._new_message(chat, self.bot_user, {"text": plain})
            raw |= {"entities": entities} if entities else {}
            raw |= {"reply_markup": markup} if markup and "inline_keyboard" in markup else {}
            if target:
                raw["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
            sent = SentMessage(
                chat["id"], raw["message_id"], p["text"], p.get("parse_mode"), plain, entities, markup
            )
            sent.history.append(MessageVersion(sent.text, sent.parse_mode, markup, time.time()))
            self._sent[(chat["id"], sent.message_id)] = sent
            self._sent_log.append(sent)
            self._cond.notify_all()
            return copy.deepcopy(raw)

    def _edit_message_text(self, p: JSON) -> JSON:
        sent = self._sent_message(p)
        plain, entities = _render_text(p)
        return self._apply_edit(
            sent, p["text"], p.get("parse_mode"), plain, entities, _check_markup(p.get("reply_markup"))
        )

    def _edit_message_reply_markup(self, p: JSON) -> JSON:
        sent = self._sent_message(p)
        return self._apply_edit(
            sent,
            sent.text,
            sent.parse_mode,
            sent.plain_text,
            sent.entities,
            _check_markup(p.get("reply_markup")),
        )

    def _apply_edit(
        self,
        sent: SentMessage,
        text: str,
        parse_mode: str | None,
        plain: str,
        entities: list[JSON],
        markup: JSON | None,
    ) -> JSON:
        """An edit without reply_markup removes the keyboard, exactly as on Telegram."""
        with self._cond:
            if (plain, entities, markup) == (sent.plain_text, sent.entities, sent.reply_markup):
                raise ApiError(400, NOT_MODIFIED)
            sent.text, sent.parse_mode, sent.plain_text = text, parse_mode, plain
            sent.entities, sent.reply_markup = entities, markup
            sent.history.append(MessageVersion(text, parse_mode, markup, time.time()))
            raw = self._raw[(sent.chat_id, sent.message_id)]
            raw.update(text=plain, edit_date=int(time.time()))
            for key, value in (("entities", entities), ("reply_markup", markup)):
                raw.pop(key, None)
                raw |= {key: value} if value else {}
            self._cond.notify_all()
            return copy.deepcopy(raw)

    def _answer_callback_query(self, p: JSON) -> bool:
        if len(str(p.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self._lock:
            if str(p.get("callback_query_id")) not in self._queries:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._queries.discard(str(p.get("callback_query_id")))
        return True

    def _set_my_commands(self, p: JSON) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            self._commands[self._commands_key(p)] = commands
        return True

    def _get_my_commands(self, p: JSON) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(p), []))

    def _delete_my_commands(self, p: JSON) -> bool:
        with self._lock:
            self._commands.pop(self._commands_key(p), None)
        return True

    @staticmethod
    def _commands_key(p: JSON) -> str:
        scope = json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True)
        return f"{scope}|{p.get('language_code') or ''}"

    def _set_webhook(self, p: JSON) -> bool:
        url, secret = str(p.get("url") or ""), p.get("secret_token")
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        with self._lock:
            self._webhook = {"url": url, "secret_token": secret, "allowed_updates": p.get("allowed_updates")}
            if p.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _delete_webhook(self, p: JSON) -> bool:
        return self._set_webhook({"drop_pending_updates": p.get("drop_pending_updates")})

    def _get_webhook_info(self, p: JSON) -> JSON:
        with self._lock:
            info = {
                "url": self._webhook["url"],
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook["url"]:
                info |= {"max_connections": 40, "allowed_updates": self._webhook["allowed_updates"]}
            return {k: v for k, v in info.items() if v is not None}

    def _send_chat_action(self, p: JSON) -> bool:
        self._chat_for(p.get("chat_id"))
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _close(self, p: JSON) -> bool:
        """close and logOut have nothing to tear down here."""
        return True

    _log_out = _close

    # ------------------------------------------------------------------ chat model
    def _chat_for(self, chat_id: object) -> JSON:
        """Only chats residents opened exist: sending elsewhere is a bug Telegram reports."""
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        with self._lock:
            if not isinstance(chat_id, int) or chat_id not in self._chats:
                raise _bad("chat not found")
            return self._chats[chat_id]

    def _sent_message(self, p: JSON) -> SentMessage:
        if p.get("inline_message_id"):
            raise _bad("inline messages are not supported by the test server")
        key = (self._chat_for(p.get("chat_id"))["id"], p.get("message_id"))
        with self._lock:
            if key in self._sent:
                return self._sent[key]
            raise _bad("message can't be edited" if key in self._raw else "message to edit not found")

    def _new_message(self, chat: JSON, sender: JSON, body: JSON) -> JSON:
        """Both sides of a private chat share one message-id counter, as on Telegram."""
        with self._lock:
            message_id = self._last_message_id[chat["id"]] = self._last_message_id.get(chat["id"], 0) + 1
            raw = {"message_id": message_id, "from": sender, "chat": chat, "date": int(time.time()), **body}
            self._raw[(chat["id"], message_id)] = raw
            return raw

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Taro",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ja",
    ) -> JSON:
        """Register a resident and their private chat, as if they had started the bot earlier."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"last_name": last_name} if last_name else {}
        user |= {"username": username} if username else {}
        with self._lock:
            self._users[user_id] = user | ({"language_code": language_code} if language_code else {})
            self._chats[user_id] = {k: v for k, v in user.items() if k != "is_bot"} | {"type": "private"}
            return self._users[user_id]

    def _speaker(self, user_id: int, chat_id: int | None) -> tuple[JSON, JSON]:
        """The user (registered on first use) and the chat they speak in (a group if given)."""
        with self._lock:
            user = self._users.get(user_id) or self.add_user(user_id)
            if chat_id is not None and chat_id not in self._chats:
                kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                self._chats[chat_id] = {"id": chat_id, "type": kind, "title": "Test group"}
            return user, self._chats[user_id if chat_id is None else chat_id]

    # ------------------------------------------------------------------ residents
    def enqueue(self, update: JSON, *, deliver: bool = True) -> int:
        """Queue any update for getUpdates (assigning ``update_id`` if missing); return its id.

        With ``deliver=False`` it is only built and kept for :meth:`get_update`, so a webhook
        test can POST it to the app itself.
        """
        with self._lock:
            update = copy.deepcopy(update)
            update.setdefault("update_id", self._last_update_id + 1)
            self._last_update_id = max(self._last_update_id, update["update_id"])
            self._built[update["update_id"]] = update
            if deliver:
                self._updates.append(update)
        self._poke()
        return int(update["update_id"])

    def get_update(self, update_id: int) -> JSON:
        """The update as built; e.g. ``send_text(..., deliver=False)`` then POST this."""
        with self._lock:
            return copy.deepcopy(self._built[update_id])

    def _user_message(self, user_id: int, chat_id: int | None, body: JSON, deliver: bool) -> int:
        with self._lock:
            user, chat = self._speaker(user_id, chat_id)
            return self.enqueue({"message": self._new_message(chat, user, body)}, deliver=deliver)

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        first_name: str = "Taro",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ja",
        deliver: bool = True,
    ) -> int:
        """A resident writes ``text``; each ``/command`` in it gets a bot_command entity."""
        self.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        entities = [
            {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
            for m in _COMMAND_RE.finditer(text)
        ]
        body: JSON = {"text": text} | ({"entities": entities} if entities else {})
        return self._user_message(user_id, chat_id, body, deliver)

    def send_command(
        self, user_id: int, command: str, *, chat_id: int | None = None, deliver: bool = True
    ) -> int:
        """E.g. ``send_command(1, "/start payload")``; keeps the user's earlier profile."""
        if (m := _COMMAND_RE.match(command)) is None:
            raise ValueError(f"not a bot command: {command!r}")
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(m[0])}
        return self._user_message(user_id, chat_id, {"text": command, "entities": [entity]}, deliver)

    def _file(self, kind: str, **extra: Any) -> JSON:
        with self._lock:
            self._seq += 1
            return {"file_id": f"{kind}-file-{self._seq}", "file_unique_id": f"{kind}{self._seq}", **extra}

    def send_sticker(
        self, user_id: int, *, emoji: str = "👍", chat_id: int | None = None, deliver: bool = True
    ) -> int:
        sticker = self._file(
            "sticker", type="regular", width=512, height=512, is_animated=False, is_video=False, emoji=emoji
        )
        return self._user_message(user_id, chat_id, {"sticker": sticker}, deliver)

    def send_photo(
        self, user_id: int, caption: str | None = None, *, chat_id: int | None = None, deliver: bool = True
    ) -> int:
        sizes = [self._file("photo", width=w, height=w * 3 // 4, file_size=w * 40) for w in (90, 320, 1280)]
        body: JSON = {"photo": sizes} | ({"caption": caption} if caption else {})
        return self._user_message(user_id, chat_id, body, deliver)

    def send_voice(
        self, user_id: int, *, duration: int = 2, chat_id: int | None = None, deliver: bool = True
    ) -> int:
        voice = self._file("voice", duration=duration, mime_type="audio/ogg", file_size=4000)
        return self._user_message(user_id, chat_id, {"voice": voice}, deliver)

    def send_location(
        self, user_id: int, lat: float, lon: float, *, chat_id: int | None = None, deliver: bool = True
    ) -> int:
        location = {"latitude": lat, "longitude": lon}
        return self._user_message(user_id, chat_id, {"location": location}, deliver)

    def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None, deliver: bool = True
    ) -> int:
        """The resident edits one of their own text messages: an ``edited_message`` update."""
        with self._lock:
            raw = self._raw.get((user_id if chat_id is None else chat_id, message_id))
            if raw is None or raw["from"]["id"] != user_id or "text" not in raw:
                raise ValueError(f"user {user_id} has no text message {message_id} to edit")
            raw.update(text=text, edit_date=int(time.time()))
            return self.enqueue({"edited_message": raw}, deliver=deliver)

    def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        deliver: bool = True,
    ) -> int:
        """Press an inline button that is on the bot's message right now; raise otherwise."""
        with self._lock:
            user, chat = self._speaker(user_id, chat_id)
            sent = self._sent.get((chat["id"], message_id))
            if sent is None or callback_data not in sent.callback_data:
                offered = sent.callback_data if sent else "no such bot message"
                raise ValueError(f"no button {callback_data!r} on message {message_id}: {offered}")
            self._seq += 1
            self._queries.add(query_id := str(self._seq))
            query = {
                "id": query_id,
                "from": user,
                "message": self._raw[(chat["id"], message_id)],
                "chat_instance": f"instance{chat['id']}",
                "data": callback_data,
            }
            return self.enqueue({"callback_query": query}, deliver=deliver)

    # ------------------------------------------------------------------ inspection & waiting
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def webhook(self) -> JSON:
        """What the bot registered via setWebhook: url, secret_token, allowed_updates."""
        with self._lock:
            return dict(self._webhook)

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Snapshots of the bot's messages in a chat, in send order, in their current state."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._sent_log if m.chat_id == chat_id]

    def mark(self) -> None:
        """Make later waits consider only calls and messages from now on."""
        with self._lock:
            self._mark_calls, self._mark_sent = len(self._calls), len(self._sent_log)
            self._reply_cursor.clear()

    def wait_for(
        self,
        method: str,
        *,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Call]:
        """Block until ``count`` matching calls arrived since :meth:`mark`; return them."""
        return self._wait(self._matcher(method, predicate, count), timeout)

    async def await_for(
        self,
        method: str,
        *,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Call]:
        """:meth:`wait_for` for async tests, without blocking their event loop."""
        return await self._await(self._matcher(method, predicate, count), timeout)

    def wait_polling(self, timeout: float = 30.0) -> None:
        """Block until a getUpdates long poll is open: the bot is listening.

        Calls are recorded when they complete, so waiting for a getUpdates call would sit out
        a whole long poll; this returns as soon as one has arrived.
        """
        self._wait(("an open getUpdates long poll", lambda: True if self._open_polls else None), timeout)

    def wait_reply(self, chat_id: int, timeout: float = 10.0) -> SentMessage:
        """The next bot message to ``chat_id`` after the mark; successive calls advance."""
        return self._wait(self._replier(chat_id), timeout)

    async def await_reply(self, chat_id: int, timeout: float = 10.0) -> SentMessage:
        return await self._await(self._replier(chat_id), timeout)

    def _matcher(
        self, method: str, predicate: Callable[[Call], bool] | None, count: int
    ) -> tuple[str, Callable[[], list[Call] | None]]:
        def check() -> list[Call] | None:
            found = [
                c
                for c in self._calls[self._mark_calls :]
                if c.method.lower() == method.lower() and (predicate is None or predicate(c))
            ]
            return found[:count] if len(found) >= count else None

        return f"{count} x {method}", check

    def _replier(self, chat_id: int) -> tuple[str, Callable[[], SentMessage | None]]:
        def check() -> SentMessage | None:
            start = max(self._mark_sent, self._reply_cursor.get(chat_id, 0))
            for index in range(start, len(self._sent_log)):
                if self._sent_log[index].chat_id == chat_id:
                    self._reply_cursor[chat_id] = index + 1
                    return copy.deepcopy(self._sent_log[index])
            return None

        return f"bot message in chat {chat_id}", check

    def _wait(self, waiting: tuple[str, Callable[[], T | None]], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (result := waiting[1]()) is None:
                if (remaining := deadline - time.monotonic()) <= 0:
                    raise self._timeout(waiting[0], timeout)
                self._cond.wait(remaining)
            return result

    async def _await(self, waiting: tuple[str, Callable[[], T | None]], timeout: float) -> T:
        """Polls rather than blocks: the bot may be running on the very same event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if (result := waiting[1]()) is not None:
                    return result
            if time.monotonic() > deadline:
                raise self._timeout(waiting[0], timeout)
            await asyncio.sleep(0.01)

    def _timeout(self, what: str, timeout: float) -> TimeoutError:
        recent = "\n".join(
            f"  {c.method} -> {c.status} {c.description or ''} "
            f"{json.dumps(c.params, ensure_ascii=False, default=str)[:200]}"
            for c in self.calls[-20:]
        )
        return TimeoutError(f"no {what} within {timeout}s; recent calls:\n{recent or '  (none)'}")
