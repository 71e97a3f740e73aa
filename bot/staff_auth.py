"""Staff accounts and how they sign in: password hashes and rules, server-side sessions, throttling, CSRF.

Only a salted scrypt hash of a password is stored, with its cost parameters in the
stored string so they can be raised later without breaking existing accounts.
A signed-in browser holds a random session token; the database holds its SHA-256
(`staff_sessions`), so every web process behind a load balancer agrees, and logout,
a new password or removing the account ends the session at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from zxcvbn import zxcvbn

from .errors import StaffAccountError
from .store import LoginAttempt, StaffSession, StaffUser, utcnow

__all__ = [
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "LoginThrottle",
    "add_staff",
    "authenticate",
    "csrf_ok",
    "end_all_sessions",
    "end_session",
    "find_staff",
    "hash_password",
    "list_staff",
    "new_csrf_token",
    "normalize_name",
    "open_session",
    "password_problem",
    "remove_staff",
    "session_staff",
    "set_password",
    "verify_password",
]

# OWASP's scrypt equivalent of N=2^17, r=8, p=1 with a quarter of the memory (32 MiB per hash,
# about half a second): affordable for a few staff logins, expensive for anyone guessing offline.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 3
MIN_PASSWORD_CHARS = 12
MIN_PASSWORD_SCORE = 3  # zxcvbn's "safely unguessable" (about 10^8 guesses and more)
MAX_NAME_CHARS = 64
# Editors resolve, edit, publish and roll back; viewers read (see bot/roles.py).
ROLES = ("editor", "viewer")
SESSION_IDLE = dt.timedelta(minutes=60)  # a browser left open ends after an hour without a request
SESSION_LIFETIME = dt.timedelta(hours=8)  # a working day, however active
SEEN_RESOLUTION = dt.timedelta(minutes=1)  # `seen_at` is written at most once a minute per session


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


def password_problem(password: str, name: str) -> str | None:
    """Why a password is refused (for the command line), or None.

    zxcvbn estimates guesses against common passwords, names, keyboard walks, dates
    and repetitions (aaaaaaaaaaaa, 123456789012); the staff name counts as known.
    """
    password = _normalize(password)
    if len(password) < MIN_PASSWORD_CHARS:
        return f"the password must have at least {MIN_PASSWORD_CHARS} characters"
    verdict = zxcvbn(password[:100], user_inputs=[name, "asaka", "planbot", "staff"])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        warning = verdict["feedback"]["warning"] or "it follows a common pattern"
        return f"the password is too easy to guess ({warning.rstrip('.')}); add more uncommon words"
    return None


def _usable_name(name: str) -> str:
    name = normalize_name(name)
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable() or any(c.isspace() for c in name):
        raise StaffAccountError(f"'{name}' is not a usable name: 1–{MAX_NAME_CHARS} characters, no spaces")
    return name


def add_staff(session: Session, name: str, password: str, *, role: str = "viewer") -> StaffUser:
    """A new account; StaffAccountError for a taken or unusable name, a weak password or an unknown role."""
    if role not in ROLES:
        raise StaffAccountError(f"unknown role '{role}' (choose one of: {', '.join(ROLES)})")
    name = _usable_name(name)
    problem = password_problem(password, name)
    if problem:
        raise StaffAccountError(problem)
    if find_staff(session, name) is not None:
        raise StaffAccountError(
            f"staff account '{name}' already exists (to change its password: staff passwd)"
        )
    user = StaffUser(name=name, password_hash=hash_password(password), created_at=utcnow(), role=role)
    session.add(user)
    return user


def _existing(session: Session, name: str) -> StaffUser:
    user = find_staff(session, name)
    if user is None:
        raise StaffAccountError(f"there is no staff account '{normalize_name(name)}' (see: staff list)")
    return user


def set_password(session: Session, name: str, password: str) -> StaffUser:
    """A new password for an account; every session it had ends."""
    user = _existing(session, name)
    problem = password_problem(password, user.name)
    if problem:
        raise StaffAccountError(problem)
    user.password_hash = hash_password(password)
    end_all_sessions(session, user.id)
    return user


def remove_staff(session: Session, name: str) -> None:
    """Remove an account and end its sessions."""
    user = _existing(session, name)
    end_all_sessions(session, user.id)
    session.delete(user)


def authenticate(session: Session, name: str, password: str) -> StaffUser | None:
    """The account if the password is right; None otherwise, after the same amount of work."""
    user = find_staff(session, name)
    if user is None:
        verify_password(password, _decoy_hash())
        return None
    return user if verify_password(password, user.password_hash) else None


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: StaffUser) -> str:
    """A new session for `user`; returns the token for the cookie (the database keeps only its hash)."""
    now = utcnow()
    session.execute(delete(StaffSession).where(StaffSession.seen_at < now - SESSION_IDLE))  # tidy up
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(id=_session_id(token), staff_id=user.id, created_at=now, seen_at=now))
    return token


@dataclass(frozen=True)
class SignedIn:
    """Who a valid session belongs to."""

    staff_id: int
    name: str
    role: str  # read with the session on every request, so a changed role counts at once


def session_staff(session: Session, token: str) -> SignedIn | None:
    """The staff member of a live session; an idle or too old session is ended here. Notes the visit."""
    now = utcnow()
    row = session.get(StaffSession, _session_id(token))
    if row is None:
        return None
    if now - row.seen_at > SESSION_IDLE or now - row.created_at > SESSION_LIFETIME:
        session.delete(row)
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None:
        return None
    if now - row.seen_at > SEEN_RESOLUTION:
        row.seen_at = now
    return SignedIn(user.id, user.name, user.role)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.id == _session_id(token)))


def end_all_sessions(session: Session, staff_id: int) -> None:
    """Log out everywhere: every browser this account is signed in on."""
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))


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
    """Login attempts in a sliding window, counted three ways in the database.

    Per name and address (`limit`), per address across names (guessing many accounts from
    one place) and per name across addresses (guessing one account from many places). Each
    attempt costs a scrypt hash; over a limit, the key waits out the window. The count lives
    in `login_attempts`, so every web process behind a load balancer shares it (signing in
    needs the database anyway); names and addresses are kept only as keyed hashes.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        salt: str,
        *,
        limit: int = 5,
        per_address: int = 20,
        per_name: int = 50,
        window_seconds: float = 15 * 60,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._salt = salt.encode()
        self.limits = {"pair": limit, "address": per_address, "name": per_name}
        self.window = dt.timedelta(seconds=window_seconds)
        self._clock = clock

    def _keys(self, name: str, address: str) -> dict[str, str]:
        parts = {"pair": (name, address), "address": (address,), "name": (name,)}
        return {
            kind: hmac.new(self._salt, "\0".join((kind, *values)).encode(), hashlib.sha256).hexdigest()
            for kind, values in parts.items()
        }

    def attempt(self, name: str, address: str) -> int:
        """Count a login attempt before it is checked; seconds to wait when over a limit, else 0.

        The attempt is stored and committed before the earlier ones are counted, so parallel
        requests (on one process or several) see each other and cannot all slip past the
        limit while their passwords are being hashed. A refused attempt is not counted.
        """
        now = self._clock()
        since = now - self.window
        keys = self._keys(name, address)
        with self._sessions() as session, session.begin():
            session.execute(delete(LoginAttempt).where(LoginAttempt.at <= since))
            mine = [LoginAttempt(kind=kind, key=key, at=now) for kind, key in keys.items()]
            session.add_all(mine)
        own = [row.id for row in mine]
        with self._sessions() as session, session.begin():
            waits = []
            for kind, key in keys.items():
                limit = self.limits[kind]
                earlier = session.scalars(
                    select(LoginAttempt.at)
                    .where(
                        LoginAttempt.kind == kind,
                        LoginAttempt.key == key,
                        LoginAttempt.at > since,
                        LoginAttempt.id.not_in(own),
                    )
                    .order_by(LoginAttempt.at.desc())
                    .limit(limit)
                ).all()
                if len(earlier) >= limit:
                    waits.append(round((earlier[-1] + self.window - now).total_seconds()))
            if waits:
                session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(own)))
                return max(1, *waits)
        return 0

    def succeeded(self, name: str, address: str) -> None:
        """A right password clears its name and address pair (not the address's or name's totals)."""
        with self._sessions() as session, session.begin():
            session.execute(
                delete(LoginAttempt).where(
                    LoginAttempt.kind == "pair", LoginAttempt.key == self._keys(name, address)["pair"]
                )
            )
