"""The web process (`python -m bot serve`): Telegram webhook, health check, staff pages.

Follows python-telegram-bot's custom-webhook example: Starlette receives updates
and puts them on the Application's update queue; the Application runs without
an Updater inside the server's lifespan.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from telegram import Update
from telegram.ext import Application

from .service import PlanService
from .telegram import build_application, start_services, stop_services

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
    """The ASGI app: webhook (when a bot token is configured), /healthz and /staff/."""
    settings = service.settings
    if application is None and settings.telegram_token:
        application = build_application(settings, service, webhook=True)
    token = settings.telegram_token or ""

    async def telegram_webhook(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), webhook_secret(token)):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = Update.de_json(await request.json(), application.bot)  # type: ignore[union-attr]
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            return PlainTextResponse("bad update", status_code=400)
        await application.update_queue.put(update)  # type: ignore[union-attr]
        return Response(status_code=200)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "plan_version": service.active.version_id})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if application is None:
            yield
            service.close()
            return
        async with application:
            await start_services(application)
            if settings.webhook_url:
                url = settings.webhook_url.rstrip("/") + webhook_path(token)
                await application.bot.set_webhook(
                    url=url, secret_token=webhook_secret(token), allowed_updates=Update.ALL_TYPES
                )
                logger.info("webhook registered")
            await application.start()
            yield
            await application.stop()
            await stop_services(application)
        service.close()

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    if application is not None:
        routes.append(Route(webhook_path(token), telegram_webhook, methods=["POST"]))
    routes.extend(_staff_routes(service))
    return Starlette(routes=routes, lifespan=lifespan)


def _staff_routes(service: PlanService) -> list[BaseRoute]:
    from .dashboard import create_dashboard

    return [Mount("/staff", app=create_dashboard(service))]
