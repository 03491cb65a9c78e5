"""Big flat segments are scanned through 8-bit codes: after the exact re-rank the results are
the exact ones, and tombstoned chunks never come back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.config import IndexSettings
from indexer.postings import build_postings
from indexer.segments import SCAN_MIN_VECTORS, SegmentSet, write_segment
from indexer.vector_index import FaissVectorIndex


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim))
    vectors = centres[rng.integers(0, 64, n)] + 0.5 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _index(tmp_path: Path, vectors: np.ndarray, deleted: np.ndarray) -> FaissVectorIndex:
    n = len(vectors)
    ids = np.arange(1, n + 1, dtype=np.int64) * 3  # chunk ids are not row numbers
    postings = build_postings([("", "")] * n, n)
    settings = IndexSettings()
    segment = write_segment(tmp_path / "seg", ids, vectors, np.arange(n), postings, settings)
    segments = SegmentSet(tmp_path, [segment], vectors.shape[1], settings)
    if len(deleted):
        segments.remove(ids[deleted])
        segments.commit(2)
    return FaissVectorIndex(segments)


def test_the_quantised_scan_after_an_exact_rerank_is_exact(tmp_path: Path) -> None:
    vectors = _clustered(SCAN_MIN_VECTORS + 500, 48)
    index = _index(tmp_path, vectors, np.zeros(0, np.int64))
    assert index.segments[0].scanner is not None, "a segment this big is scanned through codes"
    queries = _clustered(30, 48, seed=1)
    for query in queries:
        pool = index.search(query[None, :], 40).ids[0]
        reranked = pool[np.argsort(-(index.vectors(pool) @ query), kind="stable")][:10]
        exact = (np.argsort(-(vectors @ query), kind="stable")[:10] + 1) * 3
        assert set(reranked.tolist()) == set(exact.tolist())


def test_tombstoned_rows_never_come_back_from_the_scan(tmp_path: Path) -> None:
    vectors = _clustered(SCAN_MIN_VECTORS + 100, 32, seed=2)
    deleted_rows = np.arange(0, len(vectors), 3)
    index = _index(tmp_path, vectors, deleted_rows)
    gone = set(((deleted_rows + 1) * 3).tolist())
    for query in vectors[deleted_rows[:20]]:  # each query's nearest neighbour is itself: deleted
        found = index.search(query[None, :], 50).ids[0]
        assert len(found) == 50 and not gone & set(found.tolist())
