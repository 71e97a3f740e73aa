"""Jinja environments: `page_templates` (where templates live, escaping) for every page of ours,
and the staff pages' own environment with the helpers they share.

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

__all__ = ["TEMPLATES", "page_templates"]

HERE = Path(__file__).parent


@jinja2.pass_context
def _path_for(context: Mapping[str, object], name: str, /, **params: object) -> str:
    """A link as a path (no scheme or host), right under /staff whichever app mounts the pages."""
    request = context["request"]
    assert isinstance(request, Request)
    return request.url_for(name, **params).path


def page_templates(**globals: object) -> Jinja2Templates:
    """The one Jinja set-up every page of ours uses (staff pages and the web chat), with its globals.

    Autoescaping shows everything residents typed as text; StrictUndefined makes a missing value an error
    in the tests rather than an empty spot on a page."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(globals)
    return Jinja2Templates(env=env)


def _templates() -> Jinja2Templates:
    templates = page_templates(path_for=_path_for, reasons=REASONS, periods=PERIODS, channels=CHANNELS)
    templates.env.filters["percent"] = lambda value: f"{value * 100:.1f}%"
    templates.env.filters["masked"] = mask  # residents' personal details, hidden on every page by default
    return templates


TEMPLATES = _templates()
