"""Searcher: embed query -> ANN candidates -> exact cosine re-rank -> (fuse with BM25) -> hits.

One Searcher serves one opened index version. It widens its candidate pool until it holds
enough distinct documents (after collapsing chunks, after filtering), so `k` hits come back
whenever `k` matching documents exist.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, NamedTuple

import numpy as np
from pydantic import Field

from indexer.analysis import cjk_fraction
from indexer.config import MODES, Mode, Settings
from indexer.embedders import Embedder
from indexer.errors import NotFound, QueryError
from indexer.snapshot import IndexSnapshot, check_embedder
from search.filters import Filters, to_sql
from search.fusion import fuse_scores, fused_order
from search.snippets import make_snippet, term_pattern

EXACT_FILTERED_MAX = 50_000  # filtered sets this small are scored exactly (~10 ms at 384-d)


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 10
    offset: int = 0
    mode: Mode = "hybrid"
    filters: Filters = field(default_factory=Filters)
    collapse: bool = True  # one hit per document (its best chunk)

    def validate(self, settings: Settings) -> None:
        """The one place query parameters are checked (CLI and API alike)."""
        limits = settings.search
        if not self.query.strip():
            raise QueryError("the query is empty")
        if len(self.query) > limits.max_query_chars:
            raise QueryError(
                f"the query is {len(self.query)} characters; the limit is {limits.max_query_chars}"
            )
        if not 1 <= self.k <= limits.max_k:
            raise QueryError(f"k must be between 1 and {limits.max_k}, got {self.k}")
        if not 0 <= self.offset <= 10 * limits.max_k:
            raise QueryError(f"offset must be between 0 and {10 * limits.max_k}, got {self.offset}")
        if self.mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk_id: int
    title: str
    source: str
    score: float
    snippet: str
    highlights: Annotated[
        list[tuple[int, int]],
        Field(description="[start, end) character (code point) offsets of query terms within snippet"),
    ]


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: Mode
    took_ms: float
    total: int  # documents in the ranked candidate list (an upper bound for paging)
    hits: list[Hit]
    embed_ms: float = 0.0


class _Ranked(NamedTuple):
    key: str  # doc id, or chunk id when not collapsing
    doc_id: str
    chunk_id: int
    score: float


class Searcher:
    """Answers queries against one open index version."""

    def __init__(self, index: IndexSnapshot, embedder: Embedder, settings: Settings) -> None:
        check_embedder(index.manifest.embedder, embedder)
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.generation = index.generation
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.metadata_fields = index.store.metadata_fields(self.generation)

    # -- public -----------------------------------------------------------------------
    def warm(self) -> None:
        """Run the ranking and presentation paths once (a unit vector, a one-word query, no
        model call), so the first real query finds numpy, SQLite and FAISS warm."""
        vector = np.zeros(self.index.vectors.dim, np.float32)
        vector[0] = 1.0
        request = SearchRequest("warm")
        ranked, _ = self._hybrid(request, vector, 1, dense_weight=1.0)  # a given weight: no model
        self._hits(ranked, request.query)

    def search(self, request: SearchRequest) -> SearchResult:
        return self.search_many([request])[0]

    def search_many(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Many queries; their embeddings are computed in one batch."""
        for request in requests:
            request.validate(self.settings)
        started = time.perf_counter()
        needs_vector = [r.query for r in requests if r.mode != "keyword"]
        vectors = self.embed_queries(needs_vector) if needs_vector else {}
        embed_ms = (time.perf_counter() - started) * 1000 / max(len(requests), 1)
        results = []
        for request in requests:
            one_started = time.perf_counter()
            ranked, total = self._rank(request, vectors.get(request.query))
            page = ranked[request.offset : request.offset + request.k]
            hits = self._hits(page, request.query)
            took = (time.perf_counter() - one_started) * 1000 + embed_ms
            results.append(
                SearchResult(request.query, request.mode, round(took, 2), total, hits, round(embed_ms, 2))
            )
        return results

    def similar(self, doc_id: str, k: int) -> list[Hit]:
        """Documents most like `doc_id`: the mean of its chunk vectors as the query."""
        if not 1 <= k <= self.settings.search.max_k:
            raise QueryError(f"k must be between 1 and {self.settings.search.max_k}, got {k}")
        chunks = self.index.store.chunks_of(doc_id, self.generation)
        if not chunks:
            raise NotFound(f"no document with id {doc_id!r}")
        centroid = self.index.vectors.vectors(np.array([c.id for c in chunks], dtype=np.int64)).mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        ranked = [r for r in self._dense(centroid, k + 1, Filters(), True)[0] if r.doc_id != doc_id]
        title = self.index.store.document(doc_id, self.generation)
        return self._hits(ranked[:k], title.title if title else "")

    def embed_queries(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Query vectors, from an LRU cache where seen before; misses embedded in one batch."""
        size = self.settings.server.cache_size
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self.embedder.embed_queries(missing), strict=True):
                self._cache[text] = vector
        out = {}
        for text in texts:
            out[text] = self._cache[text]
            self._cache.move_to_end(text)
        while len(self._cache) > size:
            self._cache.popitem(last=False)
        return out

    # -- ranking ----------------------------------------------------------------------
    def _rank(self, request: SearchRequest, vector: np.ndarray | None) -> tuple[list[_Ranked], int]:
        """The ranking down to the page's end, and how many documents the candidates held."""
        need = request.offset + request.k
        if request.mode == "semantic":
            assert vector is not None
            return self._dense(vector, need, request.filters, request.collapse)
        if request.mode == "keyword":
            return self._keyword(request.query, need, request.filters, request.collapse)
        assert vector is not None
        return self._hybrid(request, vector, need, self.dense_weight(request.query))

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        """Chunk ids a filter lets through (ascending), or None when there is no filter."""
        if not filters:
            return None
        sql, params = to_sql(filters)
        return self.index.store.chunk_ids_where(sql, params, self.generation)

    def _dense(
        self, vector: np.ndarray, need: int, filters: Filters, collapse: bool
    ) -> tuple[list[_Ranked], int]:
        allowed = self._allowed(filters)
        vectors = self.index.vectors
        available = vectors.count() if allowed is None else len(allowed)
        if available == 0:
            return [], 0
        if allowed is not None and available <= EXACT_FILTERED_MAX:
            # A selective filter starves graph/IVF walks of candidates; scanning the few allowed
            # vectors exactly is both faster and complete.
            ids = allowed
            scores = vectors.vectors(ids) @ vector
            order = np.argsort(-scores, kind="stable")
            ids, scores = ids[order], scores[order]
            pool = max(need * self.settings.search.oversample, 16)
            while True:  # look up documents only for the best few, widening if collapse ate them
                ranked, total = self._ranked(ids[:pool], scores[:pool], collapse, need)
                if len(ranked) >= need or pool >= available:
                    return ranked, total
                pool *= 4
        pool = min(available, max(need * self.settings.search.oversample, 16))
        while True:
            hits = vectors.search(vector[None, :], pool, allowed)
            ids = hits.ids[0][hits.ids[0] >= 0]
            exact = vectors.vectors(ids) @ vector  # re-rank on full-precision vectors
            ranked, total = self._ranked(ids, exact, collapse, need)
            if len(ranked) >= need or pool >= available:
                return ranked, total
            pool = min(available, pool * 4)

    def _ranked(
        self, ids: np.ndarray, scores: np.ndarray, collapse: bool, need: int
    ) -> tuple[list[_Ranked], int]:
        """The best `need` chunks (and any tied with the last), one per document when
        collapsing, best first, ties by document id; and how many there were before the cut.
        The segments know each chunk's document; its id comes from one catalog lookup of the
        few documents that survive."""
        if not len(ids):
            return [], 0
        keys = self.index.segments.doc_keys(ids)
        order = np.lexsort((ids, -scores)).tolist()
        if collapse:
            seen: set[int] = set()
            order = [at for at in order if not (int(keys[at]) in seen or seen.add(int(keys[at])))]
        total = len(order)
        if len(order) > need:  # ties at the cut stay: the final order breaks them by doc id
            last = scores[order[need - 1]]
            order = order[:need] + [at for at in order[need:] if scores[at] == last]
        names = self.index.store.doc_ids([int(keys[at]) for at in order])
        ranked = []
        for at in order:
            name = names.get(int(keys[at]))
            if name is not None:  # None: purged while this (old) generation was still open
                chunk_id = int(ids[at])
                ranked.append(_Ranked(name if collapse else str(chunk_id), name, chunk_id, float(scores[at])))
        return _best_first(ranked), total

    def _keyword(
        self, query: str, need: int, filters: Filters, collapse: bool
    ) -> tuple[list[_Ranked], int]:
        allowed = self._allowed(filters)
        if allowed is not None and not len(allowed):
            return [], 0
        pool = max(need * self.settings.search.oversample, 16)
        while True:
            rows = self.index.keywords.search(query, pool, allowed)
            ids = np.fromiter((cid for cid, _ in rows), np.int64, len(rows))
            scores = np.fromiter((score for _, score in rows), np.float64, len(rows))
            ranked, total = self._ranked(ids, scores, collapse, need)
            if len(ranked) >= need or len(rows) < pool:
                return ranked, total
            pool *= 4

    def dense_weight(self, query: str) -> float:
        """How much to trust the embedder on this query: an English-only model cannot read CJK."""
        if self.embedder.multilingual:
            return 1.0
        return 1.0 - cjk_fraction(query)

    def candidates(
        self, request: SearchRequest, vector: np.ndarray
    ) -> tuple[list[_Ranked], list[_Ranked]]:
        """The dense and keyword lists hybrid fuses: each side's best `search.candidates`
        documents (more when the page reaches deeper)."""
        depth = max(request.offset + request.k, self.settings.search.candidates)
        dense, _ = self._dense(vector, depth, request.filters, request.collapse)
        keyword, _ = self._keyword(request.query, depth, request.filters, request.collapse)
        return dense, keyword

    def _hybrid(
        self, request: SearchRequest, vector: np.ndarray, need: int, dense_weight: float
    ) -> tuple[list[_Ranked], int]:
        """The fused list's first `need` entries, and its length."""
        dense, keyword = self.candidates(request, vector)
        best: dict[str, _Ranked] = {r.key: r for r in reversed(keyword)}
        best.update((r.key, r) for r in reversed(dense))
        dense_side, keyword_side = [(r.key, r.score) for r in dense], [(r.key, r.score) for r in keyword]
        search = self.settings.search
        fused = fuse_scores(search.fusion, dense_side, keyword_side, dense_weight, search)
        order = fused_order(fused, [[k for k, _ in dense_side], [k for k, _ in keyword_side]])
        return [best[key]._replace(score=fused[key]) for key in order[:need]], len(order)

    # -- presentation -----------------------------------------------------------------
    def _hits(self, page: Sequence[_Ranked], query: str) -> list[Hit]:
        store = self.index.store
        chunks = store.chunks(r.chunk_id for r in page)
        docs = store.documents((r.doc_id for r in page), self.generation)
        width = self.settings.search.snippet_chars
        pattern = term_pattern(query)
        hits = []
        for r in page:
            if r.chunk_id not in chunks or r.doc_id not in docs:
                continue  # purged while this (old) generation was still open
            snippet = make_snippet(chunks[r.chunk_id].text, pattern, width)
            doc = docs[r.doc_id]
            hits.append(
                Hit(
                    r.doc_id,
                    r.chunk_id,
                    doc.title,
                    doc.source,
                    round(r.score, 6),
                    snippet.text,
                    snippet.highlights,
                )
            )
        return hits


def _best_first(ranked: list[_Ranked]) -> list[_Ranked]:
    """By score; equal scores by document id, so a ranking never depends on the order in which
    documents happened to be indexed (chunk ids do)."""
    return sorted(ranked, key=lambda r: (-r.score, r.doc_id, r.chunk_id))
