"""One turn of a conversation, for every channel: what to say, which buttons to offer, what to log.

A turn is a resident's message or button press (`Turn`: channel, pseudonymous user key,
language, text or a button's `TurnAction`); the reply (`Reply`) holds lead lines, cards,
notes, buttons with their actions, whether 👍/👎 is offered and the exchange to log.
Telegram, the console and the web chat only render a `Reply` (HTML, text, JSON) and post
back a button's action, encoded by `bot.callback_data`. Here live the decisions: small
talk, complaints, follow-ups on the resident's last answer (他には, 詳しく, a short new
topic), the grade of a search (answer, related, none), the next step, the language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from index import Grade, Hit, Located, PlanBundle, Reason, Route, SearchResult

from .answer import (
    BLANK,
    Language,
    Line,
    Style,
    about_lines,
    candidates,
    card_lines,
    chapter_lines,
    chapter_title,
    complaint_lines,
    declined_lines,
    field_lines,
    help_lines,
    measure_lines,
    measure_title,
    middle_title,
    quote,
    route_line,
    runners_up,
    say,
    short_label,
    small_talk_lines,
    source_note,
    welcome_lines,
    why_line,
    written_in,
)
from .answer_log import ExchangeRecord, new_uid
from .callback_data import (
    ChapterMenu,
    ChapterView,
    MeasureView,
    MiddleView,
    OpenCard,
    TurnAction,
    WholeCard,
    encode,
)
from .context import Context, Contexts
from .intents import Intent, classify, complains
from .service import MAX_QUESTION_CHARS, Answered, PlanService

__all__ = ["Button", "Conversation", "Outcome", "Reply", "Turn", "respond"]

# A message this short after an answer may lean on the previous topic (「じゃあ高齢者は？」).
SHORT_FOLLOW_UP = 15
BUTTONS_PER_ROW = 2
# A follow-up searched with the previous topic is kept only when that grades it higher.
_RANK = {Grade.NONE: 0, Grade.RELATED: 1, Grade.ANSWER: 2}


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: TurnAction


@dataclass(frozen=True, slots=True)
class Turn:
    """What a resident did: sent `text` or pressed a button with `action`."""

    channel: str
    user_key: str  # pseudonymous (see store.pseudonym), never a raw id
    language: str | None = None  # the channel's language code, e.g. Telegram's language_code
    text: str = ""
    action: TurnAction | None = None
    # Names the exchange when the channel may handle one message twice (Telegram after a
    # crash), so that the answer log keeps it once; None: a fresh id.
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What to show: renderers turn it into Telegram HTML, console text or JSON."""

    language: Language
    lead: tuple[Line, ...] = ()
    cards: tuple[tuple[Line, ...], ...] = ()
    notes: tuple[Line, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    rating: bool = False  # offer 👍/👎 for `exchange`
    exchange: ExchangeRecord | None = None  # to log after the reply is shown
    # A step of the chapter browser: it may replace a browser message it was asked from.
    navigation: bool = False

    def lines(self) -> list[Line]:
        lines: list[Line] = list(self.lead)
        for card in self.cards:
            if lines:
                lines.append(BLANK)
            lines += card
        if self.notes:
            if lines:
                lines.append(BLANK)
            lines += self.notes
        return lines

    def as_json(self) -> dict[str, object]:
        """The web chat's shape: text by part, buttons with the action to post back, the rating uid."""

        def texts(lines: tuple[Line, ...]) -> list[dict[str, str]]:
            return [{"style": line.style.value, "text": line.text} for line in lines]

        return {
            "language": self.language.value,
            "lead": texts(self.lead),
            "cards": [texts(card) for card in self.cards],
            "notes": texts(self.notes),
            "buttons": [
                [{"label": b.label, "action": encode(b.action)} for b in row] for row in self.buttons
            ],
            "rating": self.exchange.uid if self.rating and self.exchange else None,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """A reply and the resident's context after it (None: keep the one they had)."""

    reply: Reply
    context: Context | None = None


def _rows(buttons: list[Button], width: int = BUTTONS_PER_ROW) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def _language(turn: Turn, context: Context | None) -> Language:
    """English when the channel names English (Telegram's app language, the web page's) or the
    question is written in English words; else Japanese when either says so. A command, a button
    or a message that does not tell (「DX」, an emoji) keeps the resident's last answer's language."""
    code = (turn.language or "").lower()
    named = next((language for language in Language if code.startswith(language.value)), None)
    written = written_in(turn.text) if turn.text and not turn.text.startswith("/") else None
    if Language.EN in (named, written):
        return Language.EN
    if named is not None or written is not None:
        return Language.JA
    return Language(context.language) if context is not None else Language.JA


class _Turning:
    """One turn's work: the plan version, the resident's context and language, the exchange record."""

    def __init__(self, bundle: PlanBundle, turn: Turn, context: Context | None) -> None:
        self.bundle, self.plan, self.turn, self.context = bundle, bundle.plan, turn, context
        self.language = _language(turn, context)
        self.started = time.perf_counter()

    # --- the exchange to log -------------------------------------------------

    def exchange(
        self, question: str, reason: Reason, hits: tuple[Hit, ...], state: Context | None, *, answered: bool
    ) -> ExchangeRecord:
        """A turn that ran no search of its own (small talk, 他には, 詳しく), logged with what it showed."""
        grade = Grade.ANSWER if answered else Grade.NONE
        return self.logged(SearchResult(question=question, grade=grade, reason=reason, hits=hits), state)

    def chat(self, question: str) -> ExchangeRecord:
        """A turn that is not a question to the plan (small talk, a prompt, a complaint): logged as
        small talk, neither answered nor unanswered, and the conversation stays where it was."""
        return self.exchange(question, Reason.SMALL_TALK, (), None, answered=False)

    def logged(self, result: SearchResult, state: Context | None) -> ExchangeRecord:
        latency_ms = (time.perf_counter() - self.started) * 1000
        uid = self.turn.uid or new_uid()
        answered = Answered(uid, self.turn.channel, self.turn.user_key, result, self.bundle, latency_ms)
        return answered.log_record(state.as_json() if state is not None else None)

    # --- pieces ----------------------------------------------------------------

    def explained(self) -> bool:
        return self.context is not None and self.context.explained

    def notes(self, route: Route | None, *, source: bool = False) -> tuple[Line, ...]:
        """After the cards: where to go next, 施策／目指す姿 the first time, the source on whole texts."""
        notes: list[Line] = []
        if route is not None:
            notes.append(route_line(route, self.language))
        if not self.explained():
            notes.append(Line(Style.NOTE, say(self.language, "explain")))
        if source:
            notes.append(source_note(self.plan, self.language))
        return tuple(notes)

    def together(self, together: bool) -> tuple[Line, ...]:
        """Say so when a short message was searched with the previous question."""
        if not together or self.context is None:
            return ()
        return (Line(Style.LEAD, say(self.language, "together", topic=quote(self.context.topic))),)

    def english_note(self) -> tuple[Line, ...]:
        if self.language is Language.EN:
            return (Line(Style.LEAD, say(self.language, "japanese_note")),)
        return ()

    def open_button(self, located: Located) -> Button:
        return Button(short_label(middle_title(located.middle, self.language)), OpenCard(located.middle.id))

    def detail_button(self, located: Located) -> Button:
        return Button(say(self.language, "detail_button"), WholeCard(located.middle.id))

    def chapter_buttons(self) -> list[tuple[Button, ...]]:
        return _rows(
            [
                Button(short_label(chapter_title(c, self.language)), ChapterView(c.number))
                for c in self.plan.chapters
            ]
        )

    def new_context(self, topic: str, shown: tuple[str, ...], pending: tuple[str, ...]) -> Context:
        return Context(
            language=self.language.value,
            topic=topic,
            shown=shown,
            pending=pending,
            focus=shown[0] if shown else (pending[0] if pending else None),
            explained=True,
        )

    # --- a card ------------------------------------------------------------------

    def card(self, located: Located, *, full: bool = False, lead: tuple[Line, ...] = ()) -> Reply:
        """One measure's card (a candidate, 詳しく, the browser's leaf) with its next step."""
        buttons = [] if full else [(self.detail_button(located),)]
        return Reply(
            self.language,
            lead=(*lead, *self.english_note()),
            cards=(tuple(card_lines(located, self.language, full=full)),),
            notes=self.notes(self.plan.route(located.middle.id), source=full),
            buttons=tuple(buttons),
        )

    def shown(self, measure_id: str) -> Context:
        """The context after a card was opened by a button (this process remembers it)."""
        if self.context is None:
            return self.new_context("", (measure_id,), ())
        return replace(self.context.showing(measure_id), explained=True)


def respond(bundle: PlanBundle, turn: Turn, context: Context | None) -> Outcome:
    """The reply to one turn, given the resident's context (None: no answer in the last 30 minutes)."""
    turning = _Turning(bundle, turn, context)
    if turn.action is not None:
        return _act(turning, turn.action)
    text = turn.text.strip()
    if not text:
        return Outcome(Reply(turning.language, lead=(Line(Style.LEAD, say(turning.language, "empty")),)))
    if len(text) > MAX_QUESTION_CHARS:  # every channel's one limit, said as it is
        limit = say(turning.language, "too_long", limit=str(MAX_QUESTION_CHARS))
        return Outcome(Reply(turning.language, lead=(Line(Style.LEAD, limit),)))
    if text.startswith("/"):
        return _command(turning, text)
    intent = classify(text)
    if intent is not None and intent.small_talk:
        reply = Reply(
            turning.language,
            lead=tuple(small_talk_lines(intent.value, turning.language)),
            exchange=turning.chat(text),
        )
        return Outcome(reply)
    if intent is Intent.MORE and context is not None:
        return _more(turning, text, context)
    if intent is Intent.DETAIL and context is not None and context.focus is not None:
        return _detail(turning, text, context.focus)
    return _question(turning, text, follow_up=intent is not None, complaint=complains(text))


def _command(turning: _Turning, text: str) -> Outcome:
    name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
    language, plan = turning.language, turning.plan
    if name == "start":
        return Outcome(
            Reply(
                language, lead=tuple(welcome_lines(plan, language)), buttons=tuple(turning.chapter_buttons())
            )
        )
    if name == "help":
        return Outcome(
            Reply(language, lead=tuple(help_lines(language, console=turning.turn.channel == "console")))
        )
    if name == "about":
        return Outcome(Reply(language, lead=tuple(about_lines(plan, language))))
    if name == "chapters":
        return _act(turning, ChapterMenu())
    return Outcome(Reply(language, lead=(Line(Style.LEAD, say(language, "unknown_command")),)))


def _question(turning: _Turning, text: str, *, follow_up: bool, complaint: bool) -> Outcome:
    """Search the message; a short one after an answer leans on the previous topic if it must.

    A message ending in a complaint (「対応が遅すぎる、最悪」) is about the city, not the previous
    topic: see `_complaint`.
    """
    index, context = turning.bundle.index, turning.context
    result = index.search(text)
    if complaint:
        return _complaint(turning, result)
    together = False
    # A message too weak on its own leans on the previous topic when that grades it higher; one
    # that found nothing on its own (words the plan never uses, or none: an emoji) must then still
    # count (「申し込みは？」 asks the procedure of the topic, 「将棋は？」 is a new question and is
    # declined as one).
    if (
        result.grade is not Grade.ANSWER
        and result.reason not in (Reason.OFF_TOPIC, Reason.OTHER_CITY)
        and context is not None
        and context.topic
        and len(text) <= SHORT_FOLLOW_UP
    ):
        combined = index.search(f"{context.topic} {text}")
        counts = result.grade is Grade.RELATED or combined.asks_procedure or _uses(combined, text)
        if _RANK[combined.grade] > _RANK[result.grade] and counts:
            result, together = replace(combined, question=text), True
    language = turning.language
    if result.grade is Grade.NONE and follow_up:  # 「他には？」 with nothing before it: a prompt
        prompt = (Line(Style.LEAD, say(language, "no_context")),)
        chapters = tuple(turning.chapter_buttons())
        return Outcome(Reply(language, lead=prompt, buttons=chapters, exchange=turning.chat(text)))
    if result.grade is Grade.NONE:
        reply = Reply(
            language,
            lead=tuple(declined_lines(turning.plan, result, language)),
            buttons=tuple(turning.chapter_buttons()),
            rating=True,
            exchange=turning.logged(result, None),
        )
        return Outcome(reply)
    if result.grade is Grade.RELATED:
        return _related(turning, result, together=together)
    if result.field is not None:
        return _field(turning, result)
    return _answer(turning, result, together=together)


def _complaint(turning: _Turning, result: SearchResult) -> Outcome:
    """A complaint is for the city to hear: its contact first. The plan's measure is offered as a
    button, and only when the complaint's own words find an answer (「保育園が足りない、最悪」);
    related measures would be stray ones (「対応」 is in a school measure)."""
    language = turning.language
    offer = result.grade is Grade.ANSWER
    reply = Reply(
        language,
        lead=tuple(complaint_lines(turning.plan, language)),
        notes=(Line(Style.LABEL, say(language, "related_heading")),) if offer else (),
        buttons=((turning.open_button(result.hits[0].located),),) if offer else (),
        exchange=turning.chat(result.question),
    )
    return Outcome(reply)


def _uses(result: SearchResult, text: str) -> bool:
    """Whether the best measure matched a word of `text` (not only the topic's)."""
    return bool(result.hits) and any(match.question_word in text for match in result.hits[0].matched)


def _answer(turning: _Turning, result: SearchResult, *, together: bool) -> Outcome:
    best = result.hits[0]
    language = turning.language
    lead: list[Line] = [*turning.english_note(), *turning.together(together)]
    procedure = result.asks_procedure
    if procedure:
        lead += [
            Line(Style.LEAD, say(language, "procedure")),
            route_line(turning.plan.route(best.id), language),
        ]
    why = why_line(best, language)
    card = ((why,) if why is not None else ()) + tuple(card_lines(best.located, language))
    others = candidates(result)
    notes = list(turning.notes(None if procedure else turning.plan.route(best.id)))
    buttons: list[tuple[Button, ...]] = []
    if others:  # under their heading, which ends the text
        notes.append(Line(Style.LABEL, say(language, "maybe")))
        buttons += _rows([turning.open_button(hit.located) for hit in others])
    buttons.append((turning.detail_button(best.located),))
    # A short follow-up that leaned on the topic carries it on (「じゃあ高齢者は？」 → 「他には？」).
    context = turning.context
    topic = f"{context.topic} {result.question}" if together and context is not None else result.question
    state = turning.new_context(topic, (best.id,), tuple(h.id for h in runners_up(result)))
    reply = Reply(
        language,
        lead=tuple(lead),
        cards=(card,),
        notes=tuple(notes),
        buttons=tuple(buttons),
        rating=True,
        exchange=turning.logged(result, state),
    )
    return Outcome(reply, state)


def _related(turning: _Turning, result: SearchResult, *, together: bool) -> Outcome:
    """The plan does not hold what was asked, but these measures touch it: say so, then the route."""
    language = turning.language
    best = result.hits[0]
    key = "procedure" if result.reason is Reason.PROCEDURE or result.asks_procedure else "related"
    lead = (
        *turning.english_note(),
        *turning.together(together),
        Line(Style.LEAD, say(language, key)),
        route_line(turning.plan.route(best.id), language),
    )
    hits = result.hits[:3]
    offered = (best, *runners_up(result))
    state = turning.new_context(result.question, (), tuple(h.id for h in offered))
    reply = Reply(
        language,
        lead=lead,
        notes=(*turning.notes(None), Line(Style.LABEL, say(language, "related_heading"))),
        buttons=tuple((turning.open_button(hit.located),) for hit in hits),
        rating=True,
        exchange=turning.logged(result, state),
    )
    return Outcome(reply, state)


def _field(turning: _Turning, result: SearchResult) -> Outcome:
    """A whole chapter or major measure: its measures, and 「詳しく見る」 buttons for each."""
    field = result.field
    assert field is not None  # the caller checked
    language = turning.language
    if field.measure is None:
        buttons = [
            Button(
                short_label(measure_title(m, language)),
                MeasureView(field.chapter.number, m.number),
            )
            for m in field.chapter.measures
        ]
    else:
        buttons = [
            turning.open_button(Located(field.chapter, field.measure, m)) for m in field.measure.middles
        ]
    # Three rows at most: a field with more than six measures (第5章 has eight) gets three a row.
    width = BUTTONS_PER_ROW if len(buttons) <= 3 * BUTTONS_PER_ROW else 3
    state = turning.new_context(result.question, (), tuple(h.id for h in result.hits))
    route = turning.plan.field_route(field.chapter, field.measure)
    reply = Reply(
        language,
        lead=(*turning.english_note(), *field_lines(field, language)),
        notes=(*turning.notes(route, source=True), Line(Style.LABEL, say(language, "see_more"))),
        buttons=tuple(_rows(buttons, width)),
        rating=True,
        exchange=turning.logged(result, state),
    )
    return Outcome(reply, state)


def _more(turning: _Turning, text: str, context: Context) -> Outcome:
    """他には／What else: the next measure the last answer had found, and buttons for the rest."""
    plan = turning.plan
    pending = [m for m in context.pending if _exists(turning, m)]
    if not pending:
        reply = Reply(
            turning.language,
            lead=(Line(Style.LEAD, say(turning.language, "no_more")),),
            buttons=tuple(turning.chapter_buttons()),
            exchange=turning.chat(text),
        )
        return Outcome(reply)
    located = plan.locate(pending[0])
    state = replace(context.showing(located.middle.id), explained=True)
    card = turning.card(located, lead=(Line(Style.LEAD, say(turning.language, "more_lead")),))
    later = [turning.open_button(plan.locate(m)) for m in pending[1:3]]
    hit = Hit(located, 0.0)
    reply = replace(
        card,
        buttons=(*_rows(later), *card.buttons),
        rating=True,
        exchange=turning.exchange(text, Reason.MATCHED, (hit,), state, answered=True),
    )
    return Outcome(reply, state)


def _detail(turning: _Turning, text: str, measure_id: str) -> Outcome:
    """詳しく／more detail: the whole card of the measure last shown."""
    if not _exists(turning, measure_id):
        return _question(turning, text, follow_up=True, complaint=False)
    located = turning.plan.locate(measure_id)
    state = turning.shown(measure_id)
    card = turning.card(located, full=True, lead=(Line(Style.LEAD, say(turning.language, "detail_lead")),))
    reply = replace(
        card,
        rating=True,
        exchange=turning.exchange(text, Reason.MATCHED, (Hit(located, 0.0),), state, answered=True),
    )
    return Outcome(reply, state)


def _exists(turning: _Turning, measure_id: str) -> bool:
    try:
        turning.plan.locate(measure_id)
    except KeyError:
        return False
    return True


def _act(turning: _Turning, action: TurnAction) -> Outcome:
    """A button: a card, a whole card, or a step of the chapter browser (stale ones: the chapters)."""
    try:
        match action:
            case ChapterMenu():
                return Outcome(_chapter_menu(turning))
            case ChapterView(number):
                return Outcome(_chapter_view(turning, number))
            case MeasureView(chapter, measure):
                return Outcome(_measure_view(turning, chapter, measure))
            case MiddleView(id) | OpenCard(id) | WholeCard(id):
                located = turning.plan.locate(id)
    except (KeyError, IndexError):
        stale = _chapter_menu(turning)
        return Outcome(replace(stale, lead=(Line(Style.LEAD, say(turning.language, "stale")), *stale.lead)))
    state = turning.shown(located.middle.id)
    if isinstance(action, MiddleView):  # inside the browser: back to its major measure
        back = Button(
            f"← {short_label(located.measure.title)}",
            MeasureView(located.chapter.number, located.measure.number),
        )
        card = turning.card(located)
        return Outcome(replace(card, buttons=(*card.buttons, (back,)), navigation=True), state)
    return Outcome(turning.card(located, full=isinstance(action, WholeCard)), state)


def _chapter_menu(turning: _Turning) -> Reply:
    return Reply(
        turning.language,
        lead=(Line(Style.PROMPT, say(turning.language, "choose_chapter")),),
        buttons=tuple(turning.chapter_buttons()),
        navigation=True,
    )


def _chapter_view(turning: _Turning, number: int) -> Reply:
    language, chapter = turning.language, turning.plan.chapter(number)
    buttons = [
        (Button(short_label(measure_title(m, language)), MeasureView(chapter.number, m.number)),)
        for m in chapter.measures
    ]
    buttons.append((Button(say(language, "back_chapters"), ChapterMenu()),))
    return Reply(
        language, lead=tuple(chapter_lines(chapter, language)), buttons=tuple(buttons), navigation=True
    )


def _measure_view(turning: _Turning, chapter_no: int, measure_no: int) -> Reply:
    """A major measure's goals, its middle measures as buttons; IndexError for one the plan lacks."""
    language, chapter = turning.language, turning.plan.chapter(chapter_no)
    if not 1 <= measure_no <= len(chapter.measures):
        raise IndexError(measure_no)
    measure = chapter.measures[measure_no - 1]
    buttons = [
        (
            Button(
                short_label(f"({m.number}) {middle_title(m, language)}"),
                MiddleView(m.id),
            ),
        )
        for m in measure.middles
    ]
    back = Button(say(language, "back_chapter", number=str(chapter.number)), ChapterView(chapter.number))
    buttons.append((back,))
    return Reply(
        language,
        lead=tuple(measure_lines(chapter, measure, language)),
        buttons=tuple(buttons),
        navigation=True,
    )


class Conversation:
    """Conversations over the active plan: recall the resident's context, respond, remember it."""

    def __init__(self, service: PlanService) -> None:
        self.service = service
        self.contexts = Contexts(service.sessions, service.health)

    def reply(self, turn: Turn) -> Reply:
        """The reply to a turn (reads the database: call it off the event loop)."""
        outcome = respond(self.service.bundle, turn, self.contexts.recall(turn.user_key))
        if outcome.context is not None:
            self.contexts.remember(turn.user_key, outcome.context)
        return outcome.reply

    def record(self, reply: Reply) -> None:
        """Hand the reply's exchange to the answer log (a local journal: it never delays the reply)."""
        if reply.exchange is not None:
            self.service.log.record(reply.exchange)
