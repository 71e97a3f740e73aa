"""The terminal chat: the no-setup way to try the product (`python -m bot chat`)."""

from __future__ import annotations

import getpass
from collections.abc import Callable

from .answer import about_lines, answer_lines, chapter_menu_lines, help_lines, render_plain, welcome_lines
from .service import Answered, PlanService

__all__ = ["run_chat"]

PROMPT = "質問> "
HINT = "（+ / - でひとつ前の回答を評価、/chapters 章の一覧、/about 総合計画とは、/quit 終了）"


def run_chat(
    service: PlanService, read: Callable[[str], str] = input, write: Callable[[str], None] = print
) -> None:
    """Answer questions typed at the terminal until /quit or end of input; log each exchange."""
    user = getpass.getuser()
    write(render_plain(welcome_lines(service.bundle.plan)))
    write(HINT)
    last: Answered | None = None
    while True:
        try:
            text = read(PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        plan = service.bundle.plan
        if text in ("/quit", "/exit", "quit", "exit"):
            return
        if text in ("+", "-"):
            if last is None:
                write("評価する回答がまだありません。")
            else:
                service.record_feedback("console", user, last.uid, text == "+")
                write("ご評価ありがとうございます。")
            continue
        commands = {
            "/chapters": chapter_menu_lines,
            "/about": about_lines,
            "/help": help_lines,
            "/start": welcome_lines,
        }
        if text in commands:
            write(render_plain(commands[text](plan)))
            continue
        if not text:
            write(HINT)
            continue
        last = service.answer("console", user, text)
        write(render_plain(answer_lines(last.bundle.plan, last.result)))
        write("")
        service.record(last)
