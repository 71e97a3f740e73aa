"""The Telegram front door: handlers and Application wiring (no conversation logic here).

Handlers are thin: they hand a resident's text or button to `bot.conversation`,
journal the exchange (so a reply a resident saw is never missing from the log), and
send the reply as HTML with an inline keyboard. Staff commands and 👍/👎 are Telegram's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from .answer import Language, render_html, say
from .callback_data import FeedbackPress, encode, parse
from .config import Settings
from .conversation import Conversation, Reply, Turn
from .errors import ConfigError
from .redact import mask
from .reports import LOCAL_TZ, LogFilter, compute_stats, list_exchanges
from .service import PlanService
from .update_journal import JournaledQueue, JournaledUpdateProcessor, UpdateJournal, exchange_uid

__all__ = ["RetryingRateLimiter", "build_application", "start_services", "stop_services"]

logger = logging.getLogger(__name__)


PUBLIC_COMMANDS = (
    BotCommand("start", "はじめに・質問の例"),
    BotCommand("chapters", "計画の章から施策をたどる"),
    BotCommand("about", "総合計画とは"),
    BotCommand("help", "使い方"),
)
PUBLIC_COMMANDS_EN = (
    BotCommand("start", "Welcome and example questions"),
    BotCommand("chapters", "Browse the plan by chapter"),
    BotCommand("about", "What the comprehensive plan is"),
    BotCommand("help", "How to use"),
)
STAFF_COMMANDS = (
    BotCommand("stats", "今日と今週の利用状況（職員用）"),
    BotCommand("unanswered", "最近の回答できなかった質問（職員用）"),
)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (flood limits, 429 retry_after) that also retries 5xx and timeouts with backoff.

    getUpdates is left alone: the updater has its own retry loop for long polling.
    """

    def __init__(self, *, attempts: int = 4, first_delay: float = 0.5) -> None:
        super().__init__(max_retries=3)
        self._attempts = attempts
        self._first_delay = first_delay

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        delay = self._first_delay
        for attempt in range(1, self._attempts + 1):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except BadRequest:
                raise
            except NetworkError as error:
                if endpoint == "getUpdates" or attempt == self._attempts:
                    raise
                logger.warning(
                    "%s failed (%s), retry %d in %.1fs", endpoint, type(error).__name__, attempt, delay
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def _service(context: ContextTypes.DEFAULT_TYPE) -> PlanService:
    return cast(PlanService, context.bot_data["service"])


def _message(update: Update) -> Message:
    """The message of a command or message update: the handler's filters guarantee there is one."""
    return cast(Message, update.effective_message)


def _query(update: Update) -> CallbackQuery:
    """The query of an update routed by a CallbackQueryHandler, which only accepts those."""
    return cast(CallbackQuery, update.callback_query)


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    return cast(Conversation, context.bot_data["conversation"])


def _language(update: Update) -> Language:
    """The resident's app language, for replies that are not conversation turns."""
    user = update.effective_user
    code = (user.language_code if user is not None else None) or ""
    return Language.EN if code.lower().startswith("en") else Language.JA


def _feedback_row(uid: str, language: Language) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(say(language, "helpful"), callback_data=encode(FeedbackPress(True, uid))),
        InlineKeyboardButton(say(language, "unhelpful"), callback_data=encode(FeedbackPress(False, uid))),
    ]


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons, then 👍/👎 for its exchange when it offers them."""
    rows = [
        [InlineKeyboardButton(b.label, callback_data=encode(b.action)) for b in row] for row in reply.buttons
    ]
    if reply.rating and reply.exchange is not None:
        rows.append(_feedback_row(reply.exchange.uid, reply.language))
    return InlineKeyboardMarkup(rows) if rows else None


async def converse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident's text, commands included: one conversation turn, its exchange journaled, the reply."""
    message, user = _message(update), update.effective_user
    if user is None:  # no sender (a channel post): nobody to answer
        return
    service, conversation = _service(context), _conversation(context)
    key = service.user_key("telegram", user.id)
    uid = exchange_uid(context.bot.id, update.update_id)
    turn = Turn("telegram", key, user.language_code, text=message.text or "", uid=uid)
    # The turn reads the resident's context from the database: off the event loop.
    reply = await asyncio.to_thread(conversation.reply, turn)
    conversation.record(reply)  # journaled before the resident can see the reply
    await message.reply_text(render_html(reply.lines()), reply_markup=_markup(reply))


