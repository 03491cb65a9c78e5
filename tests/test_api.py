"""The JSON API through TestClient (lifespan included), on small indexes built with the hashing fake."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.config import Settings, load_settings
from indexer.embedders import HashingEmbedder
from indexer.errors import QueryError, SemsearchError
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from search.searcher import SearchRequest, SearchResult
from tests.conftest import write_corpus
from tests.web_helpers import (
    WEB_CORPUS,
    XSS,
    CountingEmbedder,
    build_index,
    local_client,
    running_server,
)
from web.app import create_app
from web.batching import QueryBatcher
from web.deps import get_jobs, get_service
from web.embedding import SerializedEmbedder
from web.jobs import RebuildJobs
from web.server import TOKEN_ENV, api_token

WebIndex = tuple[Settings, HashingEmbedder, Path]


@pytest.fixture
def web_index(
    make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> WebIndex:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "web", WEB_CORPUS)
    build_index(settings, fake_embedder, corpus)
    return settings, fake_embedder, corpus


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory: pytest.TempPathFactory) -> WebIndex:
    """One index for the tests that only read (most of them): built once per module."""
    root = tmp_path_factory.mktemp("api")
    settings = load_settings(None, {"index_dir": str(root / "index")})
    embedder = HashingEmbedder()
    corpus = write_corpus(root / "web", WEB_CORPUS)
    build_index(settings, embedder, corpus)
    return settings, embedder, corpus


@pytest.fixture(scope="module")
def client(shared_index: WebIndex) -> Iterator[TestClient]:
    settings, embedder, _ = shared_index
    with local_client(create_app(settings, embedder, api_token="")) as client:
        yield client


def doc_id_of(corpus: Path, name: str) -> str:
    return str((corpus / name).resolve())


# -- health ---------------------------------------------------------------------------
def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_live_version(client: TestClient, shared_index: WebIndex) -> None:
    settings, _, _ = shared_index
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "version": IndexLayout(settings.index_dir).current_name()}


def test_without_index_readyz_and_search_are_503_until_one_is_built(
    make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = make_settings()
    with local_client(create_app(settings, fake_embedder)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert "semsearch index" in ready.json()["error"]
        for response in (
            client.get("/api/search", params={"q": "cat"}),
            client.get("/api/stats"),
            client.post("/api/search", json={"query": "cat"}),
        ):
            assert response.status_code == 503
            assert "no index" in response.json()["error"]
        build_index(settings, fake_embedder, write_corpus(tmp_path / "docs", WEB_CORPUS))
        assert client.get("/readyz").status_code == 200  # no restart needed
        assert client.get("/api/search", params={"q": "cat"}).status_code == 200


# -- search ---------------------------------------------------------------------------
def test_search_get_answers_the_documented_shape(client: TestClient, shared_index: WebIndex) -> None:
    _, _, corpus = shared_index
    response = client.get("/api/search", params={"q": "cat mouse barn", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"query", "mode", "took_ms", "total", "results"}
    assert body["query"] == "cat mouse barn"
    assert body["mode"] == "hybrid"
    assert body["took_ms"] >= 0
    assert 1 <= len(body["results"]) <= 3 <= body["total"]
    first = body["results"][0]
    assert set(first) == {
        "doc_id", "chunk_id", "title", "source", "score", "snippet", "highlights",
        "semantic_score", "keyword_score",
    }  # fmt: skip
    assert first["doc_id"] == doc_id_of(corpus, "cats.txt")
    start, end = first["highlights"][0]
    assert first["snippet"][start:end].lower() in {"cat", "mouse", "barn"}
    assert -1 <= first["semantic_score"] <= 1 and first["keyword_score"] > 0  # both sides found it


@pytest.mark.parametrize(
    ("mode", "semantic", "keyword"), [("semantic", True, False), ("keyword", False, True)]
)
def test_each_hit_carries_the_score_of_the_side_that_returned_it(
    client: TestClient, mode: str, semantic: bool, keyword: bool
) -> None:
    hits = client.get("/api/search", params={"q": "cat mouse barn", "mode": mode}).json()["results"]
    assert hits
    for hit in hits:
        assert (hit["semantic_score"] is not None) is semantic
        assert (hit["keyword_score"] is not None) is keyword
        assert hit["score"] == (hit["semantic_score"] if semantic else hit["keyword_score"])


QUERY = "cat mouse barn ham sandwiches with mustard"  # matches several documents, unequally


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_min_score_drops_hits_below_it_and_counts_only_those_above(client: TestClient, mode: str) -> None:
    every = client.get("/api/search", params={"q": QUERY, "mode": mode, "k": 20}).json()
    scores = [hit["score"] for hit in every["results"]]
    distinct = sorted(set(scores), reverse=True)
    threshold = (distinct[0] + distinct[1]) / 2  # keeps the best (and any tied with it)
    kept = client.get(
        "/api/search", params={"q": QUERY, "mode": mode, "k": 20, "min_score": threshold}
    ).json()
    assert [h["score"] for h in kept["results"]] == [s for s in scores if s >= threshold]
    assert kept["total"] == len(kept["results"]) < every["total"]
    body = {"query": QUERY, "mode": mode, "k": 20, "min_score": threshold}
    assert client.post("/api/search", json=body).json()["results"] == kept["results"]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"min_score": "high"}, "min_score"), ({"min_score": "nan"}, "min_score must be a finite number")],
)
def test_bad_min_score_is_a_422_naming_it(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/search", params={"q": "cat", **params})
    assert response.status_code == 422
    assert message in response.json()["error"]
    response = client.post("/api/search", json={"query": "cat", "min_score": True})
    assert response.status_code == 422 and "min_score" in response.json()["error"]


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_search_modes(client: TestClient, shared_index: WebIndex, mode: str) -> None:
    _, _, corpus = shared_index
    body = client.get("/api/search", params={"q": "telescope galaxy", "mode": mode}).json()
    assert body["mode"] == mode
    assert body["results"][0]["doc_id"] == doc_id_of(corpus, "space.txt")


def test_search_post_matches_get(client: TestClient) -> None:
    got = client.get("/api/search", params={"q": "interest rates", "k": 2}).json()
    posted = client.post("/api/search", json={"query": "interest rates", "k": 2}).json()
    assert [r["doc_id"] for r in posted["results"]] == [r["doc_id"] for r in got["results"]]


def test_offset_pages_through_the_same_ranking(client: TestClient) -> None:
    whole = client.get("/api/search", params={"q": "ham sandwiches", "k": 4}).json()["results"]
    second = client.get("/api/search", params={"q": "ham sandwiches", "k": 2, "offset": 2}).json()["results"]
    assert [r["doc_id"] for r in second] == [r["doc_id"] for r in whole[2:4]]


def test_metadata_and_source_filters(client: TestClient, shared_index: WebIndex) -> None:
    _, _, corpus = shared_index
    body = client.post(
        "/api/search", json={"query": "bread dumplings moon", "k": 10, "filters": {"category": "cooking"}}
    ).json()
    assert {r["doc_id"] for r in body["results"]} == {"art-1", "art-3"}
    by_year = client.get(
        "/api/search",
        params=[("q", "bread dumplings moon"), ("filter", "category:cooking"), ("filter", "year:2021")],
    ).json()
    assert [r["doc_id"] for r in by_year["results"]] == ["art-3"]
    under_sub = client.get("/api/search", params={"q": "bank", "filter": f"source:{corpus / 'sub'}"}).json()
    assert [r["doc_id"] for r in under_sub["results"]] == [doc_id_of(corpus, "sub/bank.html")]
    recent = client.post("/api/search", json={"query": "cat", "filters": {"modified_after": "2999-01-01"}})
    assert recent.json()["results"] == []


def test_collapse_false_returns_several_chunks_of_one_document(
    client: TestClient, shared_index: WebIndex
) -> None:
    _, _, corpus = shared_index
    query = {"query": "lighthouse keeper storms ships tides", "k": 5, "mode": "keyword"}
    collapsed = client.post("/api/search", json=query).json()["results"]
    chunks = client.post("/api/search", json={**query, "collapse": False}).json()["results"]
    lighthouse = doc_id_of(corpus, "lighthouse.txt")
    assert [r["doc_id"] for r in collapsed].count(lighthouse) == 1
    assert [r["doc_id"] for r in chunks].count(lighthouse) > 1
    assert len({r["chunk_id"] for r in chunks}) == len(chunks)


GET_ERRORS = [
    ({}, 422, "q: required"),
    ({"q": ""}, 422, "the query is empty"),
    ({"q": "   "}, 422, "the query is empty"),
    ({"q": "x" * 1001}, 422, "the limit is 1000"),
    ({"q": "cat", "k": 0}, 422, "k must be between 1 and 100"),
    ({"q": "cat", "k": 101}, 422, "k must be between 1 and 100"),
    ({"q": "cat", "k": "ten"}, 422, "k: Input should be a valid integer"),
    ({"q": "cat", "k": "1.5"}, 422, "k: Input should be a valid integer"),
    ({"q": "cat", "offset": -1}, 422, "offset must be between"),
    ({"q": "cat", "mode": "fuzzy"}, 422, "mode: Input should be 'semantic', 'keyword' or 'hybrid'"),
    ({"q": "cat", "collapse": "maybe"}, 422, "collapse: Input should be a valid boolean"),
    ({"q": "cat", "filter": "colour:red"}, 422, "unknown filter field 'colour'; filterable fields: source"),
    ({"q": "cat", "filter": "category"}, 422, "filter expects field:value"),
    ({"q": "cat", "filter": "modified_after:last tuesday"}, 422, "is not a date"),
]


@pytest.mark.parametrize(("params", "status", "message"), GET_ERRORS)
def test_search_get_errors_are_4xx_with_a_message(
    client: TestClient, params: dict[str, object], status: int, message: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == status
    assert message in response.json()["error"]


POST_ERRORS = [
    (b'{"query": "cat",', 400, "not valid JSON"),
    (b"query=cat", 422, "must be a JSON object"),
    (b'["cat"]', 422, "must be a JSON object"),
    (b"", 422, "the request body is missing"),
    (b'{"querry": "cat"}', 422, "querry: unknown field"),
    (b'{"query": 42}', 422, "query: Input should be a valid string"),
    (b'{"query": null}', 422, "query: Input should be a valid string"),
    (b'{"query": "cat", "k": "many"}', 422, "k: Input should be a valid integer"),
    (b'{"query": "cat", "k": 1000}', 422, "k must be between 1 and 100"),
    (b'{"query": ""}', 422, "the query is empty"),
    (b'{"query": "cat", "filters": ["category"]}', 422, "filters: Input should be a valid dictionary"),
    (
        b'{"query": "cat", "filters": {"category": {"$ne": 1}}}',
        422,
        "filter category: expected a single value",
    ),
    (b'{"query": "cat", "filters": {"nope": 1}}', 422, "unknown filter field 'nope'"),
    (b'{"query": "cat", "filters": {"source": 5}}', 422, "filter source: expected a path prefix"),
    (b'{"query": "cat", "mode": "vector"}', 422, "mode: Input should be"),
    (b'{"query": "\\ud800"}', 422, "query is not valid Unicode text"),
    (b'{"query": "cat", "filters": {"category": "x\\udc00"}}', 422, "filters.category is not valid Unicode"),
]


@pytest.mark.parametrize(("body", "status", "message"), POST_ERRORS)
def test_search_post_errors_are_4xx_with_a_message(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    content_type = "application/x-www-form-urlencoded" if body == b"query=cat" else "application/json"
    response = client.post("/api/search", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


# -- batch ----------------------------------------------------------------------------
def test_batch_embeds_all_queries_in_one_call(shared_index: WebIndex) -> None:
    settings, _, corpus = shared_index
    embedder = CountingEmbedder()
    with local_client(create_app(settings, embedder)) as client:
        queries = [
            {"query": "cat mouse"},
            {"query": "galaxy", "k": 1, "mode": "semantic"},
            {"query": "bank rates", "mode": "keyword"},
            {"query": "pickles", "k": 2},
        ]
        response = client.post("/api/search/batch", json={"queries": queries})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["query"] for r in results] == [q["query"] for q in queries]
    assert results[0]["results"][0]["doc_id"] == doc_id_of(corpus, "cats.txt")
    assert len(results[1]["results"]) == 1
    assert results[2]["mode"] == "keyword"
    assert embedder.query_batches == [3]  # one call; the keyword query needs no vector


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queries": []}, "queries: List should have at least 1 item"),
        ({"queries": [{"query": "cat"}] * 65}, "queries: List should have at most 64 items"),
        ({"queries": [{"query": "cat"}, {"query": "cat", "k": 0}]}, "queries[1]: k must be between"),
        ({"queries": [{"query": "cat"}, {"text": "cat"}]}, "queries[1].query: required"),
        ({"query": "cat"}, "queries: required"),
        ({"queries": [{"query": "a"}, {"query": "\ud800"}]}, "queries[1]: query is not valid Unicode"),
    ],
)
def test_batch_errors(client: TestClient, body: dict[str, object], message: str) -> None:
    response = client.post(  # json.dumps escapes the lone surrogate; httpx's encoder would choke
        "/api/search/batch", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert message in response.json()["error"]


# -- documents and similar ------------------------------------------------------------
def test_document_by_path_id_and_by_record_id(client: TestClient, shared_index: WebIndex) -> None:
    _, _, corpus = shared_index
    doc_id = doc_id_of(corpus, "lighthouse.txt")
    # the id as a plain path (so the URL has '//') and fully URL-encoded both work
    for url in ("/api/documents/" + doc_id, "/api/documents/" + quote(doc_id, safe="")):
        response = client.get(url)
        assert response.status_code == 200, url
        document = response.json()
        assert document["doc_id"] == doc_id
        assert document["title"] == "The lighthouse log"
        assert len(document["chunks"]) > 1
        for chunk in document["chunks"]:
            assert document["text"][chunk["start"] : chunk["end"]].split()[:3] == chunk["text"].split()[:3]
    record = client.get("/api/documents/art-1").json()
    assert record["metadata"] == {"category": "cooking", "year": 2022}


def test_document_text_is_returned_verbatim_in_json(client: TestClient, shared_index: WebIndex) -> None:
    _, _, corpus = shared_index
    document = client.get("/api/documents/" + quote(doc_id_of(corpus, "xss.txt"), safe="")).json()
    assert XSS in document["text"]
    assert client.get("/api/documents/x").headers["content-type"] == "application/json"


def test_unknown_document_is_404(client: TestClient) -> None:
    for url in ("/api/documents/no/such/doc.txt", "/api/similar/no-such-id"):
        response = client.get(url)
        assert response.status_code == 404
        assert "no document with id" in response.json()["error"]


def test_similar_excludes_the_document_itself(client: TestClient) -> None:
    response = client.get("/api/similar/art-1", params={"k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["doc_id"] == "art-1"
    assert 1 <= len(body["results"]) <= 3
    assert "art-1" not in [r["doc_id"] for r in body["results"]]


@pytest.mark.parametrize("k", [0, 101])
def test_similar_k_out_of_range(client: TestClient, k: int) -> None:
    response = client.get("/api/similar/art-1", params={"k": k})
    assert response.status_code == 422
    assert "k must be between 1 and 100" in response.json()["error"]


def test_stats(client: TestClient) -> None:
    stats = client.get("/api/stats").json()
    assert stats["documents"] == 9
    assert stats["model"] == "hashing-256"
    assert stats["chunks"] >= stats["documents"]


# -- routing, docs, unexpected errors -------------------------------------------------
def test_unknown_api_route_and_wrong_method(client: TestClient) -> None:
    missing = client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found: /api/nothing"}
    wrong = client.get("/api/search/batch")
    assert wrong.status_code == 405
    assert "GET is not allowed" in wrong.json()["error"]


def test_openapi_lists_every_endpoint_and_docs_load_nothing_from_outside(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/search",
        "/api/search/batch",
        "/api/documents/{doc_id}",
        "/api/similar/{doc_id}",
        "/api/stats",
        "/healthz",
        "/readyz",
        "/api/rebuild",
        "/api/rebuild/{job_id}",
    ):
        assert path in paths
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text
    assert client.get("/static/swagger-ui-bundle.js").status_code == 200


def test_an_unexpected_error_is_a_json_500_without_internals(shared_index: WebIndex) -> None:
    settings, embedder, _ = shared_index
    app = create_app(settings, embedder)

    class Broken:
        settings = shared_index[0]

        def request(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internals")

    app.dependency_overrides[get_service] = Broken
    with local_client(app, raise_server_exceptions=False) as client:
        response = client.get("/api/search", params={"q": "cat"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error (the server log has the details)"}


# -- rebuild --------------------------------------------------------------------------
def wait_for_job(client: TestClient, job: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.get(f"/api/rebuild/{job}", headers=headers).json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish")


def test_rebuild_is_off_without_a_configured_token(client: TestClient) -> None:
    for response in (
        client.post("/api/rebuild"),
        client.post("/api/rebuild", headers={"Authorization": "Bearer x"}),
        client.get("/api/rebuild/abc"),
    ):
        assert response.status_code == 403
        assert "rebuild endpoint is disabled" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}, {"Authorization": "s3cret"}],
)
def test_rebuild_needs_the_right_token(shared_index: WebIndex, headers: dict[str, str]) -> None:
    settings, embedder, _ = shared_index
    with local_client(create_app(settings, embedder, api_token="s3cret")) as client:
        response = client.post("/api/rebuild", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["error"]
        assert client.get("/api/rebuild/abc", headers=headers).status_code == 401


def test_rebuild_token_comes_from_config_and_env_overrides(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(server__api_token="from-config")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert api_token(settings) == "from-config"
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert api_token(settings) == "from-env"


def test_rebuild_job_publishes_a_new_version(web_index: WebIndex) -> None:
    settings, embedder, corpus = web_index
    auth = {"Authorization": "Bearer s3cret"}
    with local_client(create_app(settings, embedder, api_token="s3cret")) as client:
        before = client.get("/readyz").json()["version"]
        (corpus / "new.txt").write_text("Penguins huddle together against the antarctic wind.\n")
        started = client.post("/api/rebuild", headers=auth)
        assert started.status_code == 202
        job = started.json()["job"]
        assert started.headers["location"] == f"/api/rebuild/{job}"
        state = wait_for_job(client, job, auth)
        assert state["state"] == "done", state
        assert state["stage"] == "published"
        assert state["report"]["documents"] == 10
        assert state["error"] is None
        assert client.get("/readyz").json()["version"] != before
        hits = client.get("/api/search", params={"q": "penguins antarctic"}).json()["results"]
        assert hits[0]["doc_id"] == doc_id_of(corpus, "new.txt")
        assert client.get("/api/rebuild/nope", headers=auth).status_code == 404


def test_second_rebuild_while_one_runs_is_409(web_index: WebIndex) -> None:
    settings, embedder, _ = web_index
    entered, release = threading.Event(), threading.Event()

    def slow_indexer(
        settings: Settings, embedder: object, warn: Callable[[str], None], hook: Callable[[str], None]
    ) -> Indexer:
        def held(stage: str) -> None:
            hook(stage)
            if stage == "created":
                entered.set()
                release.wait(20)

        return Indexer(settings, embedder, warn=warn, hook=held)  # type: ignore[arg-type]

    jobs = RebuildJobs(settings, embedder, make_indexer=slow_indexer)
    app = create_app(settings, embedder, api_token="t")
    app.dependency_overrides[get_jobs] = lambda: jobs
    auth = {"Authorization": "Bearer t"}
    with local_client(app) as client:
        job = client.post("/api/rebuild", headers=auth).json()["job"]
        assert entered.wait(10)
        running = client.get(f"/api/rebuild/{job}", headers=auth).json()
        assert (running["state"], running["stage"]) == ("running", "created")
        second = client.post("/api/rebuild", headers=auth)
        assert second.status_code == 409
        assert f"already running (job {job})" in second.json()["error"]
        assert client.get("/api/search", params={"q": "cat"}).status_code == 200  # searches go on
        release.set()
        assert wait_for_job(client, job, auth)["state"] == "done"
        assert client.post("/api/rebuild", headers=auth).status_code == 202  # free again
        jobs.wait_all(20)


def test_rebuild_job_reports_failure(web_index: WebIndex) -> None:
    settings, embedder, _ = web_index
    auth = {"Authorization": "Bearer t"}
    with local_client(create_app(settings, embedder, api_token="t")) as client:
        with IndexLayout(settings.index_dir).writer_lock():  # as if `semsearch index` were running
            job = client.post("/api/rebuild", headers=auth).json()["job"]
            state = wait_for_job(client, job, auth)
        assert state["state"] == "failed"
        assert "another process is writing the index" in state["error"]
        assert client.get("/readyz").status_code == 200


def test_rebuild_job_reports_an_unexpected_error() -> None:
    def broken(*_args: object) -> Indexer:
        raise RuntimeError("disk on fire")

    jobs = RebuildJobs(None, None, make_indexer=broken)  # type: ignore[arg-type]
    job = jobs.wait(jobs.start().id, 10)
    assert (job.state, job.error) == ("failed", "internal error: RuntimeError: disk on fire")


# -- following a new index, concurrency, micro-batching --------------------------------
def test_server_follows_an_index_published_by_another_process(
    make_settings: Callable[..., Settings], fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = make_settings()
    first = write_corpus(tmp_path / "a", {"cats.txt": "The cat chases the mouse through the barn.\n"})
    build_index(settings, fake_embedder, first)
    with local_client(create_app(settings, fake_embedder)) as client:
        assert (
            client.get("/api/search", params={"q": "penguins"})
            .json()["results"][0]["doc_id"]
            .endswith("cats.txt")
        )
        second = write_corpus(tmp_path / "b", {"birds.txt": "Penguins huddle against the antarctic wind.\n"})
        Indexer(settings, HashingEmbedder()).rebuild([second])  # a separate writer, as `semsearch rebuild`
        hits = client.get("/api/search", params={"q": "penguins"}).json()["results"]
        assert [h["doc_id"] for h in hits] == [str((second / "birds.txt").resolve())]


def test_in_flight_requests_survive_publishes(web_index: WebIndex) -> None:
    """Real server, 4 client threads searching while 3 new versions are published."""
    settings, embedder, corpus = web_index
    stop = threading.Event()
    failures: list[str] = []
    counts: list[int] = []

    def hammer(base: str, worker: int) -> None:
        done = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set() or done < 3:  # a loaded machine still gets some requests in
                response = http.get("/api/search", params={"q": f"cat mouse {worker} {done}"})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                done += 1
        counts.append(done)

    with running_server(create_app(settings, embedder)) as base:
        threads = [threading.Thread(target=hammer, args=(base, n)) for n in range(4)]
        for thread in threads:
            thread.start()
        for n in range(3):
            (corpus / f"extra{n}.txt").write_text(f"Extra note number {n} about cats.\n")
            Indexer(settings, HashingEmbedder()).index([corpus])
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(30)
        final = httpx.get(f"{base}/api/stats").json()
    assert failures == []
    assert sum(counts) >= 12
    assert final["documents"] == 12


def test_batcher_groups_concurrent_requests_and_isolates_failures() -> None:
    seen: list[list[str]] = []
    gate = threading.Event()

    def run(requests: list[SearchRequest]) -> list[SearchResult]:
        gate.wait(5)
        seen.append([r.query for r in requests])
        if any(r.query == "bad" for r in requests):
            raise QueryError("bad query")
        return [SearchResult(r.query, r.mode, 0.0, 0, []) for r in requests]

    batcher = QueryBatcher(run, window_s=0.05)
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = {
                q: pool.submit(batcher.submit, [SearchRequest(q)]) for q in ["a", "b", "c", "bad", "d", "e"]
            }
            time.sleep(0.2)
            gate.set()
            answers = {q: f.exception() or f.result()[0].query for q, f in futures.items()}
    finally:
        batcher.close()
    assert isinstance(answers.pop("bad"), QueryError)
    assert answers == {q: q for q in "abcde"}
    assert max(len(batch) for batch in seen) > 1  # some went together


def test_a_request_that_fails_to_build_fails_alone_on_the_batchers_thread() -> None:
    """Async routes hand the batcher a builder (it checks the query): a bad one's error is its
    own future's, the requests batched beside it are answered, and the builder ran off the
    caller's thread."""
    answered: list[list[str]] = []
    built_on: list[str] = []

    def run(requests: list[SearchRequest]) -> list[SearchResult]:
        answered.append([r.query for r in requests])
        return [SearchResult(r.query, r.mode, 0.0, 0, []) for r in requests]

    def builder(query: str) -> Callable[[], list[SearchRequest]]:
        def build() -> list[SearchRequest]:
            built_on.append(threading.current_thread().name)
            if query == "bad":
                raise QueryError("k must be between 1 and 100, got 0")
            return [SearchRequest(query)]

        return build

    batcher = QueryBatcher(run, window_s=0.05)
    try:
        futures = {q: batcher.enqueue(builder(q)) for q in ["a", "bad", "b"]}
        outcomes = {q: f.exception(5) or f.result(5)[0].query for q, f in futures.items()}
    finally:
        batcher.close()
    assert isinstance(outcomes.pop("bad"), QueryError)
    assert outcomes == {"a": "a", "b": "b"}
    assert sorted(q for batch in answered for q in batch) == ["a", "b"]
    assert set(built_on) == {"query-batcher"}


