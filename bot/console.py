"""The terminal chat: the no-setup way to try the product (`python -m bot chat`).

It renders the same conversation as Telegram: buttons become numbered choices
(type the number), 👍/👎 become `+` / `-`.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from .answer import render_plain
from .conversation import Button, Conversation, Reply, Turn
from .service import PlanService

__all__ = ["render_console", "run_chat"]

PROMPT = "質問> "
QUIT = frozenset({"/quit", "/exit", "quit", "exit"})


def render_console(reply: Reply) -> str:
    """The reply as terminal text: its lines, then its buttons as numbered choices."""
    text = render_plain(reply.lines())
    choices = [button for row in reply.buttons for button in row]
    if choices:
        text += "\n" + "\n".join(f"  [{n}] {button.label}" for n, button in enumerate(choices, 1))
    if reply.rating:
        text += "\n  (+ / -)"
    return text


def run_chat(
    service: PlanService, read: Callable[[str], str] = input, write: Callable[[str], None] = print
) -> None:
    """Chat at the terminal until /quit or end of input; log each exchange after showing it."""
    user = getpass.getuser()
    key = service.user_key("console", user)
    conversation = Conversation(service)
    rated: Reply | None = None
    choices: list[Button] = []

    def show(turn: Turn) -> None:
        nonlocal rated, choices
        reply = conversation.reply(turn)
        write(render_console(reply))
        write("")
        conversation.record(reply)
        choices = [button for row in reply.buttons for button in row]
        if reply.rating:
            rated = reply

    show(Turn("console", key, text="/start"))
    while True:
        try:
            text = read(PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        if text in QUIT:
            return
        if text in ("+", "-"):
            if rated is None or rated.exchange is None:
                write("評価する回答がまだありません。")
            else:
                service.record_feedback("console", user, rated.exchange.uid, text == "+")
                write("ご評価ありがとうございます。")
            continue
        if text.isdigit() and 1 <= int(text) <= len(choices):
            show(Turn("console", key, action=choices[int(text) - 1].action))
            continue
        show(Turn("console", key, text=text))
