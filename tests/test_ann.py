from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexer import ann
from indexer.config import IndexSettings
from indexer.embedders import normalise


def clustered_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    return normalise(centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim)))


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(queries @ vectors.T), axis=1)[:, :k]]


@pytest.mark.parametrize(
    ("kind", "min_recall"), [("flat", 1.0), ("hnsw", 0.95), ("ivf", 0.9), ("ivfpq", 0.5)]
)
def test_index_types_agree_with_exact_search(kind: str, min_recall: float) -> None:
    vectors = clustered_vectors(3000)
    ids = np.arange(1000, 4000, dtype=np.int64)  # FAISS ids are chunk ids, not row numbers
    settings = IndexSettings(type=kind, ivf_nprobe=8, pq_m=8)
    index, built = ann.build_index(vectors, ids, settings)
    assert built == kind
    queries = clustered_vectors(50, seed=1)
    found = ann.search_index(index, queries, 10, settings).ids
    truth = exact_top(vectors, ids, queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= min_recall, f"{kind} recall@10 {recall:.3f}"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_id_selector_filters_inside_the_search(kind: str) -> None:
    vectors = clustered_vectors(2000)
    ids = np.arange(2000, dtype=np.int64)
    settings = IndexSettings(type=kind, ivf_nprobe=64)
    index, _ = ann.build_index(vectors, ids, settings)
    allowed = list(range(0, 2000, 100))  # 1% of the collection
    selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
    hits = ann.search_index(index, vectors[:1], 20, settings, selector=selector)
    found = [i for i in hits.ids[0] if i >= 0]
    assert set(found) <= set(allowed)
    # HNSW's graph walk loses recall under a 1% filter; the Searcher scans such small filtered
    # sets exactly instead (tests/test_search.py), so only flat and IVF must fill the list here.
    assert len(found) == 20 if kind != "hnsw" else found


def test_save_and_load_round_trip(tmp_path) -> None:
    vectors = clustered_vectors(500)
    ids = np.arange(500, dtype=np.int64) * 3
    index, _ = ann.build_index(vectors, ids, IndexSettings(type="hnsw"))
    ann.save_index(index, tmp_path / "a.faiss")
    loaded = ann.load_index(tmp_path / "a.faiss")
    settings = IndexSettings()
    assert (
        ann.search_index(loaded, vectors[:5], 5, settings).ids
        == ann.search_index(index, vectors[:5], 5, settings).ids
    ).all()
    assert ann.describe(loaded) == "IndexHNSWFlat (M 32, efSearch 128)"


@pytest.mark.parametrize(
    ("n", "expected"), [(10, "flat"), (49_999, "flat"), (50_000, "hnsw"), (3_000_000, "ivfpq")]
)
def test_auto_chooses_by_collection_size(n: int, expected: str) -> None:
    assert ann.choose_index_type(n, IndexSettings()) == expected


def test_small_collections_still_build_ivf_and_pq() -> None:
    vectors = clustered_vectors(60)
    for kind in ("ivf", "ivfpq"):
        index, _ = ann.build_index(vectors, np.arange(60, dtype=np.int64), IndexSettings(type=kind))
        assert index.ntotal == 60


def test_probe_recall_curve_matches_what_ivf_search_finds() -> None:
    vectors = clustered_vectors(4000)
    ids = np.arange(4000, dtype=np.int64)
    index, _ = ann.build_index(vectors, ids, IndexSettings(type="ivf", ivf_nprobe=1))
    rows = np.arange(0, 4000, 40)
    curve = ann.probe_recall_curve(index, vectors, rows)
    assert curve.shape == (index.nlist,) and curve[-1] == 1.0
    assert np.all(np.diff(curve) >= 0)
    truth = ann.exact_neighbour_rows(vectors, rows)
    for nprobe in (1, 3, 8):
        index.nprobe = nprobe
        _, found = index.search(vectors[rows], ann.TUNING_K + 1)
        searched = np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found, strict=True)])
        assert abs(searched - curve[nprobe - 1]) < 1e-9, nprobe


@pytest.mark.parametrize("target", [0.8, 0.95, 0.998])
def test_nprobe_is_tuned_to_the_smallest_value_reaching_the_target(target: float) -> None:
    vectors = clustered_vectors(4000)
    settings = IndexSettings(type="ivf", ivf_nprobe=0, ivf_target_recall=target)
    index, _ = ann.build_index(vectors, np.arange(4000, dtype=np.int64), settings)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(4000, size=ann.TUNING_QUERIES, replace=False))
    curve = ann.probe_recall_curve(index, vectors, rows)
    tuned = index.nprobe
    assert curve[tuned - 1] >= target
    assert tuned == 1 or curve[tuned - 2] < target
    assert f"nprobe {tuned})" in ann.describe(index)


def test_configured_nprobe_overrides_the_tuned_one_at_search_time() -> None:
    vectors = clustered_vectors(3000)
    ids = np.arange(3000, dtype=np.int64)
    index, _ = ann.build_index(vectors, ids, IndexSettings(type="ivf", ivf_target_recall=0.999))
    queries = normalise(vectors[:40] + 0.2 * np.random.default_rng(2).normal(size=(40, 32)))
    truth = exact_top(vectors, ids, queries, 10)

    def recall(nprobe: int) -> float:
        found = ann.search_index(index, queries, 10, IndexSettings(type="ivf", ivf_nprobe=nprobe)).ids
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))

    assert index.nprobe > 1
    assert recall(0) >= 0.98  # 0: the nprobe stored in the index at build time
    assert recall(1) < recall(0)
