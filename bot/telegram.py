"""The Telegram front door: handlers and Application wiring (no search logic here).

Handlers are thin: they ask `PlanService` for an answer, render it with
`bot.answer`, reply, and only then hand the exchange to the answer log.
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

from index import Chapter, Grade, Located, Plan

from .answer import (
    about_lines,
    answer_lines,
    browse_prompt_lines,
    candidates,
    card_lines,
    chapter_lines,
    help_lines,
    measure_lines,
    render_html,
    welcome_lines,
)
from .callback_data import (
    Action,
    BrowseAction,
    ChapterMenu,
    ChapterView,
    FeedbackPress,
    MeasureView,
    MiddleView,
    OpenCard,
    encode,
    parse,
)
from .config import Settings
from .errors import ConfigError
from .reports import LOCAL_TZ, LogFilter, compute_stats, list_exchanges
from .service import Answered, PlanService
from .update_journal import JournaledQueue, JournaledUpdateProcessor, UpdateJournal, exchange_uid

__all__ = ["RetryingRateLimiter", "build_application", "start_services", "stop_services"]

logger = logging.getLogger(__name__)

BUTTON_TEXT_LIMIT = 40
APOLOGY = "申し訳ありません。回答の準備中にエラーが起きました。少し時間をおいて、もう一度お試しください。"
NOT_TEXT = "申し訳ありません。文字で送られた質問にだけお答えできます。知りたいことを文字で送ってください。"
EDITED = "メッセージの編集には対応していません。お手数ですが、質問をもう一度送ってください。"
EMPTY = "知りたいことを文字で送ってください（例：「保育園が足りない」）。"
UNKNOWN_COMMAND = "そのコマンドはありません。/help で使い方をご覧ください。"
STALE = "この項目は計画の改訂で変わりました。章の一覧からお探しください。"

PUBLIC_COMMANDS = (
    BotCommand("start", "はじめに・質問の例"),
    BotCommand("chapters", "計画の章から施策をたどる"),
    BotCommand("about", "総合計画とは"),
    BotCommand("help", "使い方"),
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


def _short(text: str) -> str:
    return text if len(text) <= BUTTON_TEXT_LIMIT else text[: BUTTON_TEXT_LIMIT - 1] + "…"


def _button(text: str, action: Action) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(action))


def _feedback_row(uid: str) -> list[InlineKeyboardButton]:
    return [
        _button("👍 役に立った", FeedbackPress(True, uid)),
        _button("👎 役に立たなかった", FeedbackPress(False, uid)),
    ]


def _chapter_buttons(plan: Plan) -> list[list[InlineKeyboardButton]]:
    return [[_button(_short(c.label), ChapterView(c.number))] for c in plan.chapters]


def _measure_buttons(chapter: Chapter) -> list[list[InlineKeyboardButton]]:
    return [[_button(_short(m.label), MeasureView(chapter.number, m.number))] for m in chapter.measures]


def answer_keyboard(answered: Answered) -> InlineKeyboardMarkup:
    """Candidates (もしかして) or the field's measures, or the chapter menu; then 👍/👎."""
    result, plan = answered.result, answered.bundle.plan
    rows: list[list[InlineKeyboardButton]] = []
    if result.grade is Grade.NONE:
        rows = _chapter_buttons(plan)
    elif result.grade is Grade.RELATED:
        rows = [[InlineKeyboardButton(_short(h.title), callback_data=f"o:{h.id}")] for h in result.hits[:3]]
    elif result.field is not None and result.field.measure is None:
        chapter = result.field.chapter
        rows = _measure_buttons(chapter)
    else:
        others = result.hits if result.field is not None else candidates(result)
        rows = [[_button(_short(f"もしかして：{h.title}"), OpenCard(h.id))] for h in others]
    return InlineKeyboardMarkup([*rows, _feedback_row(answered.uid)])


def reply_html(answered: Answered) -> str:
    return render_html(answer_lines(answered.bundle.plan, answered.result))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome: what the bot does, example questions and the chapter menu."""
    plan = _service(context).bundle.plan
    await _message(update).reply_text(
        render_html(welcome_lines(plan)), reply_markup=InlineKeyboardMarkup(_chapter_buttons(plan))
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """How to ask."""
    await _message(update).reply_text(render_html(help_lines(_service(context).bundle.plan)))


async def about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What the comprehensive plan is and its period."""
    await _message(update).reply_text(render_html(about_lines(_service(context).bundle.plan)))


