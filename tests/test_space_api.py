"""The embedding-space routes: topics and the map answer 202 while the atlas is computed, then
200; duplicates and outliers; the /map page and its assets; the CLI commands."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from indexer.pipeline import Indexer
from search.space import service as space_service
from tests.test_cli import semsearch
from tests.test_space import themed_corpus
from tests.web_helpers import local_client
from web.app import create_app


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    settings = make_settings(model__name="hashing-384")
    themed_corpus(tmp_path / "docs")
    Indexer(settings, HashingEmbedder(dim=384)).index([tmp_path / "docs"])
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with local_client(create_app(settings, HashingEmbedder(dim=384))) as client:
        yield client


def _ready(client: TestClient, path: str) -> dict[str, object]:
    for _ in range(500):
        answer = client.get(path)
        if answer.status_code == 200:
            return answer.json()
        assert answer.status_code == 202 and answer.json() == {"state": "computing", "retry_after_s": 1}
        time.sleep(0.02)
    raise AssertionError(f"{path} never became ready")


def test_topics_answer_computing_first_then_the_topics(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real = space_service.atlas_for

    def slow(*args: object) -> object:
        gate.wait(10)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(space_service, "atlas_for", slow)
    first = client.get("/api/topics")
    assert first.status_code == 202 and first.headers["Retry-After"] == "1"
    assert client.get("/api/map").status_code == 202
    page = client.get("/map")  # the page never waits for the atlas
    assert page.status_code == 200 and 'id="map-canvas"' in page.text
    gate.set()
    topics = _ready(client, "/api/topics")
    assert topics["state"] == "ready" and topics["documents"] == 25 and "points" not in topics
    points = _ready(client, "/api/map")["points"]
    assert isinstance(points, dict) and len(points["doc_id"]) == 25
    assert set(points) == {"doc_id", "title", "x", "y", "topic"}


def test_topics_with_k_and_bad_k(client: TestClient) -> None:
    answer = client.get("/api/topics", params={"k": 2})
    assert answer.status_code == 200 and answer.json()["k"] == 2
    assert client.get("/api/topics", params={"k": 0}).status_code == 422


def test_duplicates_and_outliers(client: TestClient) -> None:
    found = client.get("/api/duplicates", params={"threshold": 0.5}).json()
    assert found["groups_found"] >= 1 and found["groups"][0]["pairs"][0]["passage_a"]
    assert client.get("/api/duplicates", params={"threshold": 1.5}).status_code == 422
    outliers = client.get("/api/outliers", params={"limit": 2}).json()
    assert outliers["results"][0]["doc_id"].endswith("lighthouse.txt") and len(outliers["results"]) == 2


def test_map_page_assets_are_served_by_the_app(client: TestClient) -> None:
    page = client.get("/map", params={"q": "interest <b>rates</b>"})
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'data-query="interest &lt;b&gt;rates&lt;/b&gt;"' in page.text
    for asset in ("map.js", "map.css"):
        assert f"/static/{asset}?v=" in page.text
        assert client.get(f"/static/{asset}").status_code == 200
    assert "http" not in client.get("/static/map.js").text.replace("HTTP ", "")  # nothing from elsewhere


def test_cli_commands(settings: Settings) -> None:
    index = str(settings.index_dir)
    topics = semsearch("--index-dir", index, "topics", "--json").stdout
    assert json.loads(topics)["documents"] == 25
    text = semsearch("--index-dir", index, "topics", "--k", "3").stdout
    assert text.startswith("3 topics over 25 documents (k=3: given)")
    dups = semsearch("--index-dir", index, "duplicates", "--threshold", "0.5").stdout
    assert "groups of near-duplicates" in dups
    outliers = semsearch("--index-dir", index, "outliers", "--limit", "3").stdout
    assert "OUTLIER" in outliers.splitlines()[1] and "lighthouse.txt" in outliers.splitlines()[1]
    bad = semsearch("--index-dir", index, "duplicates", "--threshold", "2", check=False)
    assert bad.returncode == 1 and "threshold must be in (0, 1]" in bad.stderr
    for command in ("topics", "duplicates", "outliers", "classify"):
        assert semsearch(command, "--help").returncode == 0
