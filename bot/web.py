"""The web process (`python -m bot serve`): Telegram webhook, health check, staff pages, residents' chat.

Follows python-telegram-bot's custom-webhook example: Starlette receives updates
and puts them on the Application's update queue, which journals each one to disk
before the 200 goes back (`update_journal`); the Application runs without an
Updater inside the server's lifespan.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from telegram import Update
from telegram.ext import Application

from .errors import ConfigError
from .service import PlanService
from .telegram import build_application, start_services, stop_services
from .web_edge import SecurityHeaders, health_route
from .webchat import chat_routes

__all__ = ["create_app", "webhook_path", "webhook_secret"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(token: str) -> str:
    """The secret Telegram sends back in a header; derived from the token so no extra setting is needed."""
    return hmac.new(token.encode(), b"planbot-webhook-secret", hashlib.sha256).hexdigest()


def webhook_path(token: str) -> str:
    """A path nobody can guess without the token (the token itself never appears in URLs we log)."""
    return "/telegram/" + hmac.new(token.encode(), b"planbot-webhook-path", hashlib.sha256).hexdigest()[:32]


def create_app(service: PlanService, *, application: Application | None = None) -> Starlette:
    """The ASGI app: the Telegram webhook, /healthz, /staff/ and the chat (needs TELEGRAM_BOT_TOKEN)."""
    settings = service.settings
    token = settings.telegram_token
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    bot_app = application or build_application(settings, service, webhook=True)

    async def telegram_webhook(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), webhook_secret(token)):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = Update.de_json(await request.json(), bot_app.bot)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            return PlainTextResponse("bad update", status_code=400)
        await bot_app.update_queue.put(update)
        return Response(status_code=200)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with bot_app:
            await start_services(bot_app)
            if settings.webhook_url:
                url = settings.webhook_url.rstrip("/") + webhook_path(token)
                await bot_app.bot.set_webhook(
                    url=url, secret_token=webhook_secret(token), allowed_updates=Update.ALL_TYPES
                )
                logger.info("webhook registered")
            await bot_app.start()
            yield
            await bot_app.stop()
            await stop_services(bot_app)
        service.close()

    routes: list[BaseRoute] = [
        health_route(service),
        Route(webhook_path(token), telegram_webhook, methods=["POST"]),
        *_staff_routes(service),
        *chat_routes(service),  # last: the chat answers every path the others leave (/, /chat/, /api/chat)
    ]
    headers = Middleware(SecurityHeaders, trusted_proxies=settings.trusted_proxies)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[headers])


def _staff_routes(service: PlanService) -> list[BaseRoute]:
    from .dashboard import create_dashboard

    return [Mount("/staff", app=create_dashboard(service))]
