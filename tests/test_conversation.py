"""The conversation turn every channel shares: small talk, follow-ups, grades, next step, English.

`respond` is called with the real plan, index and tokenizer; `Conversation` with a real
PlanService on a SQLite file (and PostgreSQL where marked), so the follow-up context is
read back from the answer log as another process would.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, select

from bot.answer import LABEL_LIMIT, Language, render_plain
from bot.callback_data import FeedbackPress, TurnAction, encode, parse
from bot.context import CONTEXT_READERS, Context, Contexts
from bot.conversation import Conversation, Reply, Turn, respond
from bot.intents import Intent, classify
from bot.service import PlanService
from bot.store import Exchange
from index import PlanBundle
from tests.helpers import make_settings

QUESTION_SETS = (
    "tests/data/questions.jsonl",
    "tests/data/fresh_questions.jsonl",
    "tests/data/fresh2_questions.jsonl",
)
MEDIAN_CARD_AIM = 250
BUTTON_ROWS_AIM = 3


def _text(reply: Reply) -> str:
    return render_plain(reply.lines())


def _actions(reply: Reply) -> list[str]:
    return [encode(button.action) for row in reply.buttons for button in row]


def _turn(text: str = "", *, language: str | None = None, action: TurnAction | None = None) -> Turn:
    return Turn("console", "resident", language, text=text, action=action)


class Chat:
    """One resident talking to `respond`, the context carried from turn to turn as a channel would."""

    def __init__(self, bundle: PlanBundle, language: str | None = None) -> None:
        self.bundle, self.language = bundle, language
        self.context: Context | None = None

    def say(self, text: str) -> Reply:
        return self._turn(_turn(text, language=self.language))

    def press(self, data: str) -> Reply:
        action = parse(data)
        assert action is not None and not isinstance(action, FeedbackPress), data
        return self._turn(_turn(action=action, language=self.language))

    def _turn(self, turn: Turn) -> Reply:
        outcome = respond(self.bundle, turn, self.context)
        if outcome.context is not None:
            self.context = outcome.context
        return outcome.reply


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("こんにちは", Intent.GREETING),
        ("おはようございます！", Intent.GREETING),
        ("ありがとうございました。たすかりました", Intent.THANKS),
        ("Hello", Intent.GREETING),
        ("Thank you so much!", Intent.THANKS),
        ("さようなら", Intent.GOODBYE),
        ("あなたは誰ですか", Intent.IDENTITY),
        ("who are you?", Intent.IDENTITY),
        ("何ができるの？", Intent.ABILITIES),
        ("やば、このボットなにできるん？", Intent.ABILITIES),
        ("what can you do", Intent.ABILITIES),
        ("すごいね！便利", Intent.PRAISE),
        ("使えないなー", Intent.COMPLAINT),
        ("You are useless", Intent.COMPLAINT),
        ("それって具体的には？", Intent.DETAIL),
        ("もっと詳しく", Intent.DETAIL),
        ("more detail", Intent.DETAIL),
        ("他には？", Intent.MORE),
        ("ほかは", Intent.MORE),
        ("What else?", Intent.MORE),
        ("じゃあ高齢者は？", None),
        ("こんにちは、保育園について知りたい", None),
        ("保育園が足りない", None),
        ("recommend a ramen shop", None),
        ("🐈🐈🐈", None),
    ],
)
def test_small_talk_and_follow_ups_are_recognised_as_whole_messages(text: str, intent: Intent | None) -> None:
    assert classify(text) == intent


@pytest.mark.parametrize(
    "text", ["こんにちは", "ありがとうございました。たすかりました", "Hello", "すごいね"]
)
def test_small_talk_gets_a_warm_reply_with_examples_and_no_rating(bundle: PlanBundle, text: str) -> None:
    reply = Chat(bundle).say(text)
    assert reply.exchange is not None and reply.exchange.reason == "small_talk"
    assert not reply.rating and not reply.exchange.answered
    assert "見つかりませんでした" not in _text(reply) and "nothing" not in _text(reply)
    assert "保育園が足りない" in _text(reply) or "daycare" in _text(reply)
    assert reply.exchange.state is None  # small talk leaves the conversation where it was


def test_english_small_talk_is_answered_in_english(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("Hello")
    assert reply.language is Language.EN and _text(reply).startswith("Hello!")


def test_an_answer_says_why_shows_the_title_once_and_the_next_step(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("保育園が足りない")
    text = _text(reply)
    assert text.startswith("見つけた理由：「保育園」→「")  # the plan word as the search found it
    assert text.count("幼児期等の教育と保育の充実") == 1
    assert "◇ 目指す姿：全てのこども・若者が" in text
    assert "▶ 朝霞市役所（代表） 048-463-1111 ／ https://www.city.asaka.lg.jp/" in text
    assert "※施策＝市の取り組み、目指す姿＝めざすまちの姿" in text
    assert _actions(reply) == ["d:2-2-4"] and reply.rating


def test_the_explanation_comes_once_per_conversation(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    assert "※施策" in _text(chat.say("保育園が足りない"))
    assert "※施策" not in _text(chat.say("空き家"))


def test_what_else_shows_the_next_measure_and_detail_the_whole_card(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    first = chat.say("ゴミの分別どうなるの？")
    assert first.exchange is not None
    shown = first.exchange.hits[0].measure_id
    more = chat.say("他には？")
    assert "ほかに関係する施策です" in _text(more)
    assert more.exchange is not None and more.exchange.answered
    [next_hit] = more.exchange.hits
    assert next_hit.measure_id != shown
    detail = chat.say("それって具体的には？")
    located = bundle.plan.locate(next_hit.measure_id)
    text = _text(detail)
    assert all(goal in text for goal in located.measure.goals)  # every goal, uncut
    assert "出典" in text


def test_detail_button_opens_every_goal(bundle: PlanBundle) -> None:
    reply = Chat(bundle).press("d:2-2-4")
    goals = bundle.plan.locate("2-2-4").measure.goals
    assert all(goal in _text(reply) for goal in goals)


def test_a_short_new_topic_is_searched_on_its_own_words(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("保育園が足りない")
    reply = chat.say("じゃあ高齢者は？")
    assert reply.exchange is not None and reply.exchange.hits[0].measure_id == "2-1-3"
    assert "前の質問" not in _text(reply)


def test_a_short_procedure_question_leans_on_the_previous_topic(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("保育園が足りない")
    lead = render_plain(chat.say("申し込みは？").lead)
    assert lead.startswith("前の質問「保育園が足りない」と合わせて探しました。")
    assert "手続き" in lead and "048-463-1111" in lead


def test_an_emoji_after_an_answer_is_not_joined_to_it(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("保育園が足りない")
    reply = chat.say("😀😀😀")
    assert "前の質問" not in _text(reply) and not reply.cards
    assert reply.exchange is not None and reply.exchange.reason == "no_terms"
    assert not reply.exchange.answered and not reply.exchange.hits


@pytest.mark.parametrize("before", [None, "保育園が足りない"])
def test_a_complaint_gets_the_city_not_the_previous_topic_or_stray_measures(
    bundle: PlanBundle, before: str | None
) -> None:
    chat = Chat(bundle)
    if before is not None:
        chat.say(before)
    reply = chat.say("対応が遅すぎる、最悪")
    text = _text(reply)
    assert "前の質問" not in text and "保育" not in text and not reply.cards
    assert not [a for a in _actions(reply) if a.startswith("o:")]  # no unrelated measures
    assert "朝霞市役所（代表） 048-463-1111 ／ https://www.city.asaka.lg.jp/" in text
    assert reply.exchange is not None and reply.exchange.reason == "small_talk"
    if before is not None:  # the conversation goes on where it was
        assert chat.context is not None and chat.context.topic == before


def test_a_complaint_offers_the_measure_its_own_words_answer_to(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("保育園が足りない、最悪")
    assert render_plain(reply.lead).startswith("ご不便をおかけして")
    assert "048-463-1111" in render_plain(reply.lead) and not reply.cards
    assert _actions(reply) == ["o:2-2-4"]
    city = Chat(bundle).say("市役所の対応が遅すぎる、最悪")
    assert render_plain(city.lead).startswith("ご不便をおかけして") and not city.cards
    assert len(_actions(city)) <= 1
    question = Chat(bundle).say("公園のポイ捨てひどい。みんなでゴミ拾いとかしてる団体ない？")
    assert question.exchange is not None and question.exchange.answered  # a question, not a complaint
    assert "ご不便" not in _text(question)


def test_a_word_the_plan_never_uses_is_not_mixed_with_the_previous_topic(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("保育園が足りない")
    reply = chat.say("将棋は？")
    assert reply.exchange is not None and not reply.exchange.answered
    assert "保育" not in _text(reply)


@pytest.mark.parametrize("text", ["他には？", "What else?", "詳しく", "more detail"])
def test_a_follow_up_without_a_previous_answer_gets_a_prompt(bundle: PlanBundle, text: str) -> None:
    reply = Chat(bundle).say(text)
    assert "30" in _text(reply)  # says that follow-ups last 30 minutes
    assert "見つかりませんでした" not in _text(reply)
    # A prompt, not a failed question: kept out of the staff's unanswered list, and not rated.
    assert reply.exchange is not None and reply.exchange.reason == "small_talk"
    assert not reply.exchange.answered and not reply.rating


def test_what_else_offers_only_measures_close_to_the_answer(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("保育園が足りない")  # 2-2-4 scores far above every runner-up
    more = chat.say("他には？")
    assert "これで全部です" in _text(more) and not more.cards
    assert more.exchange is not None and more.exchange.reason == "small_talk"
    quake = Chat(bundle)
    first = quake.say("disaster preparedness")
    assert first.exchange is not None
    best, *others = bundle.index.search("disaster preparedness").hits
    close = [hit.id for hit in others if hit.score >= 0.25 * best.score]
    assert len(close) < len(others)  # the search found weaker ones too
    offered = []
    for _ in others:
        reply = quake.say("What else?")
        if reply.exchange is None or not reply.exchange.hits:
            break
        offered.append(reply.exchange.hits[0].measure_id)
    assert offered == close


def test_a_procedure_question_leads_with_the_plans_scope_and_the_route(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("保育園の申し込みはどこでするの？")
    lead = render_plain(reply.lead)
    assert lead.startswith("総合計画は市の方針を定める計画で、手続き")
    assert "048-463-1111" in lead


def test_related_measures_are_labelled_so_with_the_route_and_three_buttons(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("充実")  # a word half the plan uses: weak evidence
    lead = render_plain(reply.lead)
    assert lead.startswith("計画に直接の記載は見当たりませんが、関連しそうな施策です")
    assert "048-463-1111" in lead and not reply.cards
    assert 1 <= len(_actions(reply)) <= 3 and all(a.startswith("o:") for a in _actions(reply))
    kana = Chat(bundle).say("じしんがきたらどこへにげればいいのでしょうか")
    assert render_plain(kana.lead).startswith("総合計画は市の方針を定める計画で")
    assert any(a.startswith("o:1-1-") for a in _actions(kana))


@pytest.mark.parametrize(
    ("question", "lead"),
    [
        ("保育園の申し込みはいつから？", "総合計画は市の方針を定める計画で、手続き・日時・場所・料金など"),
        ("電話で相談したい", "計画に直接の記載は見当たりませんが"),
    ],
)
def test_a_related_answer_says_so_and_offers_measures_not_a_card(
    bundle: PlanBundle, question: str, lead: str
) -> None:
    result = bundle.index.search(question)
    reply = Chat(bundle).say(question)
    assert lead in render_plain(reply.lead) and "【関係しそうな施策】" in _text(reply)
    assert _actions(reply)[0] == f"o:{result.hits[0].id}"
    assert not reply.cards and "■" not in _text(reply)


def test_nothing_found_says_why_gives_the_city_and_the_chapters_once(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("将棋の駒の動かし方教えて")
    text = _text(reply)
    assert "見つかりませんでした" in text and "048-463-1111" in text
    assert "第1章" not in text  # the chapters are the buttons, not repeated in the text
    assert _actions(reply) == [f"c:{n}" for n in range(1, 7)]
    assert len(reply.buttons) <= BUTTON_ROWS_AIM


def test_english_resident_gets_english_words_and_titles(bundle: PlanBundle) -> None:
    reply = Chat(bundle, language="en").say("保育園")
    text = _text(reply)
    assert "Plan text in Japanese" in text
    assert "Early Childhood" in text or "childcare" in text.lower()
    assert "Ask: 朝霞市役所 048-463-1111" in text
    welcome = Chat(bundle, language="en").say("/start")
    assert _text(welcome).startswith("Hello!")
    assert welcome.buttons[0][0].label.startswith("Chapter 1")


@pytest.mark.parametrize("text", ["SDGs", "DX", "OK", "<script>alert(1)</script>空き家", "😀"])
def test_a_japanese_channel_keeps_japanese(bundle: PlanBundle, text: str) -> None:
    assert Chat(bundle, language="ja").say(text).language is Language.JA


def test_english_words_get_english_on_a_japanese_channel(bundle: PlanBundle) -> None:
    assert Chat(bundle, language="ja").say("Where can I recycle old clothes?").language is Language.EN


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("DX", Language.JA),
        ("OK", Language.JA),
        ("<script>alert(1)</script>空き家", Language.JA),
        ("daycare", Language.EN),
        ("Hello", Language.EN),
    ],
)
def test_without_a_channel_language_the_words_decide(
    bundle: PlanBundle, text: str, language: Language
) -> None:
    assert Chat(bundle).say(text).language is language


def test_an_acronym_keeps_the_conversations_language(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    chat.say("disaster preparedness")
    assert chat.say("DX").language is Language.EN


@pytest.mark.parametrize(
    ("question", "reason", "says"),
    [
        ("Tokorozawa daycare", "other_city", "Please ask the other city"),
        ("recommend a ramen shop near Asakadai station", "off_topic", "not recommend shops"),
        ("Where can we eat good sushi?", "off_topic", "not recommend shops"),
        ("Can you write a haiku about cherry blossoms?", "off_topic", "write texts"),
    ],
)
def test_other_cities_and_advice_are_declined_in_english(
    bundle: PlanBundle, question: str, reason: str, says: str
) -> None:
    reply = Chat(bundle).say(question)
    assert reply.exchange is not None and reply.exchange.reason == reason
    assert says in _text(reply) and "048-463-1111" in _text(reply) and not reply.cards


def test_english_shop_support_is_still_a_plan_question(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("Is there support for new shops in Asaka?")
    assert reply.exchange is not None and reply.exchange.answered


@pytest.mark.parametrize("question", ["第3章", "環境の計画を教えて", "ｺﾞﾐ"])
def test_a_whole_field_has_a_next_step(bundle: PlanBundle, question: str) -> None:
    reply = Chat(bundle).say(question)
    assert reply.exchange is not None and reply.exchange.reason == "field"
    assert "▶ 朝霞市役所（代表） 048-463-1111 ／ https://www.city.asaka.lg.jp/" in _text(reply)


def test_a_whole_field_offers_see_more_buttons(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("第5章")
    assert "【詳しく見る】" in _text(reply) and "もしかして" not in _text(reply)
    assert _actions(reply)[:2] == ["mm:5-1", "mm:5-2"]
    assert len(reply.buttons) <= BUTTON_ROWS_AIM


def test_candidates_are_few_with_short_labels_and_one_heading(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("ゴミの分別どうなるの？")
    opened = [a for a in _actions(reply) if a.startswith("o:")]
    assert 1 <= len(opened) <= 3
    assert _text(reply).count("もしかして") == 1
    assert all(len(b.label) <= LABEL_LIMIT for row in reply.buttons for b in row)


def test_browsing_walks_down_to_a_card_and_back(bundle: PlanBundle) -> None:
    chat = Chat(bundle)
    menu = chat.say("/chapters")
    assert menu.navigation and _actions(menu) == [f"c:{n}" for n in range(1, 7)]
    chapter = chat.press("c:2")
    assert "mm:2-2" in _actions(chapter) and _actions(chapter)[-1] == "c"
    measure = chat.press("mm:2-2")
    assert "こどもまんなか社会" in _text(measure) and "m:2-2-4" in _actions(measure)
    card = chat.press("m:2-2-4")
    assert "幼児期等の教育と保育の充実" in _text(card) and _actions(card) == ["d:2-2-4", "mm:2-2"]
    assert card.navigation and not card.rating
    stale = chat.press("m:9-9-9")
    assert "改訂" in _text(stale) and _actions(stale)[0] == "c:1"


def test_about_explains_the_plans_words(bundle: PlanBundle) -> None:
    text = _text(Chat(bundle).say("/about"))
    assert "※施策＝市の取り組み、目指す姿＝めざすまちの姿" in text and "※骨子＝計画の骨組み" in text


def test_unknown_commands_and_empty_messages_get_a_short_note(bundle: PlanBundle) -> None:
    assert "そのコマンドはありません" in _text(Chat(bundle).say("/stats"))
    assert "文字で送ってください" in _text(Chat(bundle).say("   "))


def test_reply_as_json_has_the_web_chats_shape(bundle: PlanBundle) -> None:
    reply = Chat(bundle).say("ゴミの分別どうなるの？")
    assert reply.exchange is not None
    data = json.loads(json.dumps(reply.as_json(), ensure_ascii=False))
    assert data["language"] == "ja" and data["rating"] == reply.exchange.uid
    assert data["cards"][0][0]["style"] == "note"  # why it matched comes first
    assert data["buttons"][-1][0] == {
        "label": "目指す姿・詳しく",
        "action": f"d:{reply.exchange.hits[0].measure_id}",
    }


def test_cards_stay_short_on_the_question_sets(bundle: PlanBundle) -> None:
    """The aim: a median reply of at most 250 characters and at most 3 rows of buttons besides 👍/👎."""
    lengths: list[int] = []
    for path in QUESTION_SETS:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            reply = Chat(bundle).say(json.loads(line)["q"])
            lengths.append(len(_text(reply)))
            assert len(reply.buttons) <= BUTTON_ROWS_AIM, line
    assert statistics.median(lengths) <= MEDIAN_CARD_AIM


def _shared_services(
    settings_a_dir: Path, settings_b_dir: Path, **env: str
) -> tuple[PlanService, PlanService]:
    return (
        PlanService.start(make_settings(settings_a_dir, **env)),
        PlanService.start(make_settings(settings_b_dir, **env)),
    )


def _follow_up_across_processes(first: PlanService, second: PlanService) -> None:
    key = first.user_key("telegram", 4242)
    one, two = Conversation(first), Conversation(second)
    # What is shared is read from the database; a reply gives up on it after a second, which a
    # loaded machine may take: here each waits for the read.
    one.contexts = Contexts(first.sessions, first.health, read_wait=30)
    two.contexts = Contexts(second.sessions, second.health, read_wait=30)
    answer = one.reply(Turn("telegram", key, text="ゴミの分別どうなるの？"))
    one.record(answer)
    assert first.log.flush()
    assert answer.exchange is not None
    more = two.reply(Turn("telegram", key, text="他には？"))
    assert "ほかに関係する施策です" in _text(more)
    assert more.exchange is not None
    assert more.exchange.hits[0].measure_id == answer.exchange.hits[1].measure_id
    # The second process answered last: the first one takes up from there.
    two.record(more)
    assert second.log.flush()
    detail = one.reply(Turn("telegram", key, text="詳しく"))
    assert "この施策の全文です" in _text(detail)
    assert detail.exchange is not None
    assert detail.exchange.hits[0].measure_id == more.exchange.hits[0].measure_id


def test_follow_up_context_is_shared_by_two_services_on_one_database(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = _shared_services(tmp_path / "a", tmp_path / "b", DATABASE_URL=database)
    try:
        _follow_up_across_processes(first, second)
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_follow_up_context_is_shared_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    from bot.store import upgrade

    upgrade(pg_database)
    first, second = _shared_services(tmp_path / "a", tmp_path / "b", DATABASE_URL=pg_database)
    try:
        _follow_up_across_processes(first, second)
    finally:
        first.close()
        second.close()


def test_context_older_than_thirty_minutes_is_forgotten(service: PlanService) -> None:
    conversation = Conversation(service)
    key = service.user_key("telegram", 7)
    answer = conversation.reply(Turn("telegram", key, text="ゴミの分別どうなるの？"))
    conversation.record(answer)
    assert service.log.flush()
    with service.sessions() as session, session.begin():
        for exchange in session.scalars(select(Exchange)):
            exchange.created_at -= dt.timedelta(minutes=31)
    fresh = Contexts(service.sessions, service.health)  # another process: nothing in its memory
    assert fresh.recall(key) is None
    assert "30" in _text(Conversation(service).reply(Turn("telegram", key, text="他には？")))


def test_context_reads_share_a_few_threads(service: PlanService) -> None:
    """A turn hands its context read to a shared reader instead of starting a thread of its own."""
    readers: set[threading.Thread] = set()

    def seen(*_args: object) -> None:
        if threading.current_thread().name.startswith("context-read"):
            readers.add(threading.current_thread())

    engine = service.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        contexts = Contexts(service.sessions, service.health)
        for n in range(3 * CONTEXT_READERS):
            assert contexts.recall(f"resident-{n}") is None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert 1 <= len(readers) <= CONTEXT_READERS


def test_a_stuck_database_delays_a_turn_by_the_read_wait_at_most(service: PlanService) -> None:
    """Every reader stuck in the database, and more reads queued: memory answers each turn."""
    release = threading.Event()
    ran: list[str] = []

    def stuck(*_args: object) -> None:
        if threading.current_thread().name.startswith("context-read"):
            ran.append(threading.current_thread().name)
            release.wait(10)

    engine = service.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", stuck)
    contexts = Contexts(service.sessions, service.health, read_wait=0.05)
    contexts.remember("resident", Context("ja", "保育園が足りない"))
    try:
        for _ in range(2 * CONTEXT_READERS):
            recalled = contexts.recall("resident")
            assert recalled is not None and recalled.topic == "保育園が足りない"
    finally:
        release.set()
    event.remove(engine, "before_cursor_execute", stuck)
    assert contexts.recall("someone else") is None  # the readers are free again
    assert len(ran) == CONTEXT_READERS  # the reads given up while queued never ran
