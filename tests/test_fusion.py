"""Fusion arithmetic, and hybrid ranking that trusts the embedder only as far as it can read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.config import SearchSettings, Settings
from indexer.embedders import HashingEmbedder
from indexer.pipeline import Indexer
from search.fusion import (
    FUSIONS,
    fuse,
    fuse_scores,
    fused_order,
    min_max,
    reciprocal_rank_fusion,
    score_blend,
    weighted_sum,
    z_scores,
)
from search.service import SearchService
from tests.conftest import write_corpus


def test_rrf_hand_worked() -> None:
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["c", "a"], 1.0)], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert sorted(fused, key=lambda key: -fused[key]) == ["a", "c", "b"]


def test_rrf_weights() -> None:
    fused = reciprocal_rank_fusion([(["a", "b"], 0.5), (["b", "a"], 1.0)], k=1)
    assert fused["a"] == pytest.approx(0.5 / 2 + 1.0 / 3)
    assert fused["b"] > fused["a"]


def test_rrf_zero_weight_drops_the_list() -> None:
    fused = reciprocal_rank_fusion([(["x", "y"], 0.0), (["b", "a"], 1.0)], k=60)
    assert set(fused) == {"a", "b"}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({}, {}),
        ({"a": 3.0}, {"a": 1.0}),
        ({"a": 2.0, "b": 2.0}, {"a": 1.0, "b": 1.0}),
        ({"a": -1.0, "b": 0.0, "c": 3.0}, {"a": 0.0, "b": 0.25, "c": 1.0}),
    ],
)
def test_min_max(scores: dict[str, float], expected: dict[str, float]) -> None:
    assert min_max(scores) == pytest.approx(expected)


def test_score_blend_hand_worked() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}  # -> 1, 0.5, 0
    keyword = {"c": 12.0, "d": 2.0}  # -> 1, 0
    fused = score_blend(dense, keyword, dense_weight=0.5, keyword_weight=0.5)
    assert fused == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.0})


def test_score_blend_zero_weights_do_not_divide_by_zero() -> None:
    assert score_blend({"a": 1.0}, {"b": 1.0}, 0.0, 0.0) == {"a": 0.0, "b": 0.0}


def test_fused_order_breaks_ties_by_best_input_rank() -> None:
    fused = {"z": 0.0, "a": 0.0, "m": 0.5, "b": 0.0}
    assert fused_order(fused, [["m", "b", "z"], ["a", "z"]]) == ["m", "a", "z", "b"]


@pytest.fixture
def bilingual(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[..., SearchService]:
    docs = write_corpus(
        tmp_path / "docs",
        {
            "bank_zh.txt": "央行再次提高了利率。\n",
            "cat_zh.txt": "小猫在谷仓里追老鼠。\n",
            "river_zh.txt": "河岸边的柳树在春天发芽。\n",
            "cats.txt": "The cat chases the mouse through the barn at night.\n",
        },
    )

    def open_service(multilingual: bool, **overrides: object) -> SearchService:
        embedder = HashingEmbedder()
        embedder.multilingual = multilingual  # type: ignore[misc]
        settings = make_settings(**overrides)
        Indexer(settings, embedder).index([docs])
        return SearchService.open(settings, embedder)

    return open_service


@pytest.mark.parametrize("fusion", ["rrf", "blend"])
def test_english_only_embedder_leaves_chinese_queries_to_keywords(
    bilingual: Callable[..., SearchService], fusion: str
) -> None:
    service = bilingual(False, search__fusion=fusion)
    for query in ("利率", "老鼠", "春天的柳树"):
        keyword = [h.doc_id for h in service.search_text(query, k=4, mode="keyword").hits]
        hybrid = [h.doc_id for h in service.search_text(query, k=4, mode="hybrid").hits]
        assert hybrid[: len(keyword)] == keyword
    assert service.searcher().dense_weight("利率") == 0.0
    assert service.searcher().dense_weight("interest rates") == 1.0


def test_multilingual_embedder_keeps_full_dense_weight(bilingual: Callable[..., SearchService]) -> None:
    assert bilingual(True).searcher().dense_weight("利率") == 1.0


@pytest.mark.parametrize("fusion", ["rrf", "blend"])
def test_hybrid_finds_documents_either_side_finds(
    bilingual: Callable[..., SearchService], fusion: str
) -> None:
    service = bilingual(True, search__fusion=fusion)
    hits = service.search_text("cat mouse", k=4, mode="hybrid").hits
    assert Path(hits[0].source).name == "cats.txt"
    assert len({h.doc_id for h in hits}) == len(hits)


def test_z_scores_hand_worked() -> None:
    assert z_scores({"a": 3.0, "b": 1.0}) == pytest.approx({"a": 1.0, "b": -1.0})
    assert z_scores({"a": 2.0}) == {"a": 1.0}  # a list of one: nothing to standardise against
    assert z_scores({"a": 2.0, "b": 2.0}) == {"a": 1.0, "b": 1.0}


def test_an_absent_key_takes_its_sides_lowest_normalised_score() -> None:
    fused = weighted_sum({"a": 1.0, "b": -1.0}, {"c": 2.0, "a": 0.0}, 1.0, 1.0)
    assert fused == pytest.approx({"a": 0.5, "b": -0.5, "c": 0.5})


def test_zscore_lets_the_confident_side_decide() -> None:
    """Dense scores are evenly spread (no standout); keyword has one document far above the
    rest of its list. Standardised, that document's keyword score (~7 sd) outweighs its being
    last on the dense side (-1.7 sd); min-max maps both extremes to 1 and 0, and the dense top
    edges ahead."""
    settings = SearchSettings()
    dense = [(f"d{i}", 0.6 - i * 0.002) for i in range(49)] + [("kw", 0.5)]
    keyword = [("kw", 20.0)] + [(f"d{i}", 1.0 - i * 0.001) for i in range(49)]
    assert fuse("zscore", dense, keyword, 1.0, settings)[0] == "kw"
    assert fuse("blend", dense, keyword, 1.0, settings)[0] == "d0"


@pytest.mark.parametrize("method", FUSIONS)
def test_every_fusion_keeps_every_key_once_and_respects_a_zero_dense_weight(method: str) -> None:
    settings = SearchSettings()
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    keyword = [("c", 9.0), ("d", 3.0), ("e", 1.0)]
    order = fuse(method, dense, keyword, 1.0, settings)
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    assert fuse(method, dense, keyword, 0.0, settings)[:2] == ["c", "d"]  # then ties at the floor


def test_zscore_scores_a_key_without_any_query_term_below_the_weakest_match() -> None:
    """With a complete keyword list, a document outside it has BM25 0: below every match, even
    when the dense side cannot read the query (weight 0) and ranks it first."""
    settings = SearchSettings()
    dense = [("none", 0.9), ("weak", 0.5), ("strong", 0.2)]
    keyword = [("strong", 21.6), ("weak", 5.5)]
    fused = fuse_scores("zscore", dense, keyword, 0.0, settings, keyword_complete=True)
    assert fused["strong"] > fused["weak"] > fused["none"]
    assert fused["none"] == pytest.approx((0 - 13.55) / 8.05)
    tied = fuse_scores("zscore", dense, keyword, 0.0, settings)  # a cut list: the floor is its lowest
    assert tied["none"] == tied["weak"]
