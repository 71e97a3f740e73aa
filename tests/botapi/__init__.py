"""Local Telegram Bot API test server for end-to-end tests of the bot (see server.py)."""

from .server import (
    METHODS,
    NOT_MODIFIED,
    ApiError,
    BotApiServer,
    Call,
    MessageVersion,
    SentMessage,
    parse_html,
    utf16_len,
)

__all__ = [
    "METHODS",
    "NOT_MODIFIED",
    "ApiError",
    "BotApiServer",
    "Call",
    "MessageVersion",
    "SentMessage",
    "parse_html",
    "utf16_len",
]
