"""The OpenAPI schema with the limits this server really enforces.

The request models are static, but the upper limits of `k`, `offset` and the query length come
from the config, so they are written into the generated schema here, once per app: a client
(or schemathesis) reading /openapi.json learns exactly what is accepted. The schema also states
that a query must hold a non-space character, that `filters` takes flat values only (integers
in SQLite's 64-bit range), and the answers the request guard gives before any route runs
(400 foreign Host, 401 read token, 408 body too slow, 413 body too large, 503 busy).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from indexer.config import SearchSettings

INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
FILTER_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "integer", **INT64},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
GUARD_ANSWERS = {
    "400": "malformed request, or a Host this server does not serve",
    "401": "the server's read token is missing or wrong (when one is set)",
    "408": "the request body did not arrive within server.body_timeout_s",
    "413": "the request body is over server.max_body_kb",
    "503": "busy (server.max_in_flight requests in flight; see Retry-After), or no index loaded yet",
}


def install(app: FastAPI, limits: SearchSettings) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _state_limits(spec, limits)
            service = getattr(app.state, "service", None)  # set by the lifespan, before any request
            if service is not None:
                _state_dimension(spec, service.embedder.dim)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def _state_limits(spec: dict[str, Any], limits: SearchSettings) -> None:
    # "Not all white space", in ECMAScript regex: \s there lacks Python's \x1c-\x1f and \x85
    # (searcher.VISIBLE is the same set from Python's side).
    query = {"minLength": 1, "maxLength": limits.max_query_chars, "pattern": r"[^\s\x1c-\x1f\x85]"}
    k = {"minimum": 1, "maximum": limits.max_k}
    offset = {"minimum": 0, "maximum": 10 * limits.max_k}
    unit = {"minimum": 0, "maximum": 1}
    body = spec.get("components", {}).get("schemas", {}).get("SearchBody", {}).get("properties", {})
    for name, bounds in (("query", query), ("k", k), ("offset", offset)):
        if name in body:
            _bound(body[name], bounds)
    if "filters" in body:
        body["filters"] = {
            **{key: value for key, value in body["filters"].items() if key not in ("anyOf", "type")},
            "anyOf": [{"type": "object", "additionalProperties": FILTER_VALUE}, {"type": "null"}],
        }
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                bounds = {"q": query, "k": k, "offset": offset, "diversity": unit}.get(parameter["name"])
                if bounds and (path.startswith("/api/search") or parameter["name"] in ("k", "diversity")):
                    _bound(parameter["schema"], bounds)
            responses = operation.setdefault("responses", {})
            for status, text in GUARD_ANSWERS.items():
                responses.setdefault(status, {"description": text, "content": _error_body()})


def _state_dimension(spec: dict[str, Any], dim: int) -> None:
    """/v1/embeddings takes `dimensions` only as the model's own size."""
    body = spec.get("components", {}).get("schemas", {}).get("EmbeddingsBody", {}).get("properties", {})
    if "dimensions" in body:
        body["dimensions"] = {
            "description": f"must be {dim}, this model's size, when given",
            "anyOf": [{"type": "integer", "enum": [dim]}, {"type": "null"}],
        }


def _bound(schema: dict[str, Any], bounds: dict[str, Any]) -> None:
    """Add bounds to a property's schema, inside `anyOf` when it is optional (`int | None`)."""
    targets = [s for s in schema.get("anyOf", []) if s.get("type") not in (None, "null")] or [schema]
    for target in targets:
        kind = target.get("type")
        wanted = {
            k: v
            for k, v in bounds.items()
            if (k in ("minLength", "maxLength", "pattern")) == (kind == "string")
        }
        target.update(wanted)


def _error_body() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
