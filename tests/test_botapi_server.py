"""Tests of the local Bot API test server, driven by the real python-telegram-bot client.

If these pass, end-to-end tests can trust that what the bot sees from the fake server is what
it would see from api.telegram.org, and that the limits which bite in production bite here.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.botapi import NOT_MODIFIED, BotApiServer, parse_html

TOKEN = "123:ABC"
USER = 42


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        server.add_user(USER)
        yield server


@pytest_asyncio.fixture
async def bot(api: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


@pytest.mark.asyncio
async def test_get_me_and_auth(api: BotApiServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, "test_bot", True)
    assert api.calls[0].method == "getMe" and api.calls[0].ok
    with pytest.raises(InvalidToken):
        await Bot("999:WRONG", base_url=api.base_url).get_me()
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{api.base_url}{TOKEN}/sendTelepathy")
        wrong = await client.get(f"{api.base_url}999:WRONG/getMe")
    assert unknown.status_code == 404 and unknown.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert [c.status for c in api.calls[-3:]] == [401, 404, 401]


@pytest.mark.asyncio
async def test_send_message_html_keyboard_round_trip(api: BotApiServer, bot: Bot) -> None:
    text = "<b>計画</b> &amp; <a href='https://example.jp/?a=1&amp;b=2'>詳細</a> 🏙 <i>ok</i>"
    msg = await bot.send_message(USER, text, parse_mode="HTML", reply_markup=keyboard("yes", "no"))
    assert msg.text == "計画 & 詳細 🏙 ok"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 2),
        ("text_link", 5, 2),
        ("italic", 11, 2),
    ]  # 🏙 is two UTF-16 units
    assert msg.entities[1].url == "https://example.jp/?a=1&b=2"
    assert msg.reply_markup == keyboard("yes", "no")
    assert msg.from_user and msg.from_user.username == "test_bot"
    (sent,) = api.messages(USER)
    assert (sent.message_id, sent.text, sent.parse_mode) == (msg.message_id, text, "HTML")
    assert sent.callback_data == ["yes", "no"]
    call = api.wait_for("sendMessage")[0]
    assert call.params["chat_id"] == USER  # form values arrive JSON-encoded and are decoded
    assert call.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "no"


@pytest.mark.asyncio
async def test_numeric_text_stays_a_string_and_json_and_multipart_bodies_work(
    api: BotApiServer, bot: Bot
) -> None:
    assert (await bot.send_message(USER, "123")).text == "123"
    url = f"{api.base_url}{TOKEN}/sendMessage"
    async with httpx.AsyncClient() as client:
        by_json = await client.post(
            url,
            json={
                "chat_id": USER,
                "text": "json",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
            },
        )
        by_multipart = await client.post(
            url, data={"chat_id": str(USER), "text": "true"}, files={"document": ("a.txt", b"hello")}
        )
    assert by_json.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert by_multipart.json()["result"]["text"] == "true"
    assert api.calls[-1].params["document"] == {"filename": "a.txt", "size": 5}


@pytest.mark.asyncio
async def test_telegram_limits_are_enforced(api: BotApiServer, bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    await bot.send_message(USER, f"<b>{'x' * 4000}</b>&lt;{'y' * 95}", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, f"<b>{'x' * 4096}</b>&amp;", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=keyboard("x" * 65))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):  # 22 chars but 66 bytes
        await bot.send_message(USER, "hi", reply_markup=keyboard("あ" * 22))
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(USER + 1, "who?")
    assert len(api.messages(USER)) == 2
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [200, 200] + [400] * 6


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        "<b>unclosed",
        "a < b",
        "AT&T",
        "&nbsp;",
        "<br>",
        "<b><i>x</b></i>",
        "x</b>",
        "<span>no class</span>",
    ],
)
async def test_malformed_html_is_rejected(bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, text, parse_mode="HTML")


def test_parse_html_supported_tags() -> None:
    text, entities = parse_html(
        '<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">p</span><u>u</u><s>x</s>'
        '<blockquote expandable>q</blockquote><pre><code class="language-py">c</code></pre>'
        "<code>k</code>&#x1F600;&#65;&quot;"
    )
    assert text == 'spuxqck😀A"'
    assert [e["type"] for e in entities] == [
        "spoiler",
        "spoiler",
        "underline",
        "strikethrough",
        "expandable_blockquote",
        "pre",
        "code",
    ]
    assert entities[5] == {"type": "pre", "language": "py", "offset": 5, "length": 1}


@pytest.mark.asyncio
async def test_edits_not_modified_and_keyboard_removal(api: BotApiServer, bot: Bot) -> None:
    msg = await bot.send_message(USER, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard("a"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>v1</b>", USER, msg.message_id, parse_mode="HTML", reply_markup=keyboard("a")
        )
    edited = await bot.edit_message_text("v2", USER, msg.message_id)  # no markup: keyboard goes
    assert isinstance(edited, Message)
    assert edited.text == "v2" and edited.reply_markup is None and edited.edit_date
    await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard("b"))
    with pytest.raises(BadRequest) as not_modified:
        await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard("b"))
    # PTB strips "Bad Request: " and str.capitalize()s the rest, lower-casing it
    assert not_modified.value.message == NOT_MODIFIED.removeprefix("Bad Request: ").capitalize()
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", USER, 999)
    (sent,) = api.messages(USER)
    assert (sent.text, sent.callback_data) == ("v2", ["b"])
    assert [(v.text, v.reply_markup is not None) for v in sent.history] == [
        ("<b>v1</b>", True),
        ("v2", False),
        ("v2", True),
    ]


@pytest.mark.asyncio
async def test_long_polling_delivers_text_and_callback_query(api: BotApiServer, bot: Bot) -> None:
    msg = await bot.send_message(USER, "choose", reply_markup=keyboard("yes", "no"))
    first = api.send_text(USER, "こんにちは", first_name="Hanako")
    started = time.monotonic()
    (update,) = await bot.get_updates(timeout=30)
    assert time.monotonic() - started < 20  # queued updates come back at once, not after the timeout
    assert update.update_id == first and update.message and update.message.text == "こんにちは"
    assert update.message.from_user and update.message.from_user.first_name == "Hanako"
    assert update.message.message_id == msg.message_id + 1  # one counter per private chat

    threading.Timer(0.3, api.press_button, (USER, msg.message_id, "no")).start()
    started = time.monotonic()
    (update,) = await bot.get_updates(offset=first + 1, timeout=30)
    assert 0.2 < time.monotonic() - started < 20  # waited for the press, not the full timeout
    query = update.callback_query
    assert query and query.data == "no" and isinstance(query.message, Message)
    assert query.message.reply_markup == keyboard("yes", "no")
    assert await query.answer("ok")
    with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
        await query.answer("again")
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    with pytest.raises(ValueError, match="no button"):
        api.press_button(USER, msg.message_id, "maybe")


@pytest.mark.asyncio
async def test_long_poll_does_not_block_and_newer_poll_wins(api: BotApiServer, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.to_thread(api.wait_polling, 10)
    started = time.monotonic()
    await bot.get_me()
    await bot.send_message(USER, "while polling")
    assert time.monotonic() - started < 20  # not held up by the open poll
    # PTB's get_updates pool has one connection, so a second instance makes the second poll.
    async with Bot(TOKEN, base_url=api.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()  # supersedes the pending poll,
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await poll  # which fails, as on Telegram when two bot instances run


@pytest.mark.asyncio
async def test_other_update_kinds_and_allowed_updates(api: BotApiServer, bot: Bot) -> None:
    api.send_command(USER, "/start from_qr")
    api.send_sticker(USER)
    api.send_photo(USER, caption="地図")
    api.send_voice(USER)
    api.send_location(USER, 35.79, 139.59)
    typo = api.get_update(api.send_text(USER, "typo", chat_id=-1001))["message"]["message_id"]
    api.edit_text(USER, typo, "fixed", chat_id=-1001)
    api.send_text(USER, "see /help@test_bot please")
    updates = await bot.get_updates(allowed_updates=["message"])
    messages = [u.message for u in updates if u.message]
    assert len(messages) == len(updates) == 7  # the edited_message was filtered out
    start, sticker, photo, voice, location, group, help_ = messages
    assert start.text == "/start from_qr" and start.entities[0].type == "bot_command"
    assert sticker.sticker and sticker.sticker.emoji == "👍"
    assert photo.caption == "地図" and len(photo.photo) == 3
    assert voice.voice and location.location and location.location.latitude == 35.79
    assert group.chat.type == "supergroup" and group.from_user and group.from_user.id == USER
    assert help_.parse_entities() == {help_.entities[0]: "/help@test_bot"}
    edited = await bot.get_updates(allowed_updates=["edited_message"])
    assert edited == ()  # it was dropped, as Telegram never queues disallowed updates


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB-internal
async def test_fail_next_429_and_500(api: BotApiServer, bot: Bot) -> None:
    api.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter, match="3"):
        await bot.send_message(USER, "hi")
    api.fail_next("*", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_me()
    await bot.send_message(USER, "hi")
    assert [(c.method, c.status) for c in api.calls] == [
        ("getMe", 200),
        ("sendMessage", 429),
        ("getMe", 500),
        ("sendMessage", 200),
    ]
    assert len(api.messages(USER)) == 1  # the refused call was not executed


@pytest.mark.asyncio
async def test_a_fault_after_some_calls_until_cleared(api: BotApiServer, bot: Bot) -> None:
    api.fail_next("sendMessage", status=503, times=5, after=2)
    api.fail_next("sendMessage", status=502, times=5, after=3)  # counts the same calls, and waits
    await bot.send_message(USER, "1")
    await bot.get_me()  # another method does not count towards `after`
    await bot.send_message(USER, "2")
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.send_message(USER, "3")
    api.clear_faults()
    await bot.send_message(USER, "4")
    assert [m.text for m in api.messages(USER)] == ["1", "2", "4"]


@pytest.mark.asyncio
async def test_a_held_call_runs_when_released(api: BotApiServer, bot: Bot) -> None:
    hold = api.hold_next("sendMessage", when=lambda params: params.get("text") == "held")
    held = asyncio.create_task(bot.send_message(USER, "held"))
    assert await asyncio.to_thread(hold.arrived.wait, 10)
    await bot.send_message(USER, "free")  # other calls pass meanwhile
    assert [m.text for m in api.messages(USER)] == ["free"]
    hold.release()
    await held
    assert [m.text for m in api.messages(USER)] == ["free", "held"]
    again = api.hold_next("sendMessage")
    held = asyncio.create_task(bot.send_message(USER, "again"))
    assert await asyncio.to_thread(again.arrived.wait, 10)
    api.clear_faults()  # releases what is held too
    await held
    assert [m.text for m in api.messages(USER)] == ["free", "held", "again"]


@pytest.mark.asyncio
async def test_outage_and_down_up(api: BotApiServer, bot: Bot) -> None:
    api.outage(2)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()
    deadline = time.monotonic() + 10
    while True:  # the outage ends by itself
        try:
            await bot.get_me()
            break
        except NetworkError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.to_thread(api.wait_polling, 10)
    api.down()
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await poll  # an in-flight long poll fails too
    api.up()
    api.send_text(USER, "back")
    assert len(await bot.get_updates()) == 1
    assert [c.status for c in api.calls if c.method == "getUpdates"] == [502, 200]


@pytest.mark.asyncio
async def test_delay_next_triggers_client_timeout_but_still_executes(api: BotApiServer, bot: Bot) -> None:
    api.delay_next("sendMessage", 0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.1)
    sent = await api.await_reply(USER, timeout=2)
    assert sent.text == "slow"  # the message went out although the client gave up


def test_wait_for_times_out_with_recent_calls_and_sync_use() -> None:
    with BotApiServer(token=TOKEN) as api:
        api.add_user(USER)
        httpx.post(f"{api.base_url}{TOKEN}/sendMessage", data={"chat_id": USER, "text": "a"})
        api.mark()
        with pytest.raises(TimeoutError, match="sendMessage -> 200"):
            api.wait_for("sendMessage", timeout=0.1)
        threading.Timer(
            0.1, httpx.post, (f"{api.base_url}{TOKEN}/sendMessage",), {"data": {"chat_id": USER, "text": "b"}}
        ).start()
        assert api.wait_reply(USER, timeout=3).text == "b"
        assert api.wait_for("sendMessage")[0].params["text"] == "b"


@pytest.mark.asyncio
async def test_webhook_mode_and_undelivered_updates(api: BotApiServer, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)HTTPS"):
        await bot.set_webhook("http://example.test/hook")
    assert await bot.set_webhook("https://example.test/hook", secret_token="s3cret")
    assert api.webhook["secret_token"] == "s3cret"
    assert (await bot.get_webhook_info()).url == "https://example.test/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    update_id = api.send_text(USER, "via webhook", deliver=False)
    update = Update.de_json(api.get_update(update_id), bot)
    assert update.message and update.message.text == "via webhook"
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()  # never queued for polling


@pytest.mark.asyncio
async def test_commands_chat_action_close(bot: Bot) -> None:
    assert await bot.set_my_commands([("start", "はじめる"), ("help", "ヘルプ")])
    assert await bot.set_my_commands([("start", "Start")], language_code="en")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.description for c in await bot.get_my_commands(language_code="en")] == ["Start"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start-Now", "bad")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.send_chat_action(USER, "typing")
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(USER, "dancing")
    assert await bot.close() and await bot.log_out()


@pytest.mark.asyncio
async def test_real_application_polls_and_replies(api: BotApiServer) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message and update.effective_message.text
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message
        await update.effective_message.reply_html("<b>ようこそ</b>", reply_markup=keyboard("go"))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"pressed {update.callback_query.data}")

    app = Application.builder().token(TOKEN).base_url(api.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater
        await app.updater.start_polling(poll_interval=0)
        api.send_text(USER, "ごみの日は？")
        assert (await api.await_reply(USER, timeout=5)).text == "echo: ごみの日は？"
        api.send_command(USER, "/start")
        welcome = await api.await_reply(USER, timeout=5)
        assert (welcome.plain_text, welcome.callback_data) == ("ようこそ", ["go"])
        api.press_button(USER, welcome.message_id, "go")
        await api.await_for("editMessageText", timeout=5)
        assert api.messages(USER)[-1].text == "pressed go"
        await app.updater.stop()
        await app.stop()
    last_poll = [c for c in api.calls if c.method == "getUpdates"][-1]
    assert last_poll.params["offset"] == 4  # shutdown confirmed every update it handled


def test_bot_in_a_subprocess_reaches_the_server() -> None:
    with BotApiServer(token=TOKEN) as api:
        api.add_user(USER)
        script = (
            "import asyncio, sys; from telegram import Bot\n"
            "async def main():\n"
            "    async with Bot(sys.argv[1], base_url=sys.argv[2]) as bot:\n"
            "        await bot.send_message(42, 'from another process')\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", script, TOKEN, api.base_url], check=True, timeout=30)
        assert api.wait_reply(USER, timeout=1).text == "from another process"
