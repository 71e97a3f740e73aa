"""The bot keeps working through flood limits, Bot API errors, outages and failing handlers."""

from __future__ import annotations

import time

from tests.botapi import BotApiServer
from tests.helpers import RunningBot


def _ask(api: BotApiServer, user: int, text: str = "空き家", timeout: float = 15.0) -> str:
    api.mark()
    api.send_text(user, text)
    return api.wait_reply(user, timeout=timeout).plain_text


def test_flood_limit_429_is_waited_out(api: BotApiServer) -> None:
    api.fail_next("sendMessage", status=429, retry_after=1)
    started = time.monotonic()
    assert "空き家対策の推進" in _ask(api, 3001)
    assert time.monotonic() - started >= 1.0
    statuses = [c.status for c in api.calls if c.method == "sendMessage"]
    assert 429 in statuses and statuses[-1] == 200


def test_server_errors_are_retried_with_backoff(api: BotApiServer) -> None:
    api.fail_next("sendMessage", status=500, times=2)
    assert "空き家対策の推進" in _ask(api, 3002)
    sends = [c for c in api.calls if c.method == "sendMessage" and c.params.get("chat_id") == 3002]
    failed = [c for c in sends if c.status == 500][-2:]
    retried = [c for c in sends if c.ok][-1]
    assert failed[1].time - failed[0].time >= 0.4  # backoff between attempts
    assert retried.time > failed[1].time


def test_bot_survives_an_outage_and_carries_on(api: BotApiServer, running: RunningBot) -> None:
    api.outage(3)
    api.mark()
    api.send_text(3003, "保育園が足りない")  # queued while the Bot API is down
    reply = api.wait_reply(3003, timeout=30)
    assert "幼児期等の教育と保育の充実" in reply.plain_text
    assert running.process.process.poll() is None
    assert "空き家対策の推進" in _ask(api, 3003)


def test_a_failing_update_gets_an_apology_and_the_bot_goes_on(api: BotApiServer) -> None:
    api.fail_next("sendMessage", status=400, description="Bad Request: message thread not found")
    api.mark()
    api.send_text(3004, "空き家")
    assert "申し訳ありません" in api.wait_reply(3004).plain_text
    assert "空き家対策の推進" in _ask(api, 3004)


def test_one_slow_exchange_does_not_block_other_residents(api: BotApiServer) -> None:
    slow_send = api.hold_next("sendMessage", when=lambda params: str(params.get("chat_id")) == "3005")
    api.mark()
    api.send_text(3005, "空き家")
    assert slow_send.arrived.wait(10)  # the reply to 3005 is stuck at Telegram
    api.send_text(3006, "保育園が足りない")
    fast = api.wait_reply(3006, timeout=10)  # answered while 3005's reply is still stuck
    slow_send.release()
    slow = api.wait_reply(3005, timeout=10)
    assert "幼児期" in fast.plain_text and "空き家" in slow.plain_text
