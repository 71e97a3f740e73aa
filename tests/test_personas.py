"""Four residents hold a conversation with the real bot (`python -m bot run`) over the local Bot API.

Each script is what such a resident typed when the product was tried: a young parent, an
older person living alone who types in kana, a foreign resident writing English, and a
high-school student using slang. Every reply is asserted as the resident sees it.
"""

from __future__ import annotations

import pytest

from tests.botapi import BotApiServer, SentMessage

CITY_PHONE = "048-463-1111"


class Resident:
    """One resident in a private chat, with the language their Telegram app reports."""

    def __init__(self, api: BotApiServer, user_id: int, language: str = "ja") -> None:
        self.api, self.user_id, self.language = api, user_id, language

    def say(self, text: str) -> SentMessage:
        self.api.mark()
        self.api.send_text(self.user_id, text, language_code=self.language)
        return self.api.wait_reply(self.user_id)

    def press(self, message: SentMessage, data: str) -> SentMessage:
        """Press a button that opens a new message, and return that message."""
        self.api.mark()
        self.api.press_button(self.user_id, message.message_id, data)
        return self.api.wait_reply(self.user_id)

    def current(self, message: SentMessage) -> SentMessage:
        return next(m for m in self.api.messages(self.user_id) if m.message_id == message.message_id)


def rated(message: SentMessage) -> bool:
    return any(data.startswith("f:") for data in message.callback_data)


def test_young_parent(api: BotApiServer) -> None:
    parent = Resident(api, 5001)
    hello = parent.say("こんにちは")
    assert "なんでも聞いてください" in hello.plain_text and "保育園が足りない" in hello.plain_text
    assert not rated(hello)

    answer = parent.say("保育園が足りない")
    assert answer.plain_text.startswith("見つけた理由：「保育園」→「")
    assert answer.plain_text.count("幼児期等の教育と保育の充実") == 1
    assert f"▶ 朝霞市役所（代表） {CITY_PHONE}" in answer.plain_text
    assert "※施策＝市の取り組み、目指す姿＝めざすまちの姿" in answer.plain_text
    assert "d:2-2-4" in answer.callback_data and rated(answer)

    # The search found nothing else close to 保育園: no far-fetched school measure.
    more = parent.say("他には？")
    assert more.plain_text.startswith("前の質問に関係する施策は、これで全部です") and not rated(more)

    detail = parent.say("もっと詳しく")
    assert detail.plain_text.startswith("この施策の全文です") and "出典" in detail.plain_text
    assert "※施策" not in detail.plain_text  # explained once per conversation

    procedure = parent.say("保育園の申し込みはどこでするの？")
    assert procedure.plain_text.startswith("総合計画は市の方針を定める計画で、手続き")
    assert CITY_PHONE in procedure.plain_text

    elderly = parent.say("じゃあ高齢者は？")
    assert "誰もが地域で暮らし続けられるための支援の充実" in elderly.plain_text

    thanks = parent.say("ありがとうございました。たすかりました")
    assert thanks.plain_text.startswith("どういたしまして") and not rated(thanks)


def test_older_person_typing_kana(api: BotApiServer) -> None:
    elder = Resident(api, 5002)
    assert "なんでも聞いてください" in elder.say("こんにちは").plain_text

    quake = elder.say("じしんがきたらどこへにげればいいのでしょうか")
    assert quake.plain_text.startswith("総合計画は市の方針を定める計画で")
    assert CITY_PHONE in quake.plain_text
    assert any(data.startswith("o:1-1-") for data in quake.callback_data)  # the disaster measures
    card = elder.press(quake, next(d for d in quake.callback_data if d.startswith("o:1-1-")))
    assert "第1章 災害対策・防犯" in card.plain_text
    assert elder.current(quake).plain_text == quake.plain_text and rated(elder.current(quake))

    garbage = elder.say("ごみのだしかたをおしえて")
    assert "第4章" in garbage.plain_text and "ごみ" in garbage.plain_text

    thanks = elder.say("ありがとうございました。たすかりました")
    assert thanks.plain_text.startswith("どういたしまして")
    assert "見つかりませんでした" not in thanks.plain_text


def test_foreign_resident_in_english(api: BotApiServer) -> None:
    resident = Resident(api, 5003, language="en")
    welcome = resident.say("/start")
    assert welcome.plain_text.startswith("Hello! I answer questions about Asaka City's Comprehensive Plan.")
    labels = [b["text"] for row in (welcome.reply_markup or {})["inline_keyboard"] for b in row]
    assert labels[0].startswith("Chapter 1")

    assert resident.say("Hello").plain_text.startswith("Hello! Ask me anything")
    assert resident.say("Who are you?").plain_text.startswith("I am a bot")

    clothes = resident.say("How do I recycle old clothes?")  # "Where can I…" asks a place: related
    text = clothes.plain_text
    assert text.startswith("Plan text in Japanese (titles translated).")
    assert "Chapter 4 ›" in text and f"Ask: 朝霞市役所 {CITY_PHONE}" in text
    buttons = [b["text"] for row in (clothes.reply_markup or {})["inline_keyboard"] for b in row]
    assert "Goals and details" in buttons and "👍 Helpful" in buttons

    only = resident.say("What else?")  # the plan has one measure on recycling clothes
    assert only.plain_text.startswith("That was every related measure.")

    quake = resident.say("disaster preparedness")
    assert "Chapter 1 ›" in quake.plain_text
    more = resident.say("What else?")
    assert more.plain_text.startswith("Another related measure.") and "Chapter 1 ›" in more.plain_text
    detail = resident.say("more detail")
    assert detail.plain_text.startswith("The whole measure.")

    help_text = resident.say("/help").plain_text
    assert help_text.startswith("How to use") and "What else?" in help_text


def test_high_school_student_with_slang(api: BotApiServer) -> None:
    student = Resident(api, 5004)
    abilities = student.say("やば、このボットなにできるん？")
    assert abilities.plain_text.startswith("市がこれから何に取り組むか") and not rated(abilities)

    dark = student.say("部活の帰り道が暗くてこわいんだけど")
    assert "防犯のまちづくりの推進" in dark.plain_text and rated(dark)

    parks = student.say("じゃあ公園は？")
    assert "第5章 都市基盤・産業振興 › 3 みどり・景観" in parks.plain_text

    assert student.say("すごいね").plain_text.startswith("ありがとうございます")
    complaint = student.say("使えないなー")
    assert "👎" in complaint.plain_text and not rated(complaint)


def test_browse_buttons_under_an_answer_keep_the_answer(api: BotApiServer) -> None:
    resident = Resident(api, 5005)
    declined = resident.say("将棋の駒の動かし方教えて")
    assert "見つかりませんでした" in declined.plain_text and rated(declined)
    chapter = resident.press(declined, "c:2")
    assert chapter.message_id != declined.message_id
    assert "第2章 福祉・こども・健康" in chapter.plain_text
    kept = resident.current(declined)
    assert kept.plain_text == declined.plain_text and rated(kept)
    # Inside the browser, steps replace each other in one message.
    resident.api.mark()
    resident.api.press_button(resident.user_id, chapter.message_id, "mm:2-2")
    resident.api.wait_for("editMessageText")
    assert "こどもまんなか社会" in resident.current(chapter).plain_text


@pytest.mark.parametrize("text", ["他には？", "What else?"])
def test_a_follow_up_with_no_answer_before_it_gets_a_prompt(api: BotApiServer, text: str) -> None:
    reply = Resident(api, 5100 + len(text)).say(text)
    assert "30" in reply.plain_text and "見つかりませんでした" not in reply.plain_text
