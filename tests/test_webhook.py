"""Webhook mode through the ASGI app: the secret header, updates answered, /healthz, registration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.service import PlanService
from bot.web import SECRET_HEADER, create_app, webhook_path, webhook_secret
from tests.botapi import BotApiServer
from tests.helpers import make_settings

TOKEN = "123:ABC"


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def client(api: BotApiServer, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=api.base_url,
        TELEGRAM_BASE_FILE_URL=api.base_file_url,
        WEBHOOK_URL="https://bot.example.jp",
    )
    with TestClient(create_app(PlanService.start(settings))) as test_client:
        yield test_client


def test_webhook_is_registered_with_a_secret(api: BotApiServer, client: TestClient) -> None:
    assert api.webhook["url"] == "https://bot.example.jp" + webhook_path(TOKEN)
    assert api.webhook["secret_token"] == webhook_secret(TOKEN)
    assert TOKEN not in api.webhook["url"]


def test_update_with_the_secret_is_answered(api: BotApiServer, client: TestClient) -> None:
    api.mark()
    update = api.get_update(api.send_text(77, "保育園が足りない", deliver=False))
    response = client.post(webhook_path(TOKEN), json=update, headers={SECRET_HEADER: webhook_secret(TOKEN)})
    assert response.status_code == 200
    assert "幼児期等の教育と保育の充実" in api.wait_reply(77).plain_text


@pytest.mark.parametrize("secret", ["", "wrong"], ids=["missing", "wrong"])
def test_update_without_the_secret_is_refused(api: BotApiServer, client: TestClient, secret: str) -> None:
    update = api.get_update(api.send_text(78, "空き家", deliver=False))
    response = client.post(webhook_path(TOKEN), json=update, headers={SECRET_HEADER: secret})
    assert response.status_code == 403


def test_malformed_update_is_a_400(client: TestClient) -> None:
    response = client.post(
        webhook_path(TOKEN), content=b"not json", headers={SECRET_HEADER: webhook_secret(TOKEN)}
    )
    assert response.status_code == 400


def test_healthz_reports_the_plan_version(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "plan_version": 1,
        "database": "ok",
        "unwritten_exchanges": 0,
    }


def test_staff_pages_are_served_by_the_web_process(client: TestClient) -> None:
    response = client.get("/staff/", follow_redirects=False)
    assert response.status_code == 303 and "/staff/login" in response.headers["location"]
