"""Searcher: embed query -> ANN candidates -> exact cosine re-rank -> (fuse with BM25) -> hits.

One Searcher serves one opened index version. It widens its candidate pool until it holds
enough distinct documents (after collapsing chunks, after filtering), so `k` hits come back
whenever `k` matching documents exist.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Annotated, NamedTuple

import numpy as np
from pydantic import Field

from indexer.analysis import cjk_fraction
from indexer.ann import AnnHits
from indexer.config import MODES, Mode, Settings
from indexer.embedders import Embedder
from indexer.errors import NotFound, QueryError
from indexer.keyword_index import top_scored
from indexer.snapshot import IndexSnapshot, check_embedder
from search.diversity import mmr_order, mmr_pool
from search.filters import Filters, to_sql
from search.fusion import fuse_scores, fused_order
from search.snippets import best_snippet, matcher

# One worker for hybrid queries' ANN scans, shared by every Searcher: searches are serialised
# per service, and a second thread is all a 2-core query path can use.
_SIDE_POOL = ThreadPoolExecutor(1, thread_name_prefix="ann-scan")
NAME_CACHE_SIZE = 200_000  # document ids remembered per open index version (~20 MB at most)
EXACT_FILTERED_MAX = 50_000  # filtered sets this small are scored exactly (~10 ms at 384-d)


# A query needs one character that is not white space, by Python's rule and by JSON Schema's
# (ECMAScript's) alike: Python counts \x1c-\x1f and \x85 as space, ECMAScript \ufeff. The
# OpenAPI schema states the same set (web/openapi.py), so what it allows, the server accepts.
VISIBLE = re.compile(r"[^\s\ufeff]")


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 10
    offset: int = 0
    mode: Mode = "hybrid"
    filters: Filters = field(default_factory=Filters)
    collapse: bool = True  # one hit per document (its best chunk)
    min_score: float | None = None  # drop hits whose final score is below this
    diversity: float = 0.0  # MMR re-ranking: 0 the plain ranking .. 1 novelty only (search/diversity.py)

    def validate(self, settings: Settings) -> None:
        """The one place query parameters are checked (CLI and API alike)."""
        limits = settings.search
        if not VISIBLE.search(self.query):
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
        if self.min_score is not None and (
            isinstance(self.min_score, bool)
            or not isinstance(self.min_score, int | float)
            or not math.isfinite(self.min_score)
        ):
            raise QueryError(f"min_score must be a finite number, got {self.min_score!r}")
        if isinstance(self.diversity, bool) or not 0 <= self.diversity <= 1:
            raise QueryError(f"diversity must be between 0 (off) and 1, got {self.diversity!r}")


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
    semantic_score: Annotated[
        float | None,
        Field(
            description="cosine similarity of the query and the document's best chunk (-1..1); "
            "null when the semantic side did not return this hit"
        ),
    ] = None
    keyword_score: Annotated[
        float | None,
        Field(
            description="BM25 score of the document's best chunk (0 and up); null when the "
            "keyword side did not return this hit"
        ),
    ] = None


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: Mode
    took_ms: float
    total: int  # documents (chunks when not collapsing) that match in this mode: docs/decisions.md
    hits: list[Hit]
    embed_ms: float = 0.0


class _Ranked(NamedTuple):
    key: str  # doc id, or chunk id when not collapsing
    doc_id: str
    chunk_id: int
    score: float
    semantic: float | None = None  # each side's own score, when that side returned the hit
    keyword: float | None = None
    other_chunk: int | None = None  # hybrid: the other side's best chunk of the document


class Searcher:
    """Answers queries against one open index version."""

    def __init__(self, index: IndexSnapshot, embedder: Embedder, settings: Settings) -> None:
        check_embedder(index.manifest.embedder, embedder)
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.generation = index.generation
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._names: dict[int, str] = {}  # document key -> id (see _doc_names)
        self.metadata_fields = index.store.metadata_fields(self.generation)

    # -- public -----------------------------------------------------------------------
    def warm(self) -> None:
        """Remember every document id (when they fit the name cache) and run the ranking and
        presentation paths once (a unit vector, a one-word query, no model call), so the first
        real query finds numpy, SQLite and FAISS warm."""
        if self.index.manifest.documents <= NAME_CACHE_SIZE:
            # Every id at once (~15 ms for 20k documents): otherwise the first query looks up
            # ~200 one by one, ~1 ms, and it is a fresh process's only query (the CLI).
            self._names.update(self.index.store.visible_doc_ids(self.generation))
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
            pooled = request
            if request.diversity:  # MMR picks the page from a wider pool of the plain ranking
                pooled = replace(request, offset=0, k=mmr_pool(request.offset + request.k))
            ranked, total = self._rank(pooled, vectors.get(request.query))
            if request.diversity:
                ranked = self._diversified(ranked, request)
            page = ranked[request.offset : request.offset + request.k]
            hits = self._hits(page, request.query)
            took = (time.perf_counter() - one_started) * 1000 + embed_ms
            results.append(
                SearchResult(request.query, request.mode, round(took, 2), total, hits, round(embed_ms, 2))
            )
        return results

    def _diversified(self, ranked: list[_Ranked], request: SearchRequest) -> list[_Ranked]:
        """The pool re-ranked by MMR over each hit's chunk vector, down to the page's end."""
        chunk_vectors = self.index.vectors.vectors(np.array([r.chunk_id for r in ranked], dtype=np.int64))
        scores = np.array([r.score for r in ranked], dtype=np.float64)
        order = mmr_order(scores, chunk_vectors, request.diversity, request.offset + request.k)
        return [ranked[at] for at in order]

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
        """The ranking down to the page's end, and how many documents match (`total`)."""
        need = request.offset + request.k
        if request.mode == "semantic":
            assert vector is not None
            return self._dense(vector, need, request.filters, request.collapse, request.min_score)
        if request.mode == "keyword":
            return self._keyword(request.query, need, request.filters, request.collapse, request.min_score)
        assert vector is not None
        return self._hybrid(request, vector, need, self.dense_weight(request.query))

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        """Chunk ids a filter lets through (ascending), or None when there is no filter."""
        if not filters:
            return None
        sql, params = to_sql(filters)
        return self.index.store.chunk_ids_where(sql, params, self.generation)

    def _count(self, ids: np.ndarray | None, collapse: bool) -> int:
        """How many documents (chunks, when not collapsing) `ids` hold; None: the whole index."""
        if ids is None:
            return self.index.manifest.documents if collapse else self.index.vectors.count()
        if not collapse or not len(ids):
            return len(ids)
        # np.unique's overhead was 4x this sort. Stable is timsort, linear on the ascending runs
        # that ids in row order give (a segment usually stores its documents in key order).
        keys = np.sort(self.index.segments.doc_keys(ids), kind="stable")
        return 1 + int(np.count_nonzero(keys[1:] != keys[:-1]))

    def _dense(
        self,
        vector: np.ndarray,
        need: int,
        filters: Filters,
        collapse: bool,
        min_score: float | None = None,
        scan: Future[AnnHits] | None = None,
    ) -> tuple[list[_Ranked], int]:
        """The best `need` by cosine, and `total`: every document the filters let through has a
        similarity, so all of them match; with `min_score`, those whose similarity reaches it.
        `scan`: the first pool's ANN search, already started (`_candidates`)."""
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
            if min_score is not None:
                kept = scores >= np.float64(min_score)  # compared in float64: 1e300 does not overflow float32
                ids, scores = ids[kept], scores[kept]
            total = self._count(ids, collapse)
            pool = max(need * self.settings.search.oversample, 16)
            while True:  # look up documents only for the best few, widening if collapse ate them
                ranked, _ = self._ranked(ids[:pool], scores[:pool], collapse, need, "semantic")
                if len(ranked) >= need or pool >= len(ids):
                    return ranked, total
                pool *= 4
        pool = self._first_pool(need, available)
        while True:
            hits = scan.result() if scan is not None else vectors.search(vector[None, :], pool, allowed)
            scan = None
            ids = hits.ids[0][hits.ids[0] >= 0]
            exact = vectors.vectors(ids) @ vector  # re-rank on full-precision vectors
            below = min_score is not None and bool((exact < np.float64(min_score)).any())
            if min_score is not None:  # widen until the pool reaches below the threshold
                kept = exact >= np.float64(min_score)
                ids, exact = ids[kept], exact[kept]
            ranked, counted = self._ranked(ids, exact, collapse, need, "semantic")
            if pool >= available or (len(ranked) >= need and min_score is None) or below:
                return ranked, counted if min_score is not None else self._count(allowed, collapse)
            pool = min(available, pool * 4)

    def _first_pool(self, need: int, available: int) -> int:
        """How many ANN candidates the dense side asks for first (it widens if they fall short)."""
        return min(available, max(need * self.settings.search.oversample, 16))

    def _ranked(
        self, ids: np.ndarray, scores: np.ndarray, collapse: bool, need: int, side: str
    ) -> tuple[list[_Ranked], int]:
        """The best `need` chunks (and any tied with the last), one per document when
        collapsing, best first, ties by document id; and how many there were before the cut.
        The segments know each chunk's document; its id comes from one catalog lookup of the
        few documents that survive."""
        if not len(ids):
            return [], 0
        keys = self.index.segments.doc_keys(ids)
        order = np.lexsort((ids, -scores))
        if collapse:  # each document's first (best) chunk, in rank order
            _, first = np.unique(keys[order], return_index=True)
            order = order[np.sort(first)]
        total = len(order)
        if total > need:  # ties at the cut stay: the final order breaks them by doc id
            rest = order[need:]
            order = np.concatenate([order[:need], rest[scores[rest] == scores[order[need - 1]]]])
        kept = scores[order]
        chunk_ids, kept_scores = ids[order].tolist(), kept.tolist()
        semantic = side == "semantic"
        ranked = [
            _Ranked(
                name if collapse else str(chunk_id),
                name,
                chunk_id,
                score,
                *((score, None) if semantic else (None, score)),
            )
            for name, chunk_id, score in zip(
                self._doc_names(keys[order].tolist()), chunk_ids, kept_scores, strict=True
            )
            if name is not None  # None: purged while this (old) generation was still open
        ]
        # In (score, chunk id) order already; only equal scores need their document ids compared.
        tied = len(kept) > 1 and bool((kept[1:] == kept[:-1]).any())
        return (_best_first(ranked) if tied else ranked), total

    def _doc_names(self, doc_keys: list[int]) -> list[str | None]:
        """The document id of each version key (None: purged since), remembered: a key names
        one version forever (AUTOINCREMENT never reuses one), and looking up ~100 per side was a
        fifth of a search. Called on the searching thread only."""
        known = self._names
        names = [known.get(key) for key in doc_keys]
        if None in names:
            fetched = self.index.store.doc_ids(
                [key for key, name in zip(doc_keys, names, strict=True) if name is None]
            )
            if len(known) + len(fetched) > NAME_CACHE_SIZE:
                known.clear()
            known.update(fetched)
            names = [
                name if name is not None else fetched.get(key)
                for key, name in zip(doc_keys, names, strict=True)
            ]
        return names

    def _keyword(
        self, query: str, need: int, filters: Filters, collapse: bool, min_score: float | None = None
    ) -> tuple[list[_Ranked], int]:
        """The best `need` by BM25, and `total`: the documents holding a query term (with
        `min_score`, those scoring at least that)."""
        allowed = self._allowed(filters)
        if allowed is not None and not len(allowed):
            return [], 0
        ids, scores = self.index.keywords.scored(query, allowed)
        if min_score is not None:
            kept = scores >= np.float64(min_score)  # compared in float64: 1e300 does not overflow float32
            ids, scores = ids[kept], scores[kept]
        total = self._count(ids, collapse)
        pool = max(need * self.settings.search.oversample, 16)
        while True:
            top_ids, top_scores = top_scored(ids, scores, pool)
            ranked, _ = self._ranked(top_ids, top_scores, collapse, need, "keyword")
            if len(ranked) >= need or len(top_ids) < pool:
                return ranked, total
            pool *= 4

    def dense_weight(self, query: str) -> float:
        """How much to trust the embedder on this query: an English-only model cannot read CJK."""
        if self.embedder.multilingual:
            return 1.0
        return 1.0 - cjk_fraction(query)

    def candidates(
        self, request: SearchRequest, vector: np.ndarray
    ) -> tuple[list[_Ranked], list[_Ranked], bool]:
        """The dense and keyword lists hybrid fuses: each side's best `search.candidates`
        documents (more when the page reaches deeper), and whether the keyword list holds
        every match."""
        (dense, _), (keyword, keyword_total) = self._candidates(request, vector)
        return dense, keyword, _lists_every_match(keyword, keyword_total)

    def _candidates(
        self, request: SearchRequest, vector: np.ndarray
    ) -> tuple[tuple[list[_Ranked], int], tuple[list[_Ranked], int]]:
        depth = max(request.offset + request.k, self.settings.search.candidates)
        # The ANN scan runs on a worker thread while this one scores BM25: FAISS releases the
        # GIL, so the two overlap. Only the scan: the dense side's Python (re-rank, collapse)
        # runs here after BM25, because two threads taking turns at the GIL each waited for the
        # other (docs/decisions.md, "Hybrid's sides"). Filtered queries scan the allowed set
        # exactly, after BM25.
        scan = None
        if not request.filters:
            vectors = self.index.vectors
            pool = self._first_pool(depth, vectors.count())
            scan = _SIDE_POOL.submit(vectors.search, vector[None, :], pool)
        try:
            keyword = self._keyword(request.query, depth, request.filters, request.collapse)
        except BaseException:
            if scan is not None:
                wait([scan])  # the caller may close this index version once we return
            raise
        return self._dense(vector, depth, request.filters, request.collapse, scan=scan), keyword

    def _hybrid(
        self, request: SearchRequest, vector: np.ndarray, need: int, dense_weight: float
    ) -> tuple[list[_Ranked], int]:
        """The fused list's first `need` entries, each with both sides' scores, and `total`: the
        documents either side matches (every filtered one when the model reads the query, the
        keyword matches when it cannot); with `min_score`, the fused candidates reaching it
        (a fused score exists only for them)."""
        (dense, dense_total), (keyword, keyword_total) = self._candidates(request, vector)
        by_dense, by_keyword = {r.key: r for r in dense}, {r.key: r for r in keyword}
        dense_side, keyword_side = [(r.key, r.score) for r in dense], [(r.key, r.score) for r in keyword]
        search = self.settings.search
        complete = _lists_every_match(keyword, keyword_total)
        fused = fuse_scores(search.fusion, dense_side, keyword_side, dense_weight, search, complete)
        order = fused_order(fused, [[k for k, _ in dense_side], [k for k, _ in keyword_side]])
        if request.min_score is not None:
            order = [key for key in order if fused[key] >= request.min_score]
            total = len(order)
        else:
            total = max(dense_total if dense_weight > 0 else 0, keyword_total, len(order))
        ranked = []
        for key in order[:need]:
            d, w = by_dense.get(key), by_keyword.get(key)
            # The snippet's first candidate chunk: the dense side's, unless the model cannot
            # read the query (then its pick is noise); the other side's is the second.
            first, second = (d, w) if d is not None and (dense_weight > 0 or w is None) else (w, d)
            assert first is not None
            other = second.chunk_id if second is not None and second.chunk_id != first.chunk_id else None
            ranked.append(
                first._replace(
                    score=fused[key],
                    semantic=d.score if d is not None else None,
                    keyword=w.score if w is not None else None,
                    other_chunk=other,
                )
            )
        return ranked, total

    # -- presentation -----------------------------------------------------------------
    def _hits(self, page: Sequence[_Ranked], query: str) -> list[Hit]:
        """Hits with their snippets: from whichever of the hit's candidate chunks shows most of
        the query (search/snippets.py); `chunk_id` names the chunk the snippet came from."""
        texts = self.index.store.hit_texts(
            c for r in page for c in (r.chunk_id, r.other_chunk) if c is not None
        )
        width = self.settings.search.snippet_chars
        match = matcher(query)
        hits = []
        for r in page:
            candidates = [c for c in (r.chunk_id, r.other_chunk) if c is not None and c in texts]
            if not candidates:
                continue  # purged while this (old) generation was still open
            at, snippet = best_snippet([texts[c].text for c in candidates], match, width)
            shown = texts[candidates[at]]
            hits.append(
                Hit(
                    r.doc_id,
                    candidates[at],
                    shown.title,
                    shown.source,
                    round(r.score, 6),
                    snippet.text,
                    snippet.highlights,
                    _rounded(r.semantic),
                    _rounded(r.keyword),
                )
            )
        return hits


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 6)


def _best_first(ranked: list[_Ranked]) -> list[_Ranked]:
    """By score; equal scores by document id, so a ranking never depends on the order in which
    documents happened to be indexed (chunk ids do)."""
    return sorted(ranked, key=lambda r: (-r.score, r.doc_id, r.chunk_id))


def _lists_every_match(keyword: list[_Ranked], total: int) -> bool:
    """Whether a keyword list holds every match, so a document absent from it has BM25 0: the
    Searcher's fusion and `candidates()` (what benchmarks fuse) decide it the same way."""
    return len(keyword) >= total
