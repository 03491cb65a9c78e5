"""Build-time efSearch tuning, the scalar-quantised HNSW, memory-mapped loading (indexer/ann.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer import ann
from indexer.config import IndexSettings
from indexer.embedders import normalise


def clustered(n: int, dim: int = 64, clusters: int = 200, seed: int = 0) -> np.ndarray:
    """Anisotropic clusters: each spreads along its own 8 directions, plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    bases = rng.normal(size=(clusters, 8, dim)) / np.sqrt(dim)
    label = rng.integers(0, clusters, n)
    spread = np.einsum("nr,nrd->nd", rng.normal(size=(n, 8)) * 1.5, bases[label])
    return normalise(centres[label] + spread + 0.15 * rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(20_000)


# M 16 / efConstruction 40 builds 20k x 64 in about a second and leaves a graph whose
# efSearch matters, so the tuning has something to find.
FAST = {"hnsw_m": 16, "hnsw_ef_construction": 40}


def walk_recall_at(index: faiss.IndexHNSW, vectors: np.ndarray, ef: int, queries: np.ndarray) -> float:
    """Recall@100 of the graph walk at `ef` against an exact scan, computed here independently."""
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :100]
    params = faiss.SearchParametersHNSW()
    params.efSearch = ef
    _, found = index.search(queries, 100, params=params)
    return sum(len(set(f) & set(t)) for f, t in zip(found, exact, strict=True)) / exact.size


def test_pseudo_queries_lie_near_stored_vectors_at_their_neighbour_distance(vectors: np.ndarray) -> None:
    rows = ann._tuning_rows(len(vectors))
    queries = ann.pseudo_queries(vectors, rows)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    own = np.einsum("nd,nd->n", queries, vectors[rows])
    others = vectors[rows] @ vectors.T
    others[np.arange(len(rows)), rows] = -np.inf
    nearest = np.sqrt(2 - 2 * others.max(axis=1))  # each row's distance to its nearest neighbour
    moved = np.sqrt(np.maximum(2 - 2 * own, 0))
    assert np.allclose(moved, nearest, atol=1e-3)  # moved by exactly that distance
    assert (moved > 0).all()  # never at the stored point


@pytest.mark.parametrize("target", [0.95, 0.99])
def test_tuned_ef_search_is_the_smallest_that_meets_the_target(vectors: np.ndarray, target: float) -> None:
    settings = IndexSettings(type="hnsw", hnsw_target_recall=target, **FAST)
    index, _ = ann.build_index(vectors, np.arange(len(vectors), dtype=np.int64), settings)
    inner = ann._unwrapped(index)
    ef = inner.hnsw.efSearch
    ladder = [e for e in ann.EF_SEARCH_LADDER if e >= ann.TUNING_K]
    assert ef in ladder and ef != ladder[-1], f"efSearch {ef}: the target should be reachable mid-ladder"
    queries = ann.pseudo_queries(vectors, ann._tuning_rows(len(vectors)))
    assert walk_recall_at(inner, vectors, ef, queries) >= target
    if ef != ladder[0]:  # one step less would have missed it
        assert walk_recall_at(inner, vectors, ladder[ladder.index(ef) - 1], queries) < target
    # and it holds, within a point, for queries near stored vectors but not at them
    queries = normalise(vectors[:200] + 0.05 * np.random.default_rng(7).normal(size=(200, 64))).astype(
        np.float32
    )
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :100]
    found = ann.search_index(index, queries, 100, IndexSettings()).ids
    held_out = np.mean([len(set(f) & set(t)) / 100 for f, t in zip(found, exact, strict=True)])
    assert held_out >= target - 0.01


def test_a_harder_target_needs_a_wider_beam(vectors: np.ndarray) -> None:
    ids = np.arange(len(vectors), dtype=np.int64)
    efs = [
        ann._unwrapped(
            ann.build_index(vectors, ids, IndexSettings(type="hnsw", hnsw_target_recall=t, **FAST))[0]
        ).hnsw.efSearch
        for t in (0.9, 0.999)
    ]
    assert efs[0] < efs[1]


def test_tuned_ef_search_is_saved_with_the_index_and_used(vectors: np.ndarray, tmp_path: Path) -> None:
    ids = np.arange(len(vectors), dtype=np.int64) * 7
    index, _ = ann.build_index(vectors, ids, IndexSettings(type="hnsw", hnsw_target_recall=0.99, **FAST))
    tuned = ann._unwrapped(index).hnsw.efSearch
    ann.save_index(index, tmp_path / "ann.faiss")
    for mmap in (True, False):
        loaded = ann.load_index(tmp_path / "ann.faiss", mmap=mmap)
        assert ann._unwrapped(loaded).hnsw.efSearch == tuned
        assert f"efSearch {tuned}" in ann.describe(loaded)
        params = ann._search_params(loaded, 10, IndexSettings(), None)
        assert params is not None and params.efSearch == tuned  # 0: the stored value
    queries = vectors[:20]
    default = ann.search_index(loaded, queries, 10, IndexSettings()).ids
    pinned = ann.search_index(loaded, queries, 10, IndexSettings(hnsw_ef_search=tuned)).ids
    assert (default == pinned).all()


