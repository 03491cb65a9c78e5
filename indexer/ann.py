"""FAISS: index choice, build, train, save/load and filtered search. The one module that knows FAISS.

Vectors are L2-normalised, so inner product is cosine. FAISS ids are chunk ids.
`auto` follows the FAISS guidelines: exact (Flat) below `flat_max_vectors`, HNSW up to a few
million, IVF-PQ beyond (memory then matters more than the last point of recall).
The search-time knob of each structure is tuned when it is built, on the collection's own
vectors, because a fixed value that is right for one collection size is far off for another
(docs/quality.md, docs/ann.md): IVF's nprobe (`ivf_nprobe: 0`) to `ivf_target_recall`, HNSW's
efSearch (`hnsw_ef_search: 0`) to `hnsw_target_recall`. FAISS stores both in the index file.
Structures are read memory-mapped, so processes serving one index share its pages.
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

# Build-time tuning: TUNING_QUERIES sampled stored vectors serve as queries. IVF: each one's exact
# top TUNING_K neighbours (itself excluded) must lie in the lists it probes. HNSW: each is first
# moved off its point (pseudo_queries), and the walk must return its exact top TUNING_K.
# TUNING_K is the Searcher's default candidate depth.
TUNING_K = 100
TUNING_QUERIES = 300
# efSearch values tried, smallest first; those below the tuning depth are skipped (a beam
# narrower than the list asked for cannot fill it well, and search never uses one: ef >= k).
EF_SEARCH_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


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
    # Ids: IVF stores them in its lists; flat and HNSW get an IndexIDMap (8 bytes a vector). Not
    # IndexIDMap2, whose reverse hash map costs ~40 more bytes a vector in RAM and is only needed
    # to reconstruct by id, which the Searcher does from vectors.npy (files written with it load).
    if kind == "flat":
        index = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
    elif kind in ("hnsw", "hnswsq"):
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, settings.hnsw_m, metric)
        else:  # 8-bit codes: a quarter of the memory; the Searcher re-ranks on full vectors
            hnsw = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, settings.hnsw_m, metric)
            hnsw.train(_training_sample(vectors, settings.train_sample))
        hnsw.hnsw.efConstruction = settings.hnsw_ef_construction
        index = faiss.IndexIDMap(hnsw)
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
    elif kind in ("hnsw", "hnswsq"):
        hnsw.hnsw.efSearch = settings.hnsw_ef_search or tune_ef_search(
            hnsw, vectors, settings.hnsw_target_recall
        )
    return index, kind


def _tuning_rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n, size=min(TUNING_QUERIES, n), replace=False))


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
    rows = _tuning_rows(len(vectors))
    recall = probe_recall_curve(index, vectors, rows)
    nprobe = int(np.searchsorted(recall, target - 1e-9)) + 1
    log.info("IVF nprobe %d of %d lists: neighbour recall %.4f", nprobe, index.nlist, recall[nprobe - 1])
    return nprobe


def pseudo_queries(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The sampled vectors, each turned in a random direction until its cosine with where it was
    equals its cosine with its nearest neighbour: queries near stored points, never at one, as
    far from the collection as its points lie from each other. Real queries are about that far
    (MiniLM on SciFact + NFCorpus: median top-1 cosine 0.726 for queries, 0.739 for stored
    sentences), and a stored vector is a much easier query for a graph walk (docs/ann.md)."""
    points = vectors[rows]
    scores, _ = faiss.knn(points, vectors, 2, faiss.METRIC_INNER_PRODUCT)
    cosine = np.clip(scores[:, 1:2], -1.0, 1.0)  # [:, 0] is the vector itself
    turn = np.random.default_rng(1).standard_normal(points.shape).astype(np.float32)
    turn -= np.einsum("nd,nd->n", turn, points)[:, None] * points  # orthogonal to the point
    turn /= np.linalg.norm(turn, axis=1, keepdims=True)
    return np.ascontiguousarray(cosine * points + np.sqrt(1.0 - cosine**2) * turn, dtype=np.float32)


def ef_recall_curve(
    index: faiss.IndexHNSW, vectors: np.ndarray, rows: np.ndarray, ladder: tuple[int, ...]
) -> list[float]:
    """recall[i]: share of the exact TUNING_K nearest neighbours of the sampled rows'
    pseudo-queries that the graph walk returns at efSearch ladder[i].

    `index` is the bare HNSW structure (FAISS ids are rows). The truth is a brute-force scan of
    the structure's own storage (the decoded codes of HNSW-SQ), so the curve measures the walk;
    the codes' error is the Searcher's exact re-ranking's business, as with IVF-PQ.
    """
    storage = faiss.downcast_index(index.storage)
    base = vectors if isinstance(storage, faiss.IndexFlat) else storage.reconstruct_n(0, index.ntotal)
    queries = pseudo_queries(vectors, rows)
    k = min(TUNING_K, len(vectors))
    _, truth = faiss.knn(queries, base, k, faiss.METRIC_INNER_PRODUCT)
    curve = []
    for ef in ladder:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef, k)
        _, found = index.search(queries, k, params=params)
        curve.append(sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)) / truth.size)
    return curve


