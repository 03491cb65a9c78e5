from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import NotFound, QueryError
from indexer.pipeline import Indexer
from search.service import SearchService
from search.snippets import make_snippet, matcher
from tests.conftest import SMALL_CORPUS, write_corpus

LONG_DOC = " ".join(f"Paragraph {i} is about glaciers, fjords and cold water." for i in range(40))


@pytest.fixture
def service(make_settings, fake_embedder, tmp_path: Path) -> SearchService:
    corpus = write_corpus(tmp_path / "docs", {**SMALL_CORPUS, "long.txt": LONG_DOC})
    settings = make_settings()
    Indexer(settings, fake_embedder).index([corpus])
    return SearchService.open(settings, fake_embedder)


def test_collapse_gives_one_hit_per_document(service: SearchService) -> None:
    collapsed = service.search_text("glaciers fjords", k=10, mode="semantic")
    ids = [h.doc_id for h in collapsed.hits]
    assert len(ids) == len(set(ids)) == 6
    chunks = service.search_text("glaciers fjords", k=10, mode="semantic", collapse=False)
    long_hits = [h for h in chunks.hits if h.doc_id.endswith("long.txt")]
    assert len(long_hits) > 1 and len({h.chunk_id for h in long_hits}) == len(long_hits)


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_pages_are_consistent_slices(service: SearchService, mode: str) -> None:
    whole = service.search_text("the cat and the bank", k=4, mode=mode).hits
    first = service.search_text("the cat and the bank", k=2, mode=mode).hits
    second = service.search_text("the cat and the bank", k=2, offset=2, mode=mode).hits
    assert [h.doc_id for h in first + second] == [h.doc_id for h in whole]


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
@pytest.mark.parametrize("collapse", [True, False])
def test_total_does_not_change_with_k(service: SearchService, mode: str, collapse: bool) -> None:
    totals = {
        service.search_text("glaciers and the cat", k=k, mode=mode, collapse=collapse).total
        for k in (1, 2, 5, 50)
    }
    assert len(totals) == 1, totals


def test_total_is_what_matches_in_each_mode(service: SearchService) -> None:
    documents = service.stats()["documents"]
    chunks = service.stats()["chunks"]
    assert service.search_text("glaciers", k=1, mode="semantic").total == documents  # all have a cosine
    assert service.search_text("glaciers", k=1, mode="semantic", collapse=False).total == chunks
    assert service.search_text("glaciers", k=1, mode="keyword").total == 1  # only long.txt has the word
    assert service.search_text("glaciers", k=1, mode="hybrid").total == documents
    assert service.search_text("zzyzx", k=1, mode="keyword").total == 0
    sub = service.search_text("the", k=1, mode="semantic", filters={"source": "*/sub/*"})
    assert sub.total == 2  # the filter's documents


def test_min_score_cuts_semantic_hits_and_their_total(service: SearchService) -> None:
    every = service.search_text("glaciers fjords", k=10, mode="semantic")
    threshold = (every.hits[0].score + every.hits[1].score) / 2
    kept = service.search_text("glaciers fjords", k=10, mode="semantic", min_score=threshold)
    assert [h.doc_id for h in kept.hits] == [every.hits[0].doc_id] and kept.total == 1
    nothing = service.search_text("glaciers fjords", k=10, mode="semantic", min_score=1.5)
    assert nothing.hits == [] and nothing.total == 0


def test_hybrid_scores_are_not_pinned_and_carry_both_sides(service: SearchService) -> None:
    tops = {service.search_text(q, k=1).hits[0].score for q in ("glaciers fjords", "cat mouse", "bank rates")}
    assert len(tops) > 1 and 1.0 not in tops  # z-score fusion, not a min-max that pins the top to 1
    hit = service.search_text("glaciers fjords", k=1).hits[0]
    assert hit.semantic_score is not None and hit.keyword_score is not None


def test_exact_rerank_scores_are_cosines(service: SearchService) -> None:
    result = service.search_text("cat mouse barn", k=3, mode="semantic")
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1.0 + 1e-6


def test_similar_excludes_the_document_itself(service: SearchService) -> None:
    doc_id = service.search_text("cat mouse barn", k=1).hits[0].doc_id
    similar = service.similar(doc_id, 3)
    assert len(similar) == 3 and doc_id not in [h.doc_id for h in similar]
    with pytest.raises(NotFound):
        service.similar("no-such-doc", 3)


def test_document_view_has_text_and_chunk_spans(service: SearchService) -> None:
    doc_id = next(
        h.doc_id for h in service.search_text("glaciers", k=6).hits if h.doc_id.endswith("long.txt")
    )
    doc = service.document(doc_id)
    assert len(doc["chunks"]) > 1
    for chunk in doc["chunks"]:
        assert doc["text"][chunk["start"] : chunk["end"]] == chunk["text"]


