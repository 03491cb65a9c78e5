"""ASGI middleware that refuses a request before any route sees it: a Host that is not ours, a
body over the size limit, a missing read token, or one request too many in flight; and that
answers OPTIONS with the methods the path really takes.

The Host check defeats DNS rebinding: the server binds 127.0.0.1, but a page on another origin
whose name is made to resolve to 127.0.0.1 could otherwise read the index through the user's
browser; such requests carry that other name in Host. The size check answers 413 from the
Content-Length header (or while a chunked body streams in), so eight 50 MB bodies no longer
take the server to 2 GB before a validator says no; a body that has not arrived within
`server.body_timeout_s` gets 408, so a client trickling bytes cannot hold a slot. The
in-flight cap bounds what a flood can queue (each waiting request holds its body and a place
in the thread pool): beyond `server.max_in_flight` the answer is 503 with Retry-After at once. The read token
(`server.read_token`), when set, is needed for everything but health checks and static files:
as `Authorization: Bearer`, or once as `?token=` on a page, which sets an HttpOnly cookie.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.routing import Match

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def host_name(header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


PUBLIC_PATHS = ("/healthz", "/readyz", "/static/")  # reachable without the read token
UNCAPPED_PATHS = (*PUBLIC_PATHS, "/metrics")  # cheap: never turned away by the in-flight cap
TOKEN_COOKIE = "semsearch_token"
RETRY_AFTER_S = 1


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str],
        max_body_bytes: int,
        read_tokens: Iterable[str] = (),
        max_in_flight: int = 0,
        on_reject: Callable[[], None] = lambda: None,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed_hosts}
        self.any_host = "*" in self.allowed
        self.max_body = max_body_bytes
        self.read_tokens = [t.encode() for t in read_tokens if t]
        self.max_in_flight = max_in_flight
        self.on_reject = on_reject
        self.body_timeout_s = body_timeout_s
        self.in_flight = 0  # only touched on the event loop thread: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if not self.any_host and host not in self.allowed:
            await _refuse(send, 400, f"host '{host}' is not served here; add it to server.allowed_hosts")
            return
        path: str = scope.get("path", "")
        if self.read_tokens and not path.startswith(PUBLIC_PATHS):
            if await self._token_refused(scope, headers, send):
                return
        if scope["method"] == "OPTIONS":
            await _options(scope, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _refuse(send, 413, self._too_large())
            return
        capped = self.max_in_flight > 0 and not path.startswith(UNCAPPED_PATHS)
        if capped and self.in_flight >= self.max_in_flight:
            self.on_reject()
            await _refuse(
                send,
                503,
                f"the server is busy ({self.in_flight} requests in flight, server.max_in_flight): "
                f"retry in {RETRY_AFTER_S} s",
                [(b"retry-after", str(RETRY_AFTER_S).encode())],
            )
            return
        if capped:
            self.in_flight += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            if capped:
                self.in_flight -= 1

    async def _token_refused(self, scope: Scope, headers: dict[str, str], send: Send) -> bool:
        """Check the read token; answers (401, or a redirect that sets the cookie) when it must."""
        offered = []
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered.append(credentials.strip())
        cookie = SimpleCookie(headers.get("cookie", ""))
        if TOKEN_COOKIE in cookie:
            offered.append(cookie[TOKEN_COOKIE].value)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = [value for key, value in query if key == "token"]
        if any(self._valid(t) for t in offered):
            return False
        if from_query and self._valid(from_query[0]) and scope["method"] == "GET":
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie_value = f"{TOKEN_COOKIE}={from_query[0]}; HttpOnly; SameSite=Strict; Path=/"
            await _refuse(
                send,
                303,
                "token accepted",
                [(b"location", location.encode()), (b"set-cookie", cookie_value.encode())],
            )
            return True
        await _refuse(
            send,
            401,
            "this server needs its read token: send 'Authorization: Bearer <token>' "
            "(or open a page once with ?token=<token>)",
            [(b"www-authenticate", b"Bearer")],
        )
        return True

    def _valid(self, token: str) -> bool:
        given = token.encode("utf-8", "replace")
        return any(hmac.compare_digest(given, expected) for expected in self.read_tokens)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = refused = body_done = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s

        async def counted() -> Message:
            nonlocal received, refused, body_done
            if body_done:  # past the body the app only waits for a disconnect: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(
                    receive(), max(0.0, deadline - asyncio.get_running_loop().time())
                )
            except TimeoutError:  # a client trickling its body (slowloris) holds a slot: let go
                refused = True
                if not started:
                    await _refuse(
                        send, 408, f"the request body did not arrive within {self.body_timeout_s:g} s"
                    )
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_body and not refused:
                    refused = True
                    if not started:
                        await _refuse(send, 413, self._too_large())
                    return {"type": "http.disconnect"}  # the app stops reading; its answer is dropped
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    def _too_large(self) -> str:
        return f"the request body is over {self.max_body // 1024} KB (server.max_body_kb)"


def _leaf_routes(routes: Iterable[Any], path: str) -> Iterable[tuple[Any, str]]:
    """Every route with the path it would see: included routers (FastAPI keeps them as one
    entry each, holding the original router and its prefix) are opened up."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is None:
            yield route, path
            continue
        prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
        if path.startswith(prefix):
            yield from _leaf_routes(inner.routes, path[len(prefix) :] or "/")


async def _options(scope: Scope, send: Send) -> None:
    """204 with `Allow` listing the methods of every route whose path matches; 404 for none.
    (Starlette would answer 405 with the methods of the first route only, e.g. GET for a path
    whose POST route comes second.) A route matches the path fully or partially (wrong method)."""
    methods: set[str] = set()
    for route, path in _leaf_routes(getattr(scope.get("app"), "routes", []), scope.get("path", "")):
        match, _ = route.matches({**scope, "path": path, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or {"GET", "HEAD"})
    if not methods:
        await _refuse(send, 404, f"not found: {scope.get('path', '')}")
        return
    allow = ", ".join(sorted(methods | {"OPTIONS"}))
    await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(
    send: Send, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": error}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
