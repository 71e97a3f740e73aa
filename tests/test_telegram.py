"""The Telegram bot end to end: `python -m bot run` talking HTTP to a local Bot API test server.

Tests play residents: they ask, press buttons, browse chapters, send stickers and hostile
text, and check what the resident sees and what the answer log holds.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.store import Exchange, Feedback, make_engine, make_sessionmaker, pseudonym
from tests.botapi import BotApiServer, SentMessage
from tests.helpers import TEST_SALT, RunningBot, wait_logged

STAFF = 900001


class Resident:
    """One resident's chat with the bot."""

    def __init__(self, api: BotApiServer, user_id: int, language: str | None = "ja") -> None:
        self.api, self.user_id, self.language = api, user_id, language

    def say(self, text: str) -> SentMessage:
        self.api.mark()
        self.api.send_text(self.user_id, text, language_code=self.language)
        return self.api.wait_reply(self.user_id)

    def press(self, message: SentMessage, data: str) -> None:
        self.api.mark()
        self.api.press_button(self.user_id, message.message_id, data)
        self.api.wait_for("answerCallbackQuery")

    def current(self, message: SentMessage) -> SentMessage:
        return next(m for m in self.api.messages(self.user_id) if m.message_id == message.message_id)

    def button_texts(self, message: SentMessage) -> list[str]:
        """The labels on the message's keyboard as the resident sees it now."""
        markup = self.current(message).reply_markup
        assert markup is not None
        return [b["text"] for row in markup["inline_keyboard"] for b in row]


@pytest.fixture(scope="module")
def bot_extra_env() -> dict[str, str]:
    return {"STAFF_TELEGRAM_IDS": str(STAFF)}


_next_user = iter(range(1000, 2000))


@pytest.fixture
def resident(api: BotApiServer) -> Resident:
    return Resident(api, next(_next_user))


def test_commands_are_registered_at_start_up(api: BotApiServer) -> None:
    calls = [c for c in api.calls if c.method == "setMyCommands"]
    public = next(c for c in calls if "scope" not in c.params)
    assert [c["command"] for c in public.params["commands"]] == ["start", "chapters", "about", "help"]
    staff = next(c for c in calls if "scope" in c.params)
    assert staff.params["scope"] == {"type": "chat", "chat_id": STAFF}
    assert {"stats", "unanswered"} <= {c["command"] for c in staff.params["commands"]}


def test_start_welcomes_with_examples_and_chapter_menu(resident: Resident) -> None:
    reply = resident.say("/start")
    assert "朝霞市の総合計画" in reply.plain_text
    assert "保育園が足りない" in reply.plain_text
    assert reply.callback_data == [f"c:{n}" for n in range(1, 7)]


def test_question_gets_the_measure_with_citation_items_and_goals(
    resident: Resident, running: RunningBot
) -> None:
    reply = resident.say("保育園が足りない")
    text = reply.plain_text
    assert "■ 幼児期等の教育と保育の充実" in text
    assert "第2章 福祉・こども・健康 › 2 こども・若者応援、子育て支援 › (4)\n" in text  # the title once
    assert "● 質の高い教育・保育の充実" in text
    assert "ライフスタイルに応じた子育て支援の充実 等" in text
    assert "◇ 目指す姿：全てのこども・若者が" in text
    assert "▶ 朝霞市役所（代表） 048-463-1111" in text
    assert reply.parse_mode == "HTML"
    assert reply.callback_data[0] == "d:2-2-4"
    assert [d[:4] for d in reply.callback_data[-2:]] == ["f:+:", "f:-:"]
    exchange = wait_logged(running.data_dir, "保育園が足りない")
    assert exchange.channel == "telegram" and exchange.answered
    # The pseudonym, never the id (tests/test_privacy.py searches everything kept for the id).
    assert exchange.user_key == pseudonym(TEST_SALT, "telegram", resident.user_id)