def test_source_filter_restricts_every_mode(service: SearchService) -> None:
    for mode in ("semantic", "keyword", "hybrid"):
        hits = service.search_text("the", k=10, mode=mode, filters={"source": "*/sub/*"}).hits
        assert hits and all("/sub/" in h.source for h in hits), mode


@pytest.mark.parametrize("filters", [{}, {"source": "*/sub/*"}])
def test_hybrid_sides_computed_at_once_equal_each_side_alone(service: SearchService, filters: dict) -> None:
    """Hybrid starts its ANN scan on a worker thread before scoring BM25 and finishes the dense
    side with that scan's hits: the lists must be exactly what each side gives alone, with a
    cold name cache, for many queries in a row (filtered queries take the sequential path)."""
    searcher = service.searcher()
    for query in ["cat", "the dog", "chases mice", "barn owl", "the", "sub"] * 3:
        request = service.request(query, k=5, filters=filters)
        vector = searcher.embed_queries([query])[query]
        searcher._names.clear()
        dense, keyword, _ = searcher.candidates(request, vector)
        depth = searcher.settings.search.candidates
        assert dense == searcher._dense(vector, depth, request.filters, True)[0], query
        assert keyword == searcher._keyword(query, depth, request.filters, True)[0], query


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "empty"),
        ({"query": "x" * 5000}, "limit"),
        ({"k": 0}, "k must"),
        ({"k": 101}, "k must"),
        ({"offset": -1}, "offset"),
        ({"mode": "fuzzy"}, "mode"),
    ],
)
def test_bad_requests_are_query_errors(service: SearchService, kwargs: dict, message: str) -> None:
    args = {"query": "cat", **kwargs}
    with pytest.raises(QueryError, match=message):
        service.search_text(**args)


def test_snippet_is_centred_on_a_match_and_highlights_it() -> None:
    text = "Intro words. " * 40 + "The Glaciers of Norway carve fjords. " + "Outro words. " * 40
    snippet = make_snippet(text, matcher("glacier fjord"), 120)
    assert len(snippet.text) <= 124 and "Glaciers" in snippet.text
    marked = [snippet.text[a:b] for a, b in snippet.highlights]
    assert "Glaciers" in marked and "fjords" in marked


def test_snippet_does_not_mark_stopwords() -> None:
    snippet = make_snippet("How the cat caught the mouse", matcher("how does the cat hunt"), 100)
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["cat"]


def test_snippet_highlights_chinese_terms() -> None:
    snippet = make_snippet("河岸边的柳树在春天发芽。", matcher("柳树"), 100)
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["柳树"]


@pytest.mark.slow
def test_real_model_ranks_by_meaning(make_settings, real_embedder, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs", dict(SMALL_CORPUS))
    settings = make_settings()
    Indexer(settings, real_embedder).index([corpus])
    service = SearchService.open(settings, real_embedder)
    hits = service.search_text("kitten hunting rodents", k=5, mode="semantic").hits
    sources = [h.source for h in hits]
    assert sources[0].endswith("cats.txt")
    assert sources.index(next(s for s in sources if s.endswith("food.md"))) > 0
    cat, ham = hits[0].score, next(h.score for h in hits if h.source.endswith("food.md"))
    assert cat > ham + 0.1
    money = service.search_text("monetary policy and borrowing costs", k=1, mode="semantic").hits[0]
    assert money.source.endswith("bank.html")


@pytest.mark.slow
def test_ann_agrees_with_exact_search_on_real_vectors(make_settings, real_embedder, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parent.parent / "examples" / "corpus"
    exact = make_settings(index_dir=str(tmp_path / "flat"), index__type="flat")
    Indexer(exact, real_embedder).index([sample])
    queries = [q for q in (sample.parent / "queries.txt").read_text("utf-8").splitlines() if q]
    truth = SearchService.open(exact, real_embedder)
    for kind in ("hnsw", "ivf"):
        approx = make_settings(index_dir=str(tmp_path / kind), index__type=kind, index__ivf_nprobe=4)
        Indexer(approx, real_embedder).index([sample])
        service = SearchService.open(approx, real_embedder)
        assert {s.kind for s in service.searcher().index.manifest.segments} == {kind}
        for query in queries:
            want = [h.doc_id for h in truth.search_text(query, k=5, mode="semantic").hits]
            got = [h.doc_id for h in service.search_text(query, k=5, mode="semantic").hits]
            assert len(set(want) & set(got)) >= 4, (kind, query)
