"""The Jinja2 environment (autoescape always on) and the headers every HTML page carries.

The Content-Security-Policy allows scripts, styles and fetches from this server only: no asset
ever loads from elsewhere, and even if escaping failed somewhere an injected inline script
would not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from web.render import display_title, doc_path, format_score, format_time

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def static_url(name: str) -> str:
    """/static/NAME?v=HASH: browsers may cache assets for ever, a new release changes the URL."""
    digest = hashlib.blake2b((STATIC / name).read_bytes(), digest_size=4).hexdigest()
    return f"/static/{name}?v={digest}"


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: document text is untrusted
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test instead of rendering ""
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.filters["doc_path"] = doc_path
    env.filters["display_title"] = display_title
    env.filters["format_time"] = format_time
    env.filters["format_score"] = format_score
    return Jinja2Templates(env=env)


def render_page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, name, dict(context), status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )
