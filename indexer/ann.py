"""FAISS: index choice, build, train, save/load and filtered search. The one module that knows FAISS.

Vectors are L2-normalised, so inner product is cosine. FAISS ids are chunk ids.
`auto` follows the FAISS guidelines: exact (Flat) below `flat_max_vectors`, HNSW up to a few
million, IVF-PQ beyond (memory then matters more than the last point of recall).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.config import IndexSettings


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
            nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(n, 2))) - 2))
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, _pq_m(dim, settings.pq_m), nbits, metric)
        index.train(_training_sample(vectors, settings.train_sample))
        index.nprobe = settings.ivf_nprobe
    else:  # pragma: no cover - config validation makes this unreachable
        raise ValueError(kind)
    if n:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index, kind


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
        params.nprobe = settings.ivf_nprobe
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
    allowed_ids: Sequence[int] | None = None,
) -> AnnHits:
    """Top-k by inner product; `allowed_ids` restricts the search inside FAISS (ID selector)."""
    selector = None
    if allowed_ids is not None:
        selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
    params = _search_params(index, settings, selector)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if params is None:
        scores, ids = index.search(queries, k)
    else:
        scores, ids = index.search(queries, k, params=params)
    return AnnHits(scores=scores, ids=ids)


def describe(index: faiss.Index) -> str:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return type(inner).__name__
