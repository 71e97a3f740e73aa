"""Staff accounts and how they sign in: password hashes, login throttling, CSRF, cookie hardening.

Only a salted scrypt hash of a password is stored, with its cost parameters in the
stored string so they can be raised later without breaking existing accounts. The
session cookie is signed with a key derived from LOG_SALT, so no new secret has to
be configured, and it carries a stamp of the account's password hash: removing an
account or giving it a new password ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import StaffAccountError
from .store import StaffUser, utcnow

if TYPE_CHECKING:  # the command line imports this module without the web stack
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "HardenResponses",
    "LoginThrottle",
    "account_stamp",
    "add_staff",
    "authenticate",
    "csrf_ok",
    "find_staff",
    "hash_password",
    "list_staff",
    "new_csrf_token",
    "normalize_name",
    "remove_staff",
    "session_secret",
    "verify_password",
]

# OWASP's scrypt equivalent of N=2^17, r=8, p=1 with a quarter of the memory (32 MiB per hash,
# about half a second): affordable for a few staff logins, expensive for anyone guessing offline.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 3
MIN_PASSWORD_CHARS = 10
MAX_NAME_CHARS = 64
# Editors resolve, edit, publish and roll back; viewers read (see bot/roles.py).
ROLES = ("editor", "viewer")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _normalize(text: str) -> str:
    """NFKC, so a password or name typed with the IME in full-width mode (ｐａｓｓ) still matches."""
    return unicodedata.normalize("NFKC", text)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs 128·r·N bytes (plus a little); hashlib's default cap of 32 MiB is just too small.
    return hashlib.scrypt(
        _normalize(password).encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n + 2**20, dklen=32
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """`scrypt$N$r$p$salt$hash` (base64): everything needed to check the password, nothing to recover it."""
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def verify_password(password: str, stored: str) -> bool:
    """Recompute with the stored salt and parameters; compare in constant time."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(actual, base64.b64decode(expected))
    except ValueError:  # a malformed stored hash never lets anyone in
        return False


@cache
def _decoy_hash() -> str:
    """A hash to check unknown names against, so a wrong name takes as long as a wrong password."""
    return hash_password(secrets.token_hex(16))


def normalize_name(name: str) -> str:
    return _normalize(name).strip()


def find_staff(session: Session, name: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.name == normalize_name(name)))


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.name)))


def add_staff(session: Session, name: str, password: str, *, role: str = "viewer") -> StaffUser:
    """A new account; StaffAccountError for a taken or unusable name, a short password or an unknown role."""
    if role not in ROLES:
        raise StaffAccountError(f"unknown role '{role}' (choose one of: {', '.join(ROLES)})")
    name = normalize_name(name)
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable() or any(c.isspace() for c in name):
        raise StaffAccountError(f"'{name}' is not a usable name: 1–{MAX_NAME_CHARS} characters, no spaces")
    if len(_normalize(password)) < MIN_PASSWORD_CHARS:
        raise StaffAccountError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if find_staff(session, name) is not None:
        raise StaffAccountError(
            f"staff account '{name}' already exists (to change its password: staff remove, then staff add)"
        )
    user = StaffUser(name=name, password_hash=hash_password(password), created_at=utcnow(), role=role)
    session.add(user)
    return user


def remove_staff(session: Session, name: str) -> None:
    user = find_staff(session, name)
    if user is None:
        raise StaffAccountError(f"there is no staff account '{normalize_name(name)}' (see: staff list)")
    session.delete(user)


def authenticate(session: Session, name: str, password: str) -> StaffUser | None:
    """The account if the password is right; None otherwise, after the same amount of work."""
    user = find_staff(session, name)
    if user is None:
        verify_password(password, _decoy_hash())
        return None
    return user if verify_password(password, user.password_hash) else None


def account_stamp(user: StaffUser) -> str:
    """Kept in the session: it changes when the account is re-created, which ends old sessions."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


def session_secret(log_salt: str) -> str:
    """The cookie-signing key, derived from LOG_SALT (one secret to manage, separate keys per use)."""
    return hmac.new(log_salt.encode(), b"planbot-staff-session", hashlib.sha256).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(session: Mapping[str, object], submitted: object) -> bool:
    """The form's token must be the one in this browser's (signed) session."""
    expected = session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


class LoginThrottle:
    """Failed logins per (name, client) in a sliding window, kept in this process's memory.

    Enough to stop guessing through the form: each failure costs a scrypt hash, and after
    `limit` failures the pair waits out the window. Several web processes each keep their own count.
    """

    def __init__(
        self, *, limit: int = 5, window_seconds: float = 15 * 60, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def attempt(self, key: tuple[str, str]) -> int:
        """Count a login attempt before it is checked; seconds to wait when over the limit, else 0.

        Counting first (and clearing on success) means parallel requests cannot all slip
        past the check while their passwords are being hashed.
        """
        with self._lock:
            now = self._clock()
            attempts = self._recent(key, now)
            if len(attempts) >= self.limit:
                return max(1, round(attempts[-self.limit] + self.window - now))
            attempts.append(now)
            self._failures[key] = attempts
            if len(self._failures) > 10_000:  # bound memory against many names or clients
                for stale in [k for k, v in self._failures.items() if v[-1] <= now - self.window]:
                    del self._failures[stale]
            return 0

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


SECURITY_HEADERS = {
    # No scripts at all; styles only from our own static file; charts are inline SVG.
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    # Residents' questions must not linger in shared caches or the browser's back/forward cache.
    "cache-control": "no-store",
}


def _is_https(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            return value.split(b",")[0].strip().lower() == b"https"
    return False


def _insecure_cookie(name: bytes, value: bytes) -> bool:
    if name.lower() != b"set-cookie":
        return False
    return all(part.strip().lower() != b"secure" for part in value.split(b";")[1:])


class HardenResponses:
    """Security headers on every staff response; the Secure flag on cookies when the browser came by HTTPS.

    Starlette's SessionMiddleware fixes Secure at start-up, but one app is reached over plain
    http://127.0.0.1 (`python -m bot dashboard`) and over HTTPS behind a proxy (`serve`), so the
    flag is decided per request: the request's scheme, or X-Forwarded-Proto from the proxy.
    Trusting that header is safe here: it can only add the flag, never remove it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = _is_https(scope)

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value + b"; secure") if https and _insecure_cookie(name, value) else (name, value)
                    for name, value in message.get("headers", ())
                ]
                present = {name.lower() for name, _ in headers}
                headers.extend(
                    (name.encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.encode() not in present
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_hardened)
