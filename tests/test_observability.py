"""What an operator sees and controls: /metrics, request ids in JSON logs, the read token, the
in-flight cap (503 + Retry-After) and OPTIONS."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from tests.conftest import write_corpus
from tests.web_helpers import WEB_CORPUS, build_index, local_client
from web.app import create_app
from web.guards import RequestGuard
from web.observe import REQUEST_ID, JsonFormatter


@pytest.fixture
def indexed(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[..., Settings]:
    """Settings (with any overrides) over one small built index."""
    built = make_settings()
    build_index(built, HashingEmbedder(), write_corpus(tmp_path / "web", WEB_CORPUS))

    def with_overrides(**overrides: object) -> Settings:
        return make_settings(**overrides)

    return with_overrides


@pytest.fixture
def client(indexed: Callable[..., Settings]) -> Iterator[TestClient]:
    with local_client(create_app(indexed(), HashingEmbedder())) as client:
        yield client


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        if all(f'{key}="{val}"' in metric for key, val in labels.items()) and (
            metric == name or metric.startswith(name + "{")
        ):
            return float(value)
    return 0.0


def test_metrics_count_requests_by_route_and_searches_by_mode(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/api/search", params={"q": "cat", "mode": "keyword"}).status_code == 200
    assert client.post("/api/search", json={"query": "bank", "mode": "semantic"}).status_code == 200
    assert client.get("/api/documents/nope").status_code == 404
    text = client.get("/metrics").text
    assert "# TYPE semsearch_http_request_seconds histogram" in text
    route = {"route": "/api/search", "method": "GET", "status": "200"}
    assert _sample(text, "semsearch_http_requests_total", **route) == 3
    missing = {"route": "/api/documents/{doc_id:path}", "status": "404"}
    assert _sample(text, "semsearch_http_requests_total", **missing) == 1  # the template, not the raw path
    assert _sample(text, "semsearch_search_seconds_count", mode="keyword") == 3
    assert _sample(text, "semsearch_search_seconds_count", mode="semantic") == 1
    assert _sample(text, "semsearch_search_batch_size_count") >= 1
    assert _sample(text, "semsearch_index_documents") == client.get("/api/stats").json()["documents"] > 0
    assert _sample(text, "semsearch_index_generation") >= 1


def test_request_ids_are_returned_and_kept_when_sane(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 16 and generated != client.get("/healthz").headers["x-request-id"]
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 300}).headers["x-request-id"]
    assert hostile != "x" * 300 and len(hostile) == 16


def test_one_json_log_line_per_request_with_its_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="semsearch.access"):
        client.get("/api/search", params={"q": "cat"}, headers={"X-Request-ID": "req-42"})
    records = [r for r in caplog.records if r.name == "semsearch.access"]
    assert len(records) == 1
    token = REQUEST_ID.set("req-42")  # what the observer sets while the request is handled
    try:
        line = json.loads(JsonFormatter().format(records[0]))
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "req-42" and line["status"] == 200 and line["route"] == "/api/search"
    assert line["level"] == "info" and line["ms"] >= 0


def test_options_lists_every_method_of_the_path(client: TestClient) -> None:
    answer = client.options("/api/search")
    assert answer.status_code == 204
    assert set(answer.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert set(client.options("/api/rebuild").headers["allow"].split(", ")) == {"POST", "OPTIONS"}
    assert client.options("/no/such/path").status_code == 404


def test_the_read_token_guards_everything_but_health(indexed: Callable[..., Settings]) -> None:
    app = create_app(indexed(**{"server.read_token": "s3cret"}), HashingEmbedder())
    with local_client(app, follow_redirects=False) as client:
        for path in ("/api/search?q=cat", "/", "/metrics", "/api/stats", "/openapi.json"):
            refused = client.get(path)
            assert refused.status_code == 401 and "read token" in refused.json()["error"], path
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        assert client.get("/api/search?q=cat", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/search?q=cat", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        moved = client.get("/?q=cat&token=s3cret")
        assert moved.status_code == 303 and moved.headers["location"] == "/?q=cat"
        assert "HttpOnly" in moved.headers["set-cookie"]
        assert client.get("/?q=cat").status_code == 200  # the cookie now carries the token


def _slow_app(release: asyncio.Event) -> Callable[..., object]:
    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _call(guard: RequestGuard, path: str) -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"host", b"127.0.0.1")]}
    await guard(scope, receive, send)
    return sent[0]["status"], dict(sent[0].get("headers", []))


def test_requests_over_the_in_flight_cap_get_503_with_retry_after_at_once() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        rejected: list[int] = []
        guard = RequestGuard(
            _slow_app(release), ["127.0.0.1"], 1024, max_in_flight=2, on_reject=lambda: rejected.append(1)
        )
        waiting = [asyncio.create_task(_call(guard, "/api/search")) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert guard.in_flight == 2
        status, headers = await asyncio.wait_for(_call(guard, "/api/search"), timeout=1)
        assert status == 503 and headers[b"retry-after"] == b"1" and rejected == [1]
        health, _ = await asyncio.wait_for(asyncio.shield(_call_released(guard, release)), timeout=2)
        assert health == 200
        assert [status for status, _ in await asyncio.gather(*waiting)] == [200, 200]
        assert guard.in_flight == 0
        assert (await _call(guard, "/api/search"))[0] == 200  # room again

    asyncio.run(scenario())


async def _call_released(guard: RequestGuard, release: asyncio.Event) -> tuple[int, dict[bytes, bytes]]:
    """/healthz is never capped: it goes through while the cap is full (then frees the others)."""
    task = asyncio.create_task(_call(guard, "/healthz"))
    await asyncio.sleep(0.01)
    release.set()
    return await task


def test_a_body_that_trickles_in_too_slowly_gets_408() -> None:
    async def scenario() -> None:
        async def reading_app(scope: dict, receive: Callable, send: Callable) -> None:
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        guard = RequestGuard(reading_app, ["127.0.0.1"], 1 << 20, body_timeout_s=0.2)
        sent: list[dict] = []

        async def slow_receive() -> dict:
            await asyncio.sleep(0.15)  # each piece in time, the whole body not
            return {"type": "http.request", "body": b"x", "more_body": True}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/search",
            "headers": [(b"host", b"127.0.0.1")],
        }
        await asyncio.wait_for(guard(scope, slow_receive, send), timeout=5)
        assert sent[0]["status"] == 408

        sent.clear()

        async def one_piece() -> dict:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        await guard(scope, one_piece, send)
        assert sent[0]["status"] == 200  # a body in time is untouched

    asyncio.run(scenario())
