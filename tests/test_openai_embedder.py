"""Embeddings over HTTP both ways: the OpenAI-compatible backend against a scripted endpoint, the
server's /v1/embeddings, and a second engine embedding through the first one's endpoint over
loopback, which must rank the sample corpus exactly as the local model does."""

from __future__ import annotations

import io
import json
import urllib.error
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.config import ApiEmbedderSettings, Settings, load_settings
from indexer.embedders import HashingEmbedder, create_embedder, embedder_for
from indexer.errors import ModelMismatch
from indexer.openai_embedder import EmbeddingServiceError, OpenAIEmbedder
from indexer.pipeline import Indexer
from search.service import SearchService
from tests.conftest import REPO
from tests.web_helpers import free_socket, local_client, running_server
from web.app import create_app

SAMPLE = REPO / "examples" / "corpus"
QUERIES = [
    "kitten hunting rodents",
    "利率上升",
    "how to prepare for a 42 km race",
    "bread dough",
    "black holes",
]


class Endpoint:
    """A scripted endpoint: answers from `script` in turn (an exception is raised), records calls."""

    def __init__(self, dim: int = 8, script: list[Any] | None = None) -> None:
        self.dim = dim
        self.script = list(script or [])
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        payload = json.loads(body)
        self.calls.append({"url": url, "payload": payload, "headers": headers, "timeout": timeout})
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step is not None:
                return step
        data = [{"index": i, "embedding": [float(i + 1)] * self.dim} for i in range(len(payload["input"]))]
        return {"data": list(reversed(data)), "model": payload["model"]}


def http_error(
    code: int, body: dict[str, Any] | None = None, retry_after: str | None = None
) -> urllib.error.HTTPError:
    headers = Message()
    if retry_after:
        headers["Retry-After"] = retry_after
    raw = io.BytesIO(json.dumps(body or {}).encode())
    return urllib.error.HTTPError("http://x/v1/embeddings", code, "error", headers, raw)


def make(endpoint: Endpoint, sleeps: list[float] | None = None, **api: Any) -> OpenAIEmbedder:
    settings = ApiEmbedderSettings(base_url="http://127.0.0.1:9/v1/", **api)
    record = sleeps.append if sleeps is not None else (lambda _s: None)
    return OpenAIEmbedder("text-embedding-3-small", settings, "sk-test", 3, endpoint, record)


def test_batches_keep_order_and_send_the_openai_request() -> None:
    endpoint = Endpoint()
    embedder = make(endpoint, timeout_s=7)
    assert embedder.dim == 8 and embedder.model_id == "text-embedding-3-small"
    vectors = embedder.embed_documents([f"text {i}" for i in range(7)])
    batches = [len(c["payload"]["input"]) for c in endpoint.calls[1:]]  # the first call probed the size
    assert batches == [3, 3, 1]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1)
    call = endpoint.calls[1]
    assert call["url"] == "http://127.0.0.1:9/v1/embeddings" and call["timeout"] == 7
    assert call["payload"]["model"] == "text-embedding-3-small" and "input_type" not in call["payload"]
    assert call["headers"]["Authorization"] == "Bearer sk-test"


def test_retries_with_backoff_then_succeeds() -> None:
    sleeps: list[float] = []
    endpoint = Endpoint(
        script=[None, http_error(503), urllib.error.URLError("refused"), http_error(429, retry_after="2")]
    )
    embedder = make(endpoint, sleeps, retries=3)
    assert embedder.embed_queries(["a"]).shape == (1, 8)
    assert sleeps == [0.5, 1.0, 2.0]  # exponential, then the server's Retry-After


def test_gives_up_after_the_retries_with_a_clear_message() -> None:
    endpoint = Endpoint(script=[None] + [http_error(503)] * 3)
    embedder = make(endpoint, [], retries=2)
    with pytest.raises(EmbeddingServiceError, match="HTTP 503"):
        embedder.embed_queries(["a"])
    assert len(endpoint.calls) == 4


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (http_error(404), "check model.api.base_url"),
        (http_error(401, {"error": {"message": "Incorrect API key"}}), "Incorrect API key.*OPENAI_API_KEY"),
        (http_error(400, {"error": {"message": "model not found"}}), "model not found.*model.name"),
    ],
)
def test_errors_that_retrying_cannot_fix_fail_at_once(error: Exception, message: str) -> None:
    endpoint = Endpoint(script=[error])
    with pytest.raises(EmbeddingServiceError, match=message):
        make(endpoint, [], retries=3)
    assert len(endpoint.calls) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"object": "list"}, "OpenAI embeddings list"),
        ({"data": [{"index": 0, "embedding": "AAAA"}]}, "not lists of numbers"),
        ({"data": [{"index": 5, "embedding": [1.0]}]}, "bad or repeated 'index'"),
    ],
)
def test_answers_that_are_not_embeddings_are_refused(answer: dict[str, Any], message: str) -> None:
    with pytest.raises(EmbeddingServiceError, match=message):
        make(Endpoint(script=[answer]))