async def chapters(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chapter menu, browsed by editing this one message."""
    text, markup = _chapter_menu(_service(context).bundle.plan)
    await _message(update).reply_text(text, reply_markup=markup)


def _chapter_menu(plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    return render_html(browse_prompt_lines()), InlineKeyboardMarkup(_chapter_buttons(plan))


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident's question: answer from the plan, journal the exchange, then reply."""
    message = _message(update)
    text = message.text or ""
    if not text.strip():
        await message.reply_text(EMPTY)
        return
    user = update.effective_user
    if user is None:  # no sender (a channel post): nobody to answer
        return
    service = _service(context)
    uid = exchange_uid(context.bot.id, update.update_id)
    answered = service.answer("telegram", user.id, text, uid=uid)
    service.record(answered)  # journaled before the resident can see the reply
    await message.reply_text(reply_html(answered), reply_markup=answer_keyboard(answered))


async def not_text(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, locations …: a polite text-only reply."""
    await _message(update).reply_text(NOT_TEXT)


async def edited(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edited messages are not re-answered: answering twice would confuse the log."""
    await _message(update).reply_text(EDITED)


async def unknown_command(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    await _message(update).reply_text(UNKNOWN_COMMAND)


def _browse_view(plan: Plan, action: BrowseAction) -> tuple[str, InlineKeyboardMarkup]:
    """Text and buttons of one step of the chapter browser; KeyError or IndexError when stale."""
    match action:
        case ChapterMenu():
            return _chapter_menu(plan)
        case ChapterView(number):
            chapter = plan.chapter(number)
            buttons = [*_measure_buttons(chapter), [_button("← 章の一覧", ChapterMenu())]]
            return render_html(chapter_lines(chapter)), InlineKeyboardMarkup(buttons)
        case MeasureView(chapter_no, measure_no):
            chapter = plan.chapter(chapter_no)
            measure = chapter.measures[measure_no - 1]
            buttons = [
                [_button(_short(f"({m.number}) {m.title}"), MiddleView(m.id))] for m in measure.middles
            ]
            buttons.append([_button(f"← 第{chapter.number}章", ChapterView(chapter.number))])
            return render_html(measure_lines(chapter, measure)), InlineKeyboardMarkup(buttons)
        case MiddleView(id):
            located = plan.locate(id)
            back = MeasureView(located.chapter.number, located.measure.number)
            markup = InlineKeyboardMarkup([[_button(f"← {_short(located.measure.title)}", back)]])
            return render_html(card_lines(located)), markup


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every inline button the bot sent: what its data asks for (the handler's pattern parsed it)."""
    query = _query(update)
    match parse(query.data):
        case FeedbackPress() as press:
            await feedback(query, context, press)
        case OpenCard(id):
            await open_card(query, context, id)
        case ChapterMenu() | ChapterView() | MeasureView() | MiddleView() as step:
            await browse(query, context, step)


async def browse(query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, step: BrowseAction) -> None:
    """Chapter → major measures → middle measure cards, editing the message in place."""
    plan = _service(context).bundle.plan
    # CallbackQueries need to be answered, even if no notification to the user is needed.
    try:
        text, markup = _browse_view(plan, step)
    except (KeyError, IndexError):
        await query.answer(STALE)
        text, markup = _chapter_menu(plan)
    else:
        await query.answer()
    with contextlib.suppress(BadRequest):  # "message is not modified" when pressed twice
        await query.edit_message_text(text, reply_markup=markup)


async def open_card(query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, middle_id: str) -> None:
    """A 「もしかして」 candidate: its card as a new message, the answer stays as it was."""
    plan = _service(context).bundle.plan
    try:
        located: Located = plan.locate(middle_id)
    except KeyError:
        await query.answer(STALE)
        return
    await query.answer()
    # The answer may be too old for Telegram to hand back (an inaccessible message): send to the chat.
    if query.message is None:  # a button on an inline-mode message: no chat to send to
        return
    await context.bot.send_message(query.message.chat.id, render_html(card_lines(located)))


async def feedback(query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, press: FeedbackPress) -> None:
    """👍/👎: store the rating (a second press replaces it) and show which one counts."""
    _service(context).record_feedback("telegram", query.from_user.id, press.uid, press.helpful)
    await query.answer(
        "ご評価ありがとうございます。" if press.helpful else "ご意見ありがとうございます。改善に役立てます。"
    )
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
    """The latest declined questions (staff only), escaped: they are residents' raw text."""
    service = _service(context)

    def latest() -> Sequence[str]:
        with service.sessions() as session:
            rows = list_exchanges(session, LogFilter(unanswered=True), None, limit=10)
        return [f"• {row.local_time[5:16]} {html.escape(row.question[:100])}" for row in rows]

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
            await context.bot.send_message(update.effective_chat.id, APOLOGY, parse_mode=None)
        except TelegramError:
            logger.warning("could not send the apology for update %s", update_id)


async def start_services(application: Application) -> None:
    """Register commands and queue updates a stopped process left unhandled (polling and webhook alike)."""
    service: PlanService = application.bot_data["service"]
    bot = application.bot
    try:
        await bot.set_my_commands(PUBLIC_COMMANDS)
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
    # Staff commands only in a private chat: in a group they would post residents' questions there.
    staff = (
        filters.User(user_id=settings.staff_telegram_ids) & filters.ChatType.PRIVATE
        if settings.staff_telegram_ids
        else None
    )
    if staff is not None:
        application.add_handler(CommandHandler("stats", staff_stats, filters=staff))
        application.add_handler(CommandHandler("unanswered", staff_unanswered, filters=staff))
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("about", about))
    application.add_handler(CommandHandler("chapters", chapters))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, edited))
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.MESSAGE, question))
    # Service messages (someone joined, a pin) are not residents talking to the bot.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, not_text))
    application.add_handler(CallbackQueryHandler(on_button, pattern=lambda data: parse(data) is not None))
    application.add_error_handler(on_error)
    return application