def test_candidate_button_opens_its_card(resident: Resident) -> None:
    reply = resident.say("ゴミの分別どうなるの？")
    candidate = next(d for d in reply.callback_data if d.startswith("o:"))
    resident.api.mark()
    resident.api.press_button(resident.user_id, reply.message_id, candidate)
    card = resident.api.wait_reply(resident.user_id)
    measure_id = candidate.removeprefix("o:")
    assert f"({measure_id.rsplit('-', 1)[1]})" in card.plain_text
    assert "第4章" in card.plain_text


def test_feedback_is_recorded_acknowledged_and_shown(resident: Resident, running: RunningBot) -> None:
    reply = resident.say("空き家")
    down = next(d for d in reply.callback_data if d.startswith("f:-:"))
    resident.press(reply, down)
    assert resident.api.wait_for("answerCallbackQuery")[0].params.get("text")
    resident.api.wait_for("editMessageReplyMarkup")
    buttons = resident.button_texts(reply)
    assert "👎 役に立たなかった ✓" in buttons
    up = next(d for d in reply.callback_data if d.startswith("f:+:"))
    resident.press(reply, up)
    resident.api.wait_for("editMessageReplyMarkup")
    buttons = resident.button_texts(reply)
    assert "👍 役に立った ✓" in buttons and "👎 役に立たなかった" in buttons
    uid = up.removeprefix("f:+:")
    sessions = make_sessionmaker(make_engine(f"sqlite:///{running.data_dir / 'planbot.sqlite3'}"))
    import time

    for _ in range(100):
        with sessions() as session:
            ratings = (
                session.execute(select(Feedback.helpful).join(Exchange).where(Exchange.uid == uid))
                .scalars()
                .all()
            )
        if ratings == [True]:
            break
        time.sleep(0.1)
    assert ratings == [True]


def test_declined_question_says_so_and_offers_chapters(resident: Resident) -> None:
    reply = resident.say("将棋の駒の動かし方教えて")
    assert "見つかりませんでした" in reply.plain_text and "048-463-1111" in reply.plain_text
    labels = [b["text"] for row in (reply.reply_markup or {})["inline_keyboard"] for b in row]
    assert labels[0] == "第1章 災害対策・防犯"  # the chapters, once: as buttons
    assert reply.callback_data[:6] == [f"c:{n}" for n in range(1, 7)]
    assert reply.callback_data[-2][:4] == "f:+:"
    assert "■" not in reply.plain_text  # no measure card: nothing invented


def test_english_question_gets_an_english_lead_whatever_the_app_language(
    api: BotApiServer, resident: Resident
) -> None:
    unset = Resident(api, next(_next_user), language=None)  # the app names no language: the words decide
    reply = unset.say("How do I recycle old clothes?")  # "Where can I…" asks a place: related
    assert reply.plain_text.startswith("Plan text in Japanese (titles translated).")
    assert "Chapter 4 ›" in reply.plain_text
    english = resident.say("How do I recycle old clothes?")  # an app set to Japanese: the words decide
    assert "Chapter 4 ›" in english.plain_text
    acronym = resident.say("SDGs")  # an acronym does not tell: the app's Japanese stays
    assert "Chapter" not in acronym.plain_text


def test_chapter_browser_walks_down_and_back(resident: Resident) -> None:
    menu = resident.say("/chapters")
    resident.press(menu, "c:2")
    resident.api.wait_for("editMessageText")
    assert "第2章 福祉・こども・健康" in resident.current(menu).plain_text
    resident.press(menu, "mm:2-2")
    resident.api.wait_for("editMessageText")
    assert "こどもまんなか社会" in resident.current(menu).plain_text
    resident.press(menu, "m:2-2-4")
    resident.api.wait_for("editMessageText")
    card = resident.current(menu)
    assert "幼児期等の教育と保育の充実" in card.plain_text
    assert card.callback_data == ["d:2-2-4", "mm:2-2"]
    resident.press(card, "mm:2-2")
    resident.api.wait_for("editMessageText")
    assert "m:2-2-1" in resident.current(menu).callback_data


