"""FAISS: index choice, build, train, save/load and filtered search. The one module that knows FAISS.

Vectors are L2-normalised, so inner product is cosine. FAISS ids are chunk ids.
`auto` follows the FAISS guidelines: exact (Flat) below `flat_max_vectors`, HNSW up to a few
million, IVF-PQ beyond (memory then matters more than the last point of recall).
IVF's nprobe is tuned at build time (`ivf_nprobe: 0`) to the smallest value that reaches
`ivf_target_recall` on the collection's own vectors, because a fixed nprobe that is right for one
collection size is far off for another (see docs/quality.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.config import IndexSettings

log = logging.getLogger(__name__)

# nprobe tuning: TUNING_QUERIES stored vectors serve as queries; for each, the exact top TUNING_K
# neighbours (itself excluded) must lie in the lists it probes.
TUNING_K = 100
TUNING_QUERIES = 300


@dataclass(frozen=True)
class AnnHits:
    scores: np.ndarray  # (n_queries, k) approximate scores, -inf where no hit
    ids: np.ndarray  # (n_queries, k) chunk ids, -1 where no hit


def choose_index_type(n_vectors: int, settings: IndexSettings) -> str:
    if settings.type != "auto":
        return settings.type
    if n_vectors < settings.flat_max_vectors:
        return "flat"
    if n_vectors < settings.hnsw_max_vectors:
        return "hnsw"
    return "ivfpq"


def _nlist(n_vectors: int, settings: IndexSettings) -> int:
    wanted = settings.ivf_nlist or int(4 * math.sqrt(max(n_vectors, 1)))
    # k-means wants ~39 training points per centroid; fewer gives a warning and poor lists.
    return max(1, min(wanted, n_vectors // 39 or 1))


def _pq_m(dim: int, wanted: int) -> int:
    return max(m for m in range(1, min(wanted, dim) + 1) if dim % m == 0)


def _training_sample(vectors: np.ndarray, size: int) -> np.ndarray:
    if len(vectors) <= size:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.random.default_rng(0).choice(len(vectors), size=size, replace=False)
    return np.ascontiguousarray(vectors[np.sort(rows)], dtype=np.float32)


def build_index(vectors: np.ndarray, ids: np.ndarray, settings: IndexSettings) -> tuple[faiss.Index, str]:
    """Build (and train, if needed) the configured index over `vectors` with `ids`."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # once: FAISS and tuning read it
    n, dim = vectors.shape
    kind = choose_index_type(n, settings)
    metric = faiss.METRIC_INNER_PRODUCT
    index: faiss.Index
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    elif kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, settings.hnsw_m, metric)
        hnsw.hnsw.efConstruction = settings.hnsw_ef_construction
        hnsw.hnsw.efSearch = settings.hnsw_ef_search
        index = faiss.IndexIDMap2(hnsw)
    elif kind in ("ivf", "ivfpq"):
        nlist = _nlist(n, settings)
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
        else:
            nbits = max(1, min(8, int(math.log2(max(n // 39, 2)))))  # 39 training points per code
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, _pq_m(dim, settings.pq_m), nbits, metric)
        index.train(_training_sample(vectors, settings.train_sample))
    else:  # pragma: no cover - config validation makes this unreachable
        raise ValueError(kind)
    if n:
        index.add_with_ids(vectors, ids.astype(np.int64))
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = settings.ivf_nprobe or tune_nprobe(index, vectors, settings.ivf_target_recall)
    return index, kind


def exact_neighbour_rows(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), k) rows of each sampled row's exact top-TUNING_K neighbours, itself excluded.

    `vectors` is contiguous float32, as build_index passes it."""
    k = min(TUNING_K, len(vectors) - 1)
    _, found = faiss.knn(vectors[rows], vectors, k + 1, faiss.METRIC_INNER_PRODUCT)
    return np.stack([neighbours[neighbours != row][:k] for row, neighbours in zip(rows, found, strict=True)])


def probe_recall_curve(index: faiss.IndexIVF, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """recall[p - 1]: share of the sampled rows' exact neighbours inside the p lists probed first.

    Depends only on the coarse quantizer, so it holds for IVF-Flat and IVF-PQ alike (PQ's coding
    error is the Searcher's exact re-ranking's business, not nprobe's).
    """
    neighbours = exact_neighbour_rows(vectors, rows)
    quantizer = index.quantizer
    _, home = quantizer.search(vectors[neighbours.ravel()], 1)  # the list each neighbour was filed in
    _, probe_order = quantizer.search(vectors[rows], index.nlist)  # lists by closeness to each query
    position = np.empty_like(probe_order)
    position[np.arange(len(rows))[:, None], probe_order] = np.arange(index.nlist)
    needed = position[np.repeat(np.arange(len(rows)), neighbours.shape[1]), home.ravel()]
    return np.cumsum(np.bincount(needed, minlength=index.nlist)) / len(needed)


def tune_nprobe(index: faiss.IndexIVF, vectors: np.ndarray, target: float) -> int:
    """Smallest nprobe that puts `target` of the sampled vectors' 100 nearest neighbours in reach.

    Stored vectors are slightly easier queries than real ones (on SciFact, 0.9985 vs 0.9952
    at the same nprobe), hence a default target above the wanted 0.99.
    """
    if len(vectors) < 2 or index.nlist == 1:
        return 1
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(vectors), size=min(TUNING_QUERIES, len(vectors)), replace=False))
    recall = probe_recall_curve(index, vectors, rows)
    nprobe = int(np.searchsorted(recall, target - 1e-9)) + 1
    log.info("IVF nprobe %d of %d lists: neighbour recall %.4f", nprobe, index.nlist, recall[nprobe - 1])
    return nprobe


def save_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))


def _search_params(
    index: faiss.Index, settings: IndexSettings, selector: faiss.IDSelector | None
) -> faiss.SearchParameters | None:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        params.efSearch = settings.hnsw_ef_search
    elif isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = settings.ivf_nprobe or inner.nprobe  # 0: the value tuned at build time
    else:
        if selector is None:
            return None
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector
    return params


def search_index(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    settings: IndexSettings,
    selector: faiss.IDSelector | None = None,
) -> AnnHits:
    """Top-k by inner product; `selector` restricts the search inside FAISS (allowed ids,
    tombstones)."""
    params = _search_params(index, settings, selector)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if params is None:
        scores, ids = index.search(queries, k)
    else:
        scores, ids = index.search(queries, k, params=params)
    return AnnHits(scores=scores, ids=ids)


def describe(index: faiss.Index) -> str:
    """The FAISS class and its search-time knobs, e.g. "IndexIVFFlat (nlist 257, nprobe 123)"."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    name = type(inner).__name__
    if isinstance(inner, faiss.IndexIVF):
        return f"{name} (nlist {inner.nlist}, nprobe {inner.nprobe})"
    if isinstance(inner, faiss.IndexHNSW):
        return f"{name} (M {inner.hnsw.nb_neighbors(1)}, efSearch {inner.hnsw.efSearch})"
    return name
