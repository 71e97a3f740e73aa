"""What keeps the public web chat usable for everyone: message limits and the cross-site check.

The chat is open to anyone without an account, so one client (or a script) must not be
able to flood the answer log or starve other residents. Limits are sliding windows in
this process's memory: enough against a browser or a loop, not a defence against a
distributed attack (that belongs to the proxy in front). Unlike the staff login throttle
they stay out of the database on purpose, so residents keep getting answers while it is
down or hung, and a message costs no database round trip.
Client addresses are what uvicorn reports, which honours X-Forwarded-For only from the
proxies listed in FORWARDED_ALLOW_IPS (the README's proxy rule).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ChatLimiter", "ChatLimits", "cross_site"]


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """Messages (questions and button presses) allowed per minute."""

    per_client: int = 20
    overall: int = 600
    window_seconds: float = 60.0
    # Addresses remembered at most; beyond it, the quietest are forgotten first.
    max_clients: int = 10_000


class ChatLimiter:
    """Sliding-window counts per client address and for the whole process."""

    def __init__(self, limits: ChatLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, deque[float]] = {}
        self._overall: deque[float] = deque()

    def _trim(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.limits.window_seconds:
            times.popleft()
        return times

    def _wait(self, times: deque[float], limit: int, now: float) -> int:
        """Seconds until `times` has room again (0 when it has room now)."""
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.limits.window_seconds - now))

    def attempt(self, client: str) -> int:
        """Count one message from `client`; 0 when allowed, else the seconds to wait (nothing counted)."""
        with self._lock:
            now = self._clock()
            mine = self._trim(self._clients.get(client, deque()), now)
            overall = self._trim(self._overall, now)
            wait = max(
                self._wait(mine, self.limits.per_client, now), self._wait(overall, self.limits.overall, now)
            )
            if wait:
                return wait
            mine.append(now)
            overall.append(now)
            self._clients[client] = mine
            if len(self._clients) > self.limits.max_clients:
                self._forget(now)
            return 0

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._clients.items() if not self._trim(v, now)]:
            del self._clients[key]
        while len(self._clients) > self.limits.max_clients:  # all active: drop the oldest
            del self._clients[min(self._clients, key=lambda k: self._clients[k][-1])]


def cross_site(headers: Mapping[str, str]) -> bool:
    """True for a POST another site's page made (a form or script elsewhere posting here).

    Browsers send Origin with every POST; it must name the host the browser addressed.
    Scripts and tools that send no Origin are not browsers acting for
    a visitor, so they are let through (and counted by the limits like anyone).
    """
    if headers.get("sec-fetch-site", "") == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":  # sandboxed frames, data: URLs, some redirects
        return True
    # The host the browser addressed: Host, or X-Forwarded-Host from a proxy that rewrites Host.
    # A page on another site cannot set either in a request the browser sends without asking us first.
    addressed = {headers.get("host", "").lower(), headers.get("x-forwarded-host", "").lower()} - {""}
    return urlsplit(origin).netloc.lower() not in addressed