def test_whole_field_question_lists_the_field(resident: Resident) -> None:
    reply = resident.say("第5章")
    assert "第5章 都市基盤・産業振興 の施策です" in reply.plain_text
    assert "(4) 都市農業の振興" in reply.plain_text
    assert len(reply.plain_text) <= 4096


@pytest.mark.parametrize(
    "send",
    [
        lambda api, user: api.send_sticker(user),
        lambda api, user: api.send_photo(user, caption="これ何？"),
        lambda api, user: api.send_voice(user),
        lambda api, user: api.send_location(user, 35.79, 139.59),
    ],
    ids=["sticker", "photo", "voice", "location"],
)
def test_non_text_gets_a_polite_text_only_reply(resident: Resident, send) -> None:
    resident.api.mark()
    send(resident.api, resident.user_id)
    reply = resident.api.wait_reply(resident.user_id)
    assert "文字で" in reply.plain_text


def test_edited_message_gets_a_polite_reply(resident: Resident) -> None:
    resident.say("公園")
    message_id = resident.api.get_update(resident.api.send_text(resident.user_id, "公園を"))["message"][
        "message_id"
    ]
    resident.api.wait_reply(resident.user_id)
    resident.api.mark()
    resident.api.edit_text(resident.user_id, message_id, "公園について")
    assert "編集" in resident.api.wait_reply(resident.user_id).plain_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script> & <b>保育園</b>", "幼児期等の教育と保育の充実"),
        ("🐈🐈🐈", "読み取れません"),
        ("   ", "文字で送ってください"),
        ("ｺﾞﾐ ＳＤＧｓ ＤＸ", "■"),
        ("空き家" * 3334, "1000文字までにして"),  # one limit in every channel, said as it is
        ("&amp; &lt; < > \" '", "048-463-1111"),  # declined, with the city's contact
    ],
    ids=["markup", "emoji", "blank", "half-full-width", "10000-chars", "entities"],
)
def test_hostile_or_odd_text_gets_a_sensible_reply(resident: Resident, text: str, expected: str) -> None:
    reply = resident.say(text)
    assert expected in reply.plain_text
    assert len(reply.plain_text) <= 4096


def test_staff_commands_exist_only_for_staff(
    api: BotApiServer, resident: Resident, running: RunningBot
) -> None:
    resident.say("将棋の駒の動かし方教えて")
    resident.say("囲碁のルールを知りたい 連絡先は090-1234-5678")
    # The log is written after the reply, by the bot's writer thread: staff read what it stored.
    wait_logged(running.data_dir, "将棋の駒の動かし方教えて")
    wait_logged(running.data_dir, "囲碁のルールを知りたい 連絡先は090-1234-5678")  # masked when shown
    staff = Resident(api, STAFF)
    stats = staff.say("/stats")
    assert "今日" in stats.plain_text and "今週" in stats.plain_text and "回答率" in stats.plain_text
    unanswered = staff.say("/unanswered")
    assert "将棋の駒の動かし方教えて" in unanswered.plain_text
    assert "〔電話番号〕" in unanswered.plain_text and "090-1234-5678" not in unanswered.plain_text
    assert "そのコマンドはありません" in resident.say("/stats").plain_text
    assert "そのコマンドはありません" in resident.say("/unanswered").plain_text


def test_staff_commands_do_not_post_questions_in_a_group(api: BotApiServer) -> None:
    api.mark()
    api.send_text(STAFF, "/unanswered", chat_id=-100777)
    assert "そのコマンドはありません" in api.wait_reply(-100777).plain_text


def test_the_token_never_reaches_the_logs(running: RunningBot) -> None:
    assert "123:ABC" not in running.process.output
