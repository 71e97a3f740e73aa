"""What the browser tests share: Debian's Chromium kept off the network, an ASGI app served on
127.0.0.1 for it to visit, and screenshots in tests/artifacts/ (the `browser` fixture itself,
one Chromium per test module, is in conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from playwright.sync_api import Page
from starlette.types import ASGIApp

CHROMIUM = Path("/usr/bin/chromium")
# A browser that stays off the network: the pages must work on the city's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


@contextlib.contextmanager
def served(app: ASGIApp, sock: socket.socket | None = None) -> Iterator[str]:
    """An ASGI app under uvicorn in a thread, on a free port of 127.0.0.1 (or the socket given)."""
    if sock is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