def test_a_non_zero_setting_overrides_tuning_at_build_and_at_search(vectors: np.ndarray) -> None:
    ids = np.arange(len(vectors), dtype=np.int64)
    index, _ = ann.build_index(vectors, ids, IndexSettings(type="hnsw", hnsw_ef_search=48, **FAST))
    assert ann._unwrapped(index).hnsw.efSearch == 48  # stored as given, nothing tuned
    assert ann._search_params(index, 10, IndexSettings(hnsw_ef_search=300), None).efSearch == 300
    # never a beam narrower than the list asked for
    assert ann._search_params(index, 200, IndexSettings(hnsw_ef_search=48), None).efSearch == 200
    narrow = ann.search_index(index, vectors[:50], 100, IndexSettings(hnsw_ef_search=16)).ids
    wide = ann.search_index(index, vectors[:50], 100, IndexSettings(hnsw_ef_search=1024)).ids
    assert (narrow != wide).any()  # the setting reaches the search


def test_scalar_quantised_hnsw_builds_searches_and_round_trips(vectors: np.ndarray, tmp_path: Path) -> None:
    ids = np.arange(len(vectors), dtype=np.int64) + 10_000
    settings = IndexSettings(type="hnswsq", **FAST)
    index, kind = ann.build_index(vectors, ids, settings)
    assert kind == "hnswsq" and ann.describe(index).startswith("IndexHNSWSQ")
    queries = normalise(vectors[:100] + 0.05 * np.random.default_rng(3).normal(size=(100, 64))).astype(
        np.float32
    )
    exact = ids[np.argsort(-(queries @ vectors.T), axis=1)[:, :10]]
    candidates = ann.search_index(index, queries, 40, settings).ids
    rows = candidates - 10_000
    reranked = [
        c[np.argsort(-(vectors[r] @ q))[:10]] for c, r, q in zip(candidates, rows, queries, strict=True)
    ]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reranked, exact, strict=True)]) >= 0.97
    ann.save_index(index, tmp_path / "sq.faiss")
    flat_bytes = 4 * vectors.size
    assert (tmp_path / "sq.faiss").stat().st_size < 0.5 * flat_bytes + 8 * 16 * 2 * len(vectors)
    loaded = ann.load_index(tmp_path / "sq.faiss")
    assert (ann.search_index(loaded, queries, 40, settings).ids == candidates).all()


@pytest.mark.parametrize("kind", ["flat", "hnsw", "hnswsq", "ivf", "ivfpq"])
def test_memory_mapped_indexes_search_exactly_like_loaded_ones(kind: str, tmp_path: Path) -> None:
    vectors = clustered(3000, dim=32, clusters=30)
    ids = np.arange(3000, dtype=np.int64) * 2 + 1
    settings = IndexSettings(type=kind, pq_m=8, **FAST)
    index, _ = ann.build_index(vectors, ids, settings)
    ann.save_index(index, tmp_path / "ann.faiss")
    mapped = ann.load_index(tmp_path / "ann.faiss", mmap=True)
    read = ann.load_index(tmp_path / "ann.faiss", mmap=False)
    assert ann.describe(mapped) == ann.describe(read) == ann.describe(index)
    queries = clustered(30, dim=32, clusters=30, seed=5)
    selector_ids = ids[::3]
    for selector in (None, faiss.IDSelectorBatch(selector_ids)):
        a = ann.search_index(mapped, queries, 20, settings, selector=selector)
        b = ann.search_index(read, queries, 20, settings, selector=selector)
        assert (a.ids == b.ids).all() and np.array_equal(a.scores, b.scores)
        assert np.isin(a.ids[a.ids >= 0], ids).all()
        if selector is not None:
            assert np.isin(a.ids[a.ids >= 0], selector_ids).all()


PRIVATE_AFTER_LOAD = """
import sys
from pathlib import Path
from indexer import ann
def anon():
    line = next(x for x in open("/proc/self/status") if x.startswith("RssAnon"))
    return int(line.split()[1]) * 1024
before = anon()
index = ann.load_index(Path(sys.argv[1]), mmap=sys.argv[2] == "mmap")
print(anon() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssAnon from /proc")
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_memory_mapping_keeps_the_structure_out_of_private_memory(kind: str, tmp_path: Path) -> None:
    """Mapped, the structure stays in the file's (shared) pages: reading it adds far less private
    memory than the file's size, where a normal read copies it all. Fresh processes measure it."""
    vectors = clustered(30_000, dim=128, clusters=100)
    settings = IndexSettings(type=kind, ivf_nprobe=4, hnsw_ef_search=64, hnsw_m=8, hnsw_ef_construction=16)
    index, _ = ann.build_index(vectors, np.arange(30_000, dtype=np.int64), settings)
    ann.save_index(index, tmp_path / "ann.faiss")
    size = (tmp_path / "ann.faiss").stat().st_size  # ~16 MB of float vectors

    def private_after_load(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", PRIVATE_AFTER_LOAD, str(tmp_path / "ann.faiss"), mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return int(out.stdout)

    assert private_after_load("mmap") < 0.2 * size
    assert private_after_load("normal") > 0.8 * size


def test_indexes_written_with_idmap2_still_load_and_filter(tmp_path: Path) -> None:
    """Segments written before the switch to IndexIDMap wrap their structure in IndexIDMap2."""
    vectors = clustered(2000, dim=32, clusters=20)
    ids = np.arange(2000, dtype=np.int64) * 5
    hnsw = faiss.IndexHNSWFlat(32, 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efSearch = 64
    old = faiss.IndexIDMap2(hnsw)
    old.add_with_ids(vectors, ids)
    faiss.write_index(old, str(tmp_path / "old.faiss"))
    loaded = ann.load_index(tmp_path / "old.faiss")
    assert ann.describe(loaded) == "IndexHNSWFlat (M 16, efSearch 64)"
    allowed = ids[:1000]
    hits = ann.search_index(loaded, vectors[:5], 10, IndexSettings(), selector=faiss.IDSelectorBatch(allowed))
    assert np.isin(hits.ids, allowed).all()
    assert (hits.ids[:, 0] == ids[:5]).all()
