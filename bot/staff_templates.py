"""The staff pages' Jinja environment: where templates live, escaping, and the helpers they share.

Set up once at import; every template gets `path_for` (links that stay under /staff
whichever app mounts the pages), the reason labels, the period presets and the `masked`
filter that hides personal details residents typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from .filters import PERIODS
from .redact import mask
from .reports import CHANNELS, REASONS

__all__ = ["TEMPLATES"]

HERE = Path(__file__).parent


@jinja2.pass_context
def _path_for(context: Mapping[str, object], name: str, /, **params: object) -> str:
    """A link as a path (no scheme or host), right under /staff whichever app mounts the pages."""
    request = context["request"]
    assert isinstance(request, Request)
    return request.url_for(name, **params).path


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything residents typed is shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(path_for=_path_for, reasons=REASONS, periods=PERIODS, channels=CHANNELS)
    env.filters["percent"] = lambda value: f"{value * 100:.1f}%"
    env.filters["masked"] = mask  # residents' personal details, hidden on every page by default
    return Jinja2Templates(env=env)


TEMPLATES = _templates()
