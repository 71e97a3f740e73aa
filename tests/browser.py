"""What the browser tests share: Debian's Chromium kept off the network, an ASGI app served on
127.0.0.1 for it to visit, pages that fail a test when text runs as a script, the checks that
a page fits a phone, and screenshots in tests/artifacts/ (the `browser` fixture itself, one
Chromium per test module, is in conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from playwright.sync_api import BrowserContext, Dialog, Page
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


@contextlib.contextmanager
def scripts_refused(context: BrowserContext) -> Iterator[Page]:
    """A page of `context` (closed afterwards); the test fails if any dialog opened, since a
    resident's or a staff member's text that ran as a script would open one."""
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield page
    finally:
        context.close()
    assert dialogs == [], "a resident's text ran as a script"


# Everything a phone user can press must be where the finger lands: not covered, not off screen.
COVERED = """() => {
  const out = [];
  const controls = 'main a, main button, main summary, main input, main select, header a, header button';
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || !el.checkVisibility({visibilityProperty: true})) continue;
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit) || hit.contains(el))) out.push(el.outerHTML.slice(0, 80));
  }
  return out;
}"""
SMALLEST_TEXT = """() => Math.min(
  ...[...document.querySelectorAll('main text, main .chart .label, main td, main p, main a')]
    .filter(el => el.getBoundingClientRect().width > 0 && el.checkVisibility())
    .map(el => el.tagName === 'text'
      ? el.getBoundingClientRect().height
      : parseFloat(getComputedStyle(el).fontSize)))"""


def assert_fits_a_phone(phone: Page, name: str) -> None:
    """The open page has no sideways scrolling at 390 px, no text under 10 px and no covered
    control; its screenshot is kept as phone-NAME.png."""
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name} is {width}px wide"
    assert phone.evaluate(SMALLEST_TEXT) >= 10, f"{name} has text smaller than 10px"
    assert phone.evaluate(COVERED) == [], f"{name}: covered controls"
    phone.evaluate("window.scrollTo(0, 0)")
    shoot(phone, f"phone-{name}")