def test_concurrent_http_queries_share_one_embedding_batch(shared_index: WebIndex) -> None:
    settings, _, _ = shared_index
    embedder = CountingEmbedder(delay=0.2)  # a slow model: queries pile up while it works
    with running_server(create_app(settings, embedder)) as base:
        with ThreadPoolExecutor(6) as pool:
            responses = list(
                pool.map(
                    lambda n: httpx.get(f"{base}/api/search", params={"q": f"cat {n}"}, timeout=30), range(6)
                )
            )
    assert [r.status_code for r in responses] == [200] * 6
    assert [r.json()["query"] for r in responses] == [f"cat {n}" for n in range(6)]
    assert len(embedder.query_batches) < 6
    assert sum(embedder.query_batches) == 6


def test_batch_window_zero_turns_batching_off(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(server__batch_window_ms=0)
    build_index(settings, HashingEmbedder(), write_corpus(tmp_path / "d", WEB_CORPUS))
    app = create_app(settings, HashingEmbedder())
    with local_client(app) as client:
        assert app.state.batcher is None
        assert client.get("/api/search", params={"q": "cat"}).status_code == 200


def test_engine_errors_map_to_documented_status_codes() -> None:
    from indexer.errors import ConfigError, IndexBusy, IndexNotFound, ModelMismatch, NotFound
    from web.errors import status_for

    assert [
        status_for(e("x"))
        for e in (QueryError, NotFound, IndexNotFound, IndexBusy, ModelMismatch, ConfigError, SemsearchError)
    ] == [422, 404, 503, 409, 503, 500, 500]


@pytest.mark.slow
def test_real_model_finds_the_cat_for_kitten_hunting_rodents(
    make_settings: Callable[..., Settings], real_embedder: object, tmp_path: Path
) -> None:
    settings = make_settings()
    corpus = write_corpus(tmp_path / "docs", WEB_CORPUS)
    build_index(settings, real_embedder, corpus)
    with local_client(create_app(settings, real_embedder)) as client:  # type: ignore[arg-type]
        for mode in ("semantic", "hybrid"):
            body = client.get("/api/search", params={"q": "kitten hunting rodents", "mode": mode}).json()
            assert body["results"][0]["doc_id"] == doc_id_of(corpus, "cats.txt"), (mode, body)
        sandwich = client.post(
            "/api/search",
            json={"query": "something to eat between two slices of bread", "mode": "semantic", "k": 2},
        ).json()
        assert doc_id_of(corpus, "food.md") in [r["doc_id"] for r in sandwich["results"]]


def test_a_lone_client_never_waits_for_the_batch_window() -> None:
    batcher = QueryBatcher(lambda rs: [SearchResult(r.query, r.mode, 0.0, 0, []) for r in rs], window_s=0.5)
    try:
        started = time.monotonic()
        for query in "abc":
            assert batcher.submit([SearchRequest(query)])[0].query == query
        assert time.monotonic() - started < 0.4
    finally:
        batcher.close()


def test_serialized_embedder_gives_the_models_vectors_in_slices() -> None:
    inner = CountingEmbedder()
    shared = SerializedEmbedder(inner, slice_size=3)
    texts = [f"note {n} about cats" for n in range(7)]
    assert np.allclose(shared.embed_documents(texts), inner.embed_documents(texts))
    assert shared.embed_documents([]).shape == (0, inner.dim)
    assert np.allclose(shared.embed_queries(["cat"]), inner.embed_queries(["cat"]))
    assert (shared.backend, shared.model_id, shared.dim, shared.max_tokens, shared.multilingual) == (
        inner.backend,
        inner.model_id,
        inner.dim,
        inner.max_tokens,
        inner.multilingual,
    )


def test_a_query_waits_for_at_most_one_slice_of_a_rebuild() -> None:
    class SlowDocuments(HashingEmbedder):
        def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
            time.sleep(0.05)  # one slice of the rebuild
            return super().embed_documents(texts)

    shared = SerializedEmbedder(SlowDocuments(), slice_size=2)
    rebuild = threading.Thread(target=shared.embed_documents, args=([f"chunk {n}" for n in range(40)],))
    rebuild.start()  # 20 slices: about 1 s
    time.sleep(0.1)
    waits = []
    for _ in range(3):
        started = time.monotonic()
        shared.embed_queries(["cat"])
        waits.append(time.monotonic() - started)
    rebuild.join()
    assert max(waits) < 0.3, waits


def test_the_app_loads_the_configured_model_when_none_is_given(shared_index: WebIndex) -> None:
    settings, _, _ = shared_index
    configured = settings.model_copy(
        update={"model": settings.model.model_copy(update={"backend": "hashing"})}
    )
    with local_client(create_app(configured)) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/search", params={"q": "cat"}).json()["results"]


def test_documents_list_and_delete_behind_the_token(web_index: WebIndex) -> None:
    settings, embedder, corpus = web_index
    with local_client(create_app(settings, embedder, api_token="s3cret")) as client:
        page = client.get("/api/documents", params={"limit": 2}).json()
        assert page["total"] > 2 and len(page["documents"]) == 2
        assert client.get("/api/documents", params={"limit": 0}).status_code == 422
        doc_id = page["documents"][0]["doc_id"]
        url = "/api/documents/" + quote(doc_id, safe="")
        assert client.delete(url).status_code == 401
        deleted = client.delete(url, headers={"Authorization": "Bearer s3cret"})
        assert deleted.status_code == 200 and deleted.json()["deleted"] == 1
        assert client.get(url).status_code == 404
        assert client.get("/api/stats").json()["documents"] == page["total"] - 1
        again = client.delete(url, headers={"Authorization": "Bearer s3cret"})
        assert again.status_code == 404 and "no document matches" in again.json()["error"]


@pytest.mark.parametrize(
    ("host", "status_code"),
    [("127.0.0.1:8000", 200), ("localhost", 200), ("[::1]:8000", 200), ("evil.example", 400), ("", 400)],
)
def test_only_our_host_names_are_served(shared_index: WebIndex, host: str, status_code: int) -> None:
    """DNS rebinding: a page elsewhere whose name resolves to 127.0.0.1 sends its own Host."""
    settings, embedder, _ = shared_index
    with local_client(create_app(settings, embedder)) as client:
        response = client.get("/api/search", params={"q": "cat"}, headers={"Host": host})
        assert response.status_code == status_code
        if status_code == 400:
            assert "server.allowed_hosts" in response.json()["error"]


def test_oversized_bodies_get_413_before_parsing(web_index: WebIndex) -> None:
    settings, embedder, _ = web_index
    small = settings.model_copy(update={"server": settings.server.model_copy(update={"max_body_kb": 4})})
    with local_client(create_app(small, embedder)) as client:
        big = {"query": "cat " * 2000}
        response = client.post("/api/search", json=big)
        assert response.status_code == 413 and "max_body_kb" in response.json()["error"]

        def chunks():  # no Content-Length: counted as it streams in
            yield b'{"query": "'
            for _ in range(10):
                yield b"cat " * 1000
            yield b'"}'

        streamed = client.post("/api/search", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert client.post("/api/search", json={"query": "cat"}).status_code == 200


@pytest.mark.parametrize(
    "body", [{"query": "cat", "k": True}, {"query": "cat", "collapse": 0}, {"query": "cat", "k": "5"}]
)
def test_types_are_not_coerced(client: TestClient, body: dict) -> None:
    response = client.post("/api/search", json=body)
    assert response.status_code == 422, response.text


def test_openapi_states_the_static_limits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SearchBody"]["properties"]
    assert schema["query"]["minLength"] == 1
    assert schema["offset"]["minimum"] == 0
    assert schema["k"]["minimum"] == 1
