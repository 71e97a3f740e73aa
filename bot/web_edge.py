"""What the web app believes about where a request came from, the headers on every response,
and `/healthz`, which both web processes (`serve` and `web`) answer the same way.

Behind a reverse proxy every request comes from the proxy; only proxies named in
TRUSTED_PROXIES may say who the client was (X-Forwarded-For) and whether the browser
used HTTPS (X-Forwarded-Proto). Anyone else's forwarding headers are ignored, so a
client cannot pick an address to escape the login throttle.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import ProxyNetwork

if TYPE_CHECKING:
    from .service import PlanService

__all__ = ["SECURITY_HEADERS", "SecurityHeaders", "client_address", "health_route", "is_https"]

SECURITY_HEADERS = {
    # No scripts at all; styles only from our own static file; charts are inline SVG.
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "cross-origin-opener-policy": "same-origin",
    # Residents' questions must not linger in shared caches or the browser's back/forward cache.
    "cache-control": "no-store",
}
HSTS = ("strict-transport-security", "max-age=31536000")  # only ever sent over HTTPS


def _trusted(address: str, proxies: Sequence[ProxyNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ",".join(values) if values else None


def client_address(scope: Scope, proxies: Sequence[ProxyNetwork]) -> str:
    """The client's address: the peer, or the nearest untrusted hop of X-Forwarded-For when the
    peer is a trusted proxy (read from the right, where our own proxies appended)."""
    client = scope.get("client")
    address = client[0] if client else ""
    if not _trusted(address, proxies):
        return address
    for hop in reversed((_header(scope, b"x-forwarded-for") or "").split(",")):
        hop = hop.strip()
        if not hop:
            continue
        address = hop
        if not _trusted(hop, proxies):
            break
    return address


def is_https(scope: Scope, proxies: Sequence[ProxyNetwork]) -> bool:
    """The browser's own connection was HTTPS: this request's scheme, or a trusted proxy's word."""
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if not client or not _trusted(client[0], proxies):
        return False
    forwarded = _header(scope, b"x-forwarded-proto") or ""
    return forwarded.split(",")[0].strip().lower() == "https"


def _insecure_cookie(name: bytes, value: bytes) -> bool:
    if name.lower() != b"set-cookie":
        return False
    return all(part.strip().lower() != b"secure" for part in value.split(b";")[1:])


class SecurityHeaders:
    """Security headers on every response of the app; HSTS and the Secure cookie flag over HTTPS.

    One app is reached over plain http://127.0.0.1 (`python -m bot dashboard`) and over
    HTTPS behind a proxy (`serve`), so HTTPS is decided per request.
    """

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[ProxyNetwork] = ()) -> None:
        self.app = app
        self.proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(scope, self.proxies)
        extra = {**SECURITY_HEADERS, **dict([HSTS] if https else [])}

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value + b"; secure") if https and _insecure_cookie(name, value) else (name, value)
                    for name, value in message.get("headers", ())
                ]
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" in present:  # it decided its own framing (the web chat)
                    present.add(b"x-frame-options")
                headers.extend(
                    (name.encode(), value.encode())
                    for name, value in extra.items()
                    if name.encode() not in present
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_hardened)


def health_route(service: PlanService) -> Route:
    """`GET /healthz`: the plan version answering, and whether the database is reachable."""

    async def healthz(_request: Request) -> JSONResponse:
        # Still 200 when degraded: the process answers residents; restarting it would not help.
        available = service.health.available
        return JSONResponse(
            {
                "status": "ok" if available else "degraded",
                "plan_version": service.active.version_id,
                "database": "ok" if available else "unavailable",
                "unwritten_exchanges": service.log.spooled,
            }
        )

    return Route("/healthz", healthz)