async def not_text(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, locations …: a polite text-only reply."""
    await _message(update).reply_text(say(_language(update), "not_text"))


async def edited(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edited messages are not re-answered: answering twice would confuse the log."""
    await _message(update).reply_text(say(_language(update), "edited"))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every inline button the bot sent (the handler's pattern parsed its data)."""
    query = _query(update)
    action = parse(query.data)
    if isinstance(action, FeedbackPress):
        await feedback(query, context, action)
        return
    if action is None:
        return
    # CallbackQueries need to be answered, even if no notification to the user is needed.
    await query.answer()
    service, conversation = _service(context), _conversation(context)
    user = query.from_user
    turn = Turn("telegram", service.user_key("telegram", user.id), user.language_code, action=action)
    reply = await asyncio.to_thread(conversation.reply, turn)
    text, markup = render_html(reply.lines()), _markup(reply)
    # The answer may be too old for Telegram to hand back (an inaccessible message): no markup then.
    pressed = getattr(query.message, "reply_markup", None)
    if reply.navigation and pressed is not None and not _rated(pressed):
        # A step of the chapter browser replaces the browser message it was asked from …
        with contextlib.suppress(BadRequest):  # "message is not modified" when pressed twice
            await query.edit_message_text(text, reply_markup=markup)
        return
    # … while buttons under an answer open a new message, so the answer and its rating stay.
    if query.message is None:  # a button on an inline-mode message: no chat to send to
        return
    await context.bot.send_message(query.message.chat.id, text, reply_markup=markup)
    conversation.record(reply)


def _rated(markup: InlineKeyboardMarkup) -> bool:
    return any(
        isinstance(parse(b.callback_data), FeedbackPress) for row in markup.inline_keyboard for b in row
    )


async def feedback(query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, press: FeedbackPress) -> None:
    """👍/👎: store the rating (a second press replaces it) and show which one counts."""
    _service(context).record_feedback("telegram", query.from_user.id, press.uid, press.helpful)
    code = query.from_user.language_code or ""
    language = Language.EN if code.lower().startswith("en") else Language.JA
    await query.answer(say(language, "rated_up" if press.helpful else "rated_down"))
    markup = getattr(query.message, "reply_markup", None)  # None for messages too old to edit
    if markup is None:
        return
    rows = [
        [
            InlineKeyboardButton(_mark(button.text, pressed == press), callback_data=button.callback_data)
            if isinstance(pressed := parse(button.callback_data), FeedbackPress)
            else button
            for button in row
        ]
        for row in markup.inline_keyboard
    ]
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))


def _mark(text: str, chosen: bool) -> str:
    plain = text.removesuffix(" ✓")
    return f"{plain} ✓" if chosen else plain


async def staff_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Today and this week: exchanges, answered rate, feedback (staff only)."""
    service = _service(context)
    now = dt.datetime.now(LOCAL_TZ)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - dt.timedelta(days=today.weekday())

    def figures() -> list[str]:
        lines = []
        with service.sessions() as session:
            for name, since in (("今日", today), ("今週", week)):
                stats = compute_stats(session, LogFilter(since=since), None)
                lines.append(
                    f"<b>{name}</b>：{stats.exchanges}件、回答率 {stats.answered_rate:.0%}、"
                    f"👍 {stats.helpful} / 👎 {stats.unhelpful}"
                )
        return lines

    await _message(update).reply_text("\n".join(await asyncio.to_thread(figures)))


async def staff_unanswered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The latest declined questions (staff only), with personal details masked and escaped,
    as on the staff pages: they are residents' raw text."""
    service = _service(context)

    def latest() -> Sequence[str]:
        with service.sessions() as session:
            rows = list_exchanges(session, LogFilter(unanswered=True), None, limit=10)
        return [f"• {row.local_time[5:16]} {html.escape(mask(row.question)[:100])}" for row in rows]

    lines = await asyncio.to_thread(latest)
    await _message(update).reply_text(
        "<b>最近の回答できなかった質問</b>\n" + ("\n".join(lines) if lines else "ありません。")
    )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure first (no names or ids), then apologise to the resident."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            apology = say(_language(update), "apology")
            await context.bot.send_message(update.effective_chat.id, apology, parse_mode=None)
        except TelegramError:
            logger.warning("could not send the apology for update %s", update_id)


async def start_services(application: Application) -> None:
    """Register commands and queue updates a stopped process left unhandled (polling and webhook alike)."""
    service: PlanService = application.bot_data["service"]
    bot = application.bot
    try:
        await bot.set_my_commands(PUBLIC_COMMANDS)
        await bot.set_my_commands(PUBLIC_COMMANDS_EN, language_code="en")
        for staff_id in service.settings.staff_telegram_ids:
            with contextlib.suppress(BadRequest):  # staff who never opened the chat
                await bot.set_my_commands(
                    (*PUBLIC_COMMANDS, *STAFF_COMMANDS), scope=BotCommandScopeChat(staff_id)
                )
    except TelegramError:
        logger.warning("could not register the command list; carrying on", exc_info=True)
    if isinstance(application.update_queue, JournaledQueue):
        await application.update_queue.replay(application)


async def stop_services(application: Application) -> None:
    """After the last update was handled: release the update journal."""
    if isinstance(application.update_queue, JournaledQueue):
        application.update_queue.journal.close()


def build_application(settings: Settings, service: PlanService, *, webhook: bool = False) -> Application:
    """The bot as production runs it; tests build it the same way against a local Bot API."""
    if not settings.telegram_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(RetryingRateLimiter())
    )
    journal = UpdateJournal(settings.data_dir / "updates")
    builder = builder.update_queue(JournaledQueue(journal))
    builder = builder.concurrent_updates(JournaledUpdateProcessor(journal))
    builder = builder.updater(None) if webhook else builder.post_init(start_services).post_stop(stop_services)
    application = builder.build()
    application.bot_data["service"] = service
    application.bot_data["conversation"] = Conversation(service)
    # Staff commands only in a private chat: in a group they would post residents' questions there.
    staff = (
        filters.User(user_id=settings.staff_telegram_ids) & filters.ChatType.PRIVATE
        if settings.staff_telegram_ids
        else None
    )
    if staff is not None:
        application.add_handler(CommandHandler("stats", staff_stats, filters=staff))
        application.add_handler(CommandHandler("unanswered", staff_unanswered, filters=staff))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, edited))
    # Questions and the public commands alike: the conversation answers /start, /help, /about,
    # /chapters and any unknown command.
    application.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.MESSAGE, converse))
    # Service messages (someone joined, a pin) are not residents talking to the bot.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, not_text))
    application.add_handler(CallbackQueryHandler(on_button, pattern=lambda data: parse(data) is not None))
    application.add_error_handler(on_error)
    return application
