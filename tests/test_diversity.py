"""Diverse results: MMR on its own, then through the Searcher, the CLI and the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from indexer.errors import QueryError
from indexer.pipeline import Indexer
from search.diversity import mmr_order
from search.service import SearchService
from tests.conftest import write_corpus
from tests.test_cli import semsearch
from tests.web_helpers import local_client
from web.app import create_app


def _unit(rows: list[list[float]]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_no_diversity_keeps_the_ranking() -> None:
    vectors = _unit([[1, 0], [1, 0.01], [0, 1]])
    assert mmr_order(np.array([3.0, 2.0, 1.0]), vectors, 0.0, 3) == [0, 1, 2]


def test_diversity_skips_a_near_copy_for_something_new() -> None:
    vectors = _unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]])
    relevance = np.array([1.0, 0.95, 0.6, 0.0])
    # 0.5 * 0.95 - 0.5 * 1.0 < 0.5 * 0.0 - 0.5 * 0.0: even an irrelevant novelty beats the copy
    assert mmr_order(relevance, vectors, 0.5, 3) == [0, 2, 3]
    assert mmr_order(relevance, vectors, 0.2, 3) == [0, 1, 2]  # mostly relevance: the copy stays
    assert mmr_order(relevance, vectors, 0.0, 3) == [0, 1, 2]
    # novelty alone: after the first pick, always the one least like what is picked
    assert mmr_order(relevance, vectors, 1.0, 3)[1:] != [1, 2]


def test_pick_count_never_exceeds_the_pool() -> None:
    assert mmr_order(np.array([1.0]), _unit([[1, 0]]), 0.7, 5) == [0]
    assert mmr_order(np.zeros(0), np.zeros((0, 2), np.float32), 0.7, 5) == []


@pytest.fixture
def repetitive(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    """Eight near-copies about interest rates, and a few other documents that also match."""
    files: dict[str, str | bytes] = {
        f"rates/r{n}.txt": f"Interest rates rise again {n}; the central bank raises interest rates.\n"
        for n in range(8)
    }
    files["other/mortgage.txt"] = "Mortgage payments grow when interest rates climb.\n"
    files["other/savers.txt"] = "Savers earn more interest on deposits.\n"
    files["other/bonds.txt"] = "Bond prices fall when rates rise.\n"
    settings = make_settings()
    Indexer(settings, HashingEmbedder(dim=384)).index([write_corpus(tmp_path / "docs", files)])
    return settings


def _names(service: SearchService, **options: object) -> list[str]:
    result = service.search_text("interest rates rise", k=4, mode="semantic", **options)  # type: ignore[arg-type]
    return [Path(hit.doc_id).parent.name for hit in result.hits]


def test_searcher_diversity_brings_other_documents_up(repetitive: Settings) -> None:
    service = SearchService.open(repetitive, HashingEmbedder(dim=384))
    assert _names(service) == ["rates"] * 4
    diverse = _names(service, diversity=0.7)
    assert diverse[0] == "rates" and diverse.count("other") >= 2
    plain = service.search_text("interest rates rise", k=4, mode="semantic")
    again = service.search_text("interest rates rise", k=4, mode="semantic", diversity=0.7)
    assert again.total == plain.total  # diversity reorders; it does not change what matches
    paged = service.search_text("interest rates rise", k=2, offset=2, mode="semantic", diversity=0.7)
    assert [h.doc_id for h in paged.hits] == [h.doc_id for h in again.hits[2:4]]


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_diversity_out_of_range_is_refused(repetitive: Settings, value: float) -> None:
    service = SearchService.open(repetitive, HashingEmbedder(dim=384))
    with pytest.raises(QueryError, match="diversity must be between 0"):
        service.search_text("interest", diversity=value)


def test_diversity_in_the_api_and_the_page(repetitive: Settings) -> None:
    with local_client(create_app(repetitive, HashingEmbedder(dim=384))) as client:
        params = {"q": "interest rates rise", "k": 4, "mode": "semantic"}
        plain = client.get("/api/search", params=params).json()["results"]
        diverse = client.get("/api/search", params={**params, "diversity": 0.7}).json()["results"]
        assert [h["doc_id"] for h in plain] != [h["doc_id"] for h in diverse]
        body = {"query": "interest rates rise", "k": 4, "mode": "semantic", "diversity": 0.7}
        assert client.post("/api/search", json=body).json()["results"] == diverse
        bad = client.post("/api/search", json={**body, "diversity": 2})
        assert bad.status_code == 422 and "diversity" in bad.json()["error"]
        page = client.get("/", params={"q": "interest rates rise", "mode": "semantic", "diversity": "0.7"})
        assert page.status_code == 200
        assert page.text.count("other/") >= 2
        assert client.get("/", params={"q": "interest", "diversity": "lots"}).status_code == 422


def test_diversity_in_the_cli(repetitive: Settings) -> None:
    index = str(repetitive.index_dir)
    out = semsearch(
        "--index-dir",
        index,
        "search",
        "interest rates rise",
        "-k",
        "4",
        "--mode",
        "semantic",
        "--diversity",
        "0.7",
    ).stdout
    assert out.count("other/") >= 2
    bad = semsearch("--index-dir", index, "search", "interest", "--diversity", "3", check=False)
    assert bad.returncode == 1 and "diversity must be between 0" in bad.stderr