def tune_ef_search(index: faiss.IndexHNSW, vectors: np.ndarray, target: float) -> int:
    """Smallest efSearch of EF_SEARCH_LADDER (at least the tuning depth) whose walk returns
    `target` of the pseudo-queries' 100 nearest neighbours; the ladder's top if none does."""
    k = min(TUNING_K, len(vectors))
    ladder = tuple(ef for ef in EF_SEARCH_LADDER if ef >= k) or EF_SEARCH_LADDER[-1:]
    if len(vectors) < 2:
        return ladder[0]
    recall = ef_recall_curve(index, vectors, _tuning_rows(len(vectors)), ladder)
    reached = [i for i, r in enumerate(recall) if r >= target - 1e-9]
    at = reached[0] if reached else len(ladder) - 1
    if not reached:
        log.warning("HNSW efSearch %d reaches only %.4f of target %.4f", ladder[at], recall[at], target)
    log.info("HNSW efSearch %d: neighbour recall@%d %.4f", ladder[at], k, recall[at])
    return ladder[at]


def save_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path, mmap: bool = True) -> faiss.Index:
    """Read an index; memory-mapped by default (IO_FLAG_MMAP_IFC).

    Mapped, the vectors, codes, lists and graph stay in the page cache, shared by every process
    that serves the file, and loading copies nothing. IO_FLAG_MMAP_IFC maps every type built
    here (flat, HNSW, HNSW-SQ, IVF, IVF-PQ) at full speed; the older IO_FLAG_MMAP maps only IVF
    lists, through OnDiskInvertedLists, 3-4x slower to search (docs/ann.md). Segments are never
    written after they are published, so a mapping never sees a file change under it.
    """
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None) if mmap else None
    if flag is not None:
        try:
            return faiss.read_index(str(path), flag)
        except RuntimeError:
            log.debug("%s cannot be memory-mapped; reading it into memory", path)
    return faiss.read_index(str(path))


def _unwrapped(index: faiss.Index) -> faiss.Index:
    """The structure inside an id map (IndexIDMap2 included: it subclasses IndexIDMap)."""
    return faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index


def _search_params(
    index: faiss.Index, k: int, settings: IndexSettings, selector: faiss.IDSelector | None
) -> faiss.SearchParameters | None:
    inner = _unwrapped(index)
    if isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        # 0: the value tuned at build time; never a beam narrower than the list asked for
        params.efSearch = max(settings.hnsw_ef_search or inner.hnsw.efSearch, k)
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
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    params = _search_params(index, k, settings, selector)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if params is None:
        scores, ids = index.search(queries, k)
    else:
        scores, ids = index.search(queries, k, params=params)
    return AnnHits(scores=scores, ids=ids)


def describe(index: faiss.Index) -> str:
    """The FAISS class and its search-time knobs, e.g. "IndexIVFFlat (nlist 257, nprobe 123)"."""
    inner = _unwrapped(index)
    name = type(inner).__name__
    if isinstance(inner, faiss.IndexIVF):
        return f"{name} (nlist {inner.nlist}, nprobe {inner.nprobe})"
    if isinstance(inner, faiss.IndexHNSW):
        return f"{name} (M {inner.hnsw.nb_neighbors(1)}, efSearch {inner.hnsw.efSearch})"
    return name


def build_scanner(vectors: np.ndarray) -> faiss.Index:
    """An 8-bit scalar-quantised copy of a flat segment's vectors for the exhaustive scan (ids =
    row numbers). A quarter of the bytes to stream per query, decoded with SIMD: the scan of
    40,000 384-d vectors drops from ~2.5 ms to about 1 ms. One range for every dimension
    (QT_8bit_uniform) decodes a quarter faster than a range per dimension (0.97 vs 1.34 ms);
    its scores are rougher (cosine off by up to 0.009 instead of 0.004), which the Searcher's
    exact re-rank absorbs: it re-scores a pool several times the hits it keeps on the
    full-precision vectors, and the exact top 100 stayed inside the top 400 either way."""
    dim = vectors.shape[1]
    scanner = faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT
    )
    scanner.train(_training_sample(np.asarray(vectors), 20_000))
    for start in range(0, len(vectors), 65536):  # bounded copies out of the memory map
        scanner.add(np.ascontiguousarray(vectors[start : start + 65536], dtype=np.float32))
    return scanner
