"""One exception handler: engine errors and HTTP/validation errors -> a status code and a message.

API paths answer `{"error": "..."}`; page paths answer the error page. A user's mistake is
always a 4xx whose message says what to change; a 500 means a bug, and is logged in full.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from indexer.errors import (
    ConfigError,
    IndexBusy,
    IndexNotFound,
    ModelMismatch,
    NotFound,
    QueryError,
    SemsearchError,
)
from web.templating import render_page

log = logging.getLogger(__name__)

STATUS: dict[type[SemsearchError], int] = {
    QueryError: 422,
    NotFound: 404,
    IndexNotFound: 503,
    IndexBusy: 409,
    ModelMismatch: 503,  # the server's model does not fit the index: an operator must act
    ConfigError: 500,
}
JSON_PATHS = ("/api/", "/v1/", "/healthz", "/readyz", "/openapi.json")


def status_for(exc: SemsearchError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _where(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """(status, one readable line) for FastAPI's list of validation errors."""
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            return 400, f"the request body is not valid JSON ({reason})".replace(" ()", "")
    parts = []
    for error in errors:
        where, kind = _where(tuple(error.get("loc", ()))), error.get("type", "")
        if kind == "missing" and where == "body":
            parts.append('the request body is missing: send a JSON object such as {"query": "..."}')
        elif kind == "missing":
            parts.append(f"{where}: required")
        elif where == "body" and kind in ("model_attributes_type", "dict_type"):
            parts.append("the request body must be a JSON object (send Content-Type: application/json)")
        elif kind == "unicode":  # web/schemas.py names the field itself
            parts.append(error.get("msg", "") if where == "body" else f"{where}: {error.get('msg', '')}")
        elif kind == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        else:
            given = error.get("input")
            shown = "" if isinstance(given, dict | list) or given is None else f" (got {_short(given)})"
            parts.append(f"{where}: {error.get('msg', 'invalid')}{shown}")
    return 422, "; ".join(parts) or "invalid request"


def _http_message(request: Request, exc: HTTPException) -> str:
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"not found: {request.url.path}"
    if exc.status_code == 405:
        return f"method {request.method} is not allowed on {request.url.path}"
    return str(exc.detail)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PATHS)


async def handle_error(request: Request, exc: Exception) -> Response:
    headers: dict[str, str] | None = None
    if isinstance(exc, SemsearchError):
        code, message = status_for(exc), str(exc)
    elif isinstance(exc, RequestValidationError):
        code, message = validation_message(exc)
    elif isinstance(exc, HTTPException):
        code, message, headers = exc.status_code, _http_message(request, exc), exc.headers
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        code, message = 500, "internal server error (the server log has the details)"
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=code, headers=headers)
    return render_page(request, "error.html", {"status": code, "message": message}, code, headers)


def install(app: FastAPI) -> None:
    for cls in (SemsearchError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(cls, handle_error)
