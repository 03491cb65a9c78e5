"""k nearest documents through a FAISS index, and what they show: near-duplicates and outliers.

Each document asks an index of the document vectors for its k nearest: exact (flat, in batches)
up to EXACT_MAX documents, HNSW above, so the cost grows as n log n, never n^2. Near-duplicates
are the neighbour pairs above a cosine threshold, grouped by union-find (a chain of copies is one
group). Outliers are documents far from every topic centroid and from their own neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

EXACT_MAX = 20_000
BATCH = 1024
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


@dataclass(frozen=True)
class Neighbours:
    rows: np.ndarray  # (n, k) neighbour rows, -1 where fewer exist; self excluded
    scores: np.ndarray  # (n, k) cosine, -inf where no neighbour
    method: str


def nearest(vectors: np.ndarray, k: int) -> Neighbours:
    """Each row's k nearest other rows by cosine (rows are unit vectors)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    want = min(k + 1, n)
    if n <= EXACT_MAX:
        index: faiss.Index = faiss.IndexFlatIP(dim)
        method = "exact (flat)"
    else:
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = max(HNSW_EF_SEARCH, want)
        index = hnsw
        method = f"HNSW (M {HNSW_M}, efSearch {hnsw.hnsw.efSearch})"
    if n:
        index.add(vectors)
    rows = np.full((n, k), -1, np.int64)
    scores = np.full((n, k), -np.inf, np.float32)
    for start in range(0, n, BATCH):
        found_scores, found = index.search(vectors[start : start + BATCH], want)
        own = np.arange(start, start + len(found))[:, None]
        drop = (found == own) | (found < 0)
        order = np.argsort(drop, axis=1, kind="stable")[:, :k]  # the others first, in rank order
        width = order.shape[1]
        dropped = np.take_along_axis(drop, order, 1)
        block = slice(start, start + len(found))
        rows[block, :width] = np.where(dropped, -1, np.take_along_axis(found, order, 1))
        scores[block, :width] = np.where(dropped, -np.inf, np.take_along_axis(found_scores, order, 1))
    return Neighbours(rows, scores, method)


def union_find_groups(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (each sorted, more than one member) of the graph that `pairs` draws."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for a, b in pairs:
        for x in (a, b):
            groups.setdefault(root(x), []).append(x)
    return [sorted(set(g)) for g in groups.values()]


def duplicate_pairs(neighbours: Neighbours, threshold: float) -> list[tuple[int, int, float]]:
    """(row, other row, cosine) once per pair at or above `threshold`, most similar first."""
    hit_rows, hit_cols = np.nonzero(neighbours.scores >= threshold)
    best: dict[tuple[int, int], float] = {}
    for r, c in zip(hit_rows.tolist(), hit_cols.tolist(), strict=True):
        other = int(neighbours.rows[r, c])
        key = (min(r, other), max(r, other))
        best[key] = max(best.get(key, -1.0), float(neighbours.scores[r, c]))
    return sorted(((a, b, s) for (a, b), s in best.items()), key=lambda t: (-t[2], t[0], t[1]))


@dataclass(frozen=True)
class Isolation:
    centroid_distance: np.ndarray  # 1 - cosine to the nearest topic centroid
    neighbour_distance: np.ndarray  # 1 - mean cosine to the k nearest documents
    centroid_z: np.ndarray  # robust z-scores (median, MAD) of the two
    neighbour_z: np.ndarray
    score: np.ndarray  # the smaller z: an outlier must stand out on both


MIN_SPREAD = 0.05  # of cosine distance: in a corpus of near-copies a tiny difference is no outlier


def _robust_z(values: np.ndarray) -> np.ndarray:
    """(value - median) / (1.4826 MAD, at least MIN_SPREAD): a few outliers cannot inflate the
    spread they are measured against, as they would a standard deviation."""
    median = float(np.median(values))
    spread = max(1.4826 * float(np.median(np.abs(values - median))), MIN_SPREAD)
    return (values - median) / spread


def isolation(vectors: np.ndarray, centroids: np.ndarray, neighbours: Neighbours) -> Isolation:
    """How far each document lies from every centroid and from its neighbours."""
    to_centroid = 1.0 - (vectors @ centroids.T).max(axis=1) if len(centroids) else np.ones(len(vectors))
    scores = np.where(np.isfinite(neighbours.scores), neighbours.scores, np.nan)
    counts = np.isfinite(neighbours.scores).sum(axis=1)
    mean = np.where(counts > 0, np.nansum(scores, axis=1) / np.maximum(counts, 1), -1.0)
    to_neighbours = 1.0 - mean
    cz, nz = _robust_z(to_centroid), _robust_z(to_neighbours)
    return Isolation(
        to_centroid.astype(np.float32), to_neighbours.astype(np.float32), cz, nz, np.minimum(cz, nz)
    )
