"""Every environment variable the product reads, in one place, read once at the edge.

Secrets (the bot token, LOG_SALT, SESSION_SECRET, database passwords) live only here and in the
process environment; `Settings.__repr__` hides them so they never reach a log.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "Settings",
    "configure_logging",
    "default_data_dir",
    "normalize_database_url",
]

TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_FILE_API = "https://api.telegram.org/file/bot"


def default_data_dir(env: Mapping[str, str]) -> Path:
    """PLANBOT_DATA_DIR, else the per-user data folder ($XDG_DATA_HOME/asaka-planbot)."""
    if env.get("PLANBOT_DATA_DIR"):
        return Path(env["PLANBOT_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "asaka-planbot"


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` form hosting platforms hand out; use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _embed_origins(raw: str) -> tuple[str, ...]:
    """CHAT_EMBED_ORIGINS: the other sites that may frame the chat, as `scheme://host[:port]`."""
    origins = []
    for part in raw.replace(",", " ").split():
        origin = part.rstrip("/")
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ConfigError(
                f"CHAT_EMBED_ORIGINS: '{part}' is not an origin like https://www.city.asaka.lg.jp"
                " (scheme and host, no path; separate several with commas)"
            )
        origins.append(origin.lower())
    return tuple(origins)


MIN_SECRET_CHARS = 32  # 128 bits as hex: too long to guess offline from a pseudonym or a cookie

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _secret(env: Mapping[str, str], name: str, data_dir: Path, file_name: str) -> str:
    """A secret from the environment (at least MIN_SECRET_CHARS long) or kept in the data folder."""
    value = env.get(name)
    if not value:
        return _local_secret(data_dir, file_name)
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_CHARS} characters "
            "(make one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return value


def _proxies(raw: str) -> tuple[ProxyNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in raw.replace(",", " ").split())
    except ValueError:
        raise ConfigError("TRUSTED_PROXIES must be IP addresses or networks separated by commas") from None


def _staff_ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(",", " ").split())
    except ValueError:
        raise ConfigError("STAFF_TELEGRAM_IDS must be Telegram user ids separated by commas") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    log_salt: str = field(repr=False)
    session_secret: str = field(repr=False)  # signs the staff pages' cookie
    telegram_token: str | None = field(default=None, repr=False)
    telegram_base_url: str = TELEGRAM_API
    telegram_base_file_url: str = TELEGRAM_FILE_API
    staff_telegram_ids: frozenset[int] = frozenset()
    webhook_url: str | None = None
    port: int = 8000
    chat_embed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[ProxyNetwork, ...] = ()  # whose X-Forwarded-For / -Proto the staff pages believe

    @property
    def embedded_database(self) -> bool:
        """True for the default SQLite file, which the product migrates by itself at start-up."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = default_data_dir(env)
        database_url = normalize_database_url(env.get("DATABASE_URL") or "")
        if not database_url:
            database_url = f"sqlite:///{data_dir / 'planbot.sqlite3'}"
        try:
            port = int(env.get("PORT") or 8000)
        except ValueError:
            raise ConfigError("PORT must be a number") from None
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            log_salt=_secret(env, "LOG_SALT", data_dir, "log_salt"),
            session_secret=_secret(env, "SESSION_SECRET", data_dir, "session_secret"),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_base_url=env.get("TELEGRAM_BASE_URL") or TELEGRAM_API,
            telegram_base_file_url=env.get("TELEGRAM_BASE_FILE_URL") or TELEGRAM_FILE_API,
            staff_telegram_ids=_staff_ids(env.get("STAFF_TELEGRAM_IDS", "")),
            webhook_url=env.get("WEBHOOK_URL") or None,
            port=port,
            chat_embed_origins=_embed_origins(env.get("CHAT_EMBED_ORIGINS", "")),
            trusted_proxies=_proxies(env.get("TRUSTED_PROXIES", "")),
        )


def _local_secret(data_dir: Path, name: str) -> str:
    """Without LOG_SALT or SESSION_SECRET, a random value kept in the data folder (this user only).

    It keeps pseudonyms and staff sessions stable across restarts on one machine;
    production sets the variables so that every process agrees.
    """
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written in full under a private name, then linked into place: a process starting
        # at the same moment sees either no secret or the whole secret, never an empty file.
        draft = data_dir / f".{name}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(draft, path)
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()


def configure_logging(level: int = logging.INFO) -> None:
    """Process logging for the bot and web processes.

    Loggers that write what must not be kept are held at WARNING: httpx logs every request
    URL at INFO, and Bot API URLs contain the bot token; uvicorn's access log has every
    client's address and the secret webhook path. Alembic's INFO lines are start-up noise.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    for name in ("httpx", "httpcore", "uvicorn.access", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