def test_dimension_is_checked() -> None:
    with pytest.raises(EmbeddingServiceError, match="returned 8-d vectors.*dimensions is 16"):
        make(Endpoint(dim=8), dimensions=16)
    endpoint = Endpoint(dim=8)
    embedder = make(endpoint)
    endpoint.dim = 4  # the endpoint's model changed under us
    with pytest.raises(EmbeddingServiceError, match="returned 4-d vectors, not the 8-d"):
        embedder.embed_documents(["a"])


def test_unreachable_endpoint_is_named(make_settings: Callable[..., Settings]) -> None:
    closed = free_socket()  # bound, never listening: connections are refused at once
    port = closed.getsockname()[1]
    settings = make_settings(
        model__name="remote",
        model__backend="openai",
        model__api={"base_url": f"http://127.0.0.1:{port}/v1", "retries": 1},
    )
    with pytest.raises(
        EmbeddingServiceError, match=f"cannot reach .*127.0.0.1:{port}/v1/embeddings.*after 2 tries"
    ):
        create_embedder(settings.model)
    closed.close()
    with pytest.raises(Exception, match="model.api.base_url"):
        create_embedder(load_settings(None, {"model.name": "x", "model.backend": "openai"}).model)


def test_server_v1_embeddings_speaks_the_openai_format(make_settings: Callable[..., Settings]) -> None:
    embedder = HashingEmbedder(dim=384)
    with local_client(create_app(make_settings(), embedder)) as client:
        answer = client.post("/v1/embeddings", json={"input": ["glaciers", "interest rates"], "model": "any"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["object"] == "list" and body["model"] == "hashing-384"
        assert [d["index"] for d in body["data"]] == [0, 1]
        assert np.allclose(
            body["data"][1]["embedding"], embedder.embed_documents(["interest rates"])[0], atol=1e-6
        )
        single = client.post("/v1/embeddings", json={"input": "glaciers", "encoding_format": "base64"}).json()
        decoded = np.frombuffer(__import__("base64").b64decode(single["data"][0]["embedding"]), np.float32)
        assert np.allclose(decoded, body["data"][0]["embedding"])
        wrong = client.post("/v1/embeddings", json={"input": ["a"], "dimensions": 1536})
        assert wrong.status_code == 422 and "384-d" in wrong.json()["error"]["message"]
        assert client.post("/v1/embeddings", json={"inputs": ["a"]}).status_code == 422
        assert client.post("/v1/embeddings", json={"input": []}).status_code == 422


def _rankings(settings: Settings, embedder: Any) -> dict[tuple[str, str], list[tuple[str, float]]]:
    service = SearchService.open(settings, embedder)
    out = {}
    for query in QUERIES:
        for mode in ("semantic", "hybrid"):
            hits = service.search_text(query, k=10, mode=mode).hits
            out[(query, mode)] = [(h.doc_id, round(h.score, 5)) for h in hits]
    service.close()
    return out


def test_a_second_engine_embedding_through_the_first_ranks_the_same(tmp_path: Path) -> None:
    """Engine A serves its local model; engine B indexes and searches the sample corpus through
    A's /v1/embeddings over loopback. Both models count tokens their own way, so both take whole
    documents as chunks (a limit above any sample document) to chunk the corpus identically."""
    local = HashingEmbedder(dim=384, max_tokens=8192)
    served = load_settings(None, {"index_dir": str(tmp_path / "a")})
    Indexer(served, local).index([SAMPLE])
    with running_server(create_app(served, local)) as url:
        api = {"base_url": f"{url}/v1", "input_type": True, "max_tokens": 8192, "key_env": ""}
        remote_settings = load_settings(
            None,
            {
                "index_dir": str(tmp_path / "b"),
                "model.name": "semsearch-a",
                "model.backend": "openai",
                "model.api": api,
            },
        )
        remote = create_embedder(remote_settings.model)
        assert (remote.backend, remote.dim) == ("openai", 384)
        Indexer(remote_settings, remote).index([SAMPLE])
        through_http = _rankings(remote_settings, remote)
        # reopening the index later rebuilds the recorded embedder from the config (lazily)
        again = embedder_for(remote_settings, 1, model_given=False)
        assert again.embed_queries(["cat"]).shape == (1, 384)
        other = load_settings(
            None,
            {
                **remote_settings.model_dump(mode="json"),
                "model": {**remote_settings.model.model_dump(), "name": "semsearch-b"},
            },
        )
        with pytest.raises(ModelMismatch, match="semsearch-a"):
            SearchService.open(other, create_embedder(other.model))
    assert through_http == _rankings(served, local)
    assert all(through_http[(q, "semantic")] for q in QUERIES)
