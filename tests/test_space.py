"""Topics, the map's projection, near-duplicates and outliers, on indexes built with the hashing fake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.config import Settings
from indexer.embedders import HashingEmbedder
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from indexer.snapshot import IndexSnapshot
from search.space import atlas as atlas_module
from search.space import neighbours
from search.space.atlas import atlas_path, load_atlas
from search.space.docvectors import document_vectors
from search.space.neighbours import duplicate_pairs, nearest, union_find_groups
from search.space.projection import pca_2d
from search.space.service import AtlasWorker, SpaceService
from search.space.topics import choose_k, cluster, silhouette
from tests.conftest import write_corpus

THEMES = {
    "ice": "Glaciers carve valleys; ice sheets {n} advance and retreat with the climate and the snow.",
    "bank": "Central banks raise interest rates {n} to fight inflation in the economy and its markets.",
    "bake": "Knead the sourdough {n} dough, let the bread rise overnight, then bake it in a hot oven.",
}
CJK = "央行{n}宣布提高利率，以抑制通货膨胀。利率上升影响贷款。"


def themed_corpus(root: Path, per_theme: int = 8) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for theme, text in THEMES.items():
        for n in range(per_theme):
            # a varying tail so documents of a theme are similar, not identical
            files[f"{theme}/{theme}{n}.txt"] = text.format(n=n) + f" Note {theme} {n * 7} w{n}x.\n"
    files["odd/lighthouse.txt"] = "Keeper logs foghorn wicks lenses gales shipwreck beacons.\n"
    write_corpus(root, files)
    return files


@pytest.fixture
def themed(make_settings: Callable[..., Settings], tmp_path: Path) -> tuple[Settings, HashingEmbedder]:
    settings = make_settings()
    embedder = HashingEmbedder(dim=384)
    themed_corpus(tmp_path / "docs")
    Indexer(settings, embedder).index([tmp_path / "docs"])
    return settings, embedder


def test_document_vectors_are_unit_means_of_their_chunks(themed: tuple[Settings, HashingEmbedder]) -> None:
    settings, _ = themed
    index = IndexSnapshot.open(settings.index_dir)
    try:
        docs = document_vectors(index)
        assert len(docs) == 25 == index.manifest.documents
        assert np.allclose(np.linalg.norm(docs.vectors, axis=1), 1.0, atol=1e-5)
        row = docs.doc_ids.index(next(d for d in docs.doc_ids if d.endswith("bank3.txt")))
        chunk_vectors = index.vectors.vectors(docs.chunks_of(row))
        mean = chunk_vectors.mean(axis=0)
        assert np.allclose(docs.vectors[row], mean / np.linalg.norm(mean), atol=1e-5)
    finally:
        index.close()


def test_topics_find_the_three_themes_and_name_them(themed: tuple[Settings, HashingEmbedder]) -> None:
    settings, _ = themed
    atlas = SpaceService(settings).atlas()
    topics = atlas.data["topics"]
    assert atlas.data["k"] >= 3
    assert "silhouette" in atlas.data["k_reason"]
    big = [t for t in topics if t["size"] >= 8]
    assert len(big) == 3  # each theme is one topic, whole
    topic_of: dict[str, set[int]] = {}
    for doc_id, topic in zip(atlas.data["points"]["doc_id"], atlas.data["points"]["topic"], strict=True):
        topic_of.setdefault(Path(doc_id).parent.name, set()).add(topic)
    themes = {theme: topic_of[theme] for theme in THEMES}
    assert all(len(t) == 1 for t in themes.values()), topic_of  # each theme is one topic, whole
    assert len(set.union(*themes.values())) == 3  # and the three are different topics
    named = {theme: next(t["terms"] for t in topics if t["id"] in ids) for theme, ids in themes.items()}
    assert {"glaciers", "ice", "valleys"} & set(named["ice"])
    assert {"interest", "rates", "inflation", "banks"} & set(named["bank"])
    assert not set(named["bake"]) & {"the", "and", "then", "it"}  # no function words
    for topic in big:
        assert len(topic["central"]) == 5
        sims = [doc["similarity"] for doc in topic["central"]]
        assert sims == sorted(sims, reverse=True)


def test_given_k_is_used_and_not_kept(themed: tuple[Settings, HashingEmbedder]) -> None:
    settings, _ = themed
    atlas = SpaceService(settings).atlas(k=2)
    assert atlas.data["k"] == 2 and atlas.data["k_reason"] == "k=2: given"
    assert load_atlas(IndexLayout(settings.index_dir), atlas.generation) is None


def test_cjk_topics_are_named_with_words_not_single_characters(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {f"zh/rate{n}.txt": CJK.format(n=n) for n in range(6)}
    files.update({f"en/ice{n}.txt": THEMES["ice"].format(n=n) for n in range(6)})
    settings = make_settings()
    Indexer(settings, HashingEmbedder(dim=384)).index([write_corpus(tmp_path / "docs", files)])
    atlas = SpaceService(settings).atlas(k=2)
    names = [t["terms"] for t in atlas.data["topics"]]
    chinese = next(terms for terms in names if any(not t.isascii() for t in terms))
    assert "利率" in chinese
    assert all(len(term) >= 2 for term in chinese)


def test_silhouette_and_choice_of_k_on_separated_blobs() -> None:
    rng = np.random.default_rng(3)
    centres = np.eye(16, dtype=np.float32)[:4] * 5
    points = np.vstack([c + rng.normal(0, 0.3, (50, 16)) for c in centres]).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = np.repeat(np.arange(4), 50)
    assert silhouette(points, labels) > 0.7
    assert silhouette(points, rng.permutation(labels)) < 0.05  # a random split scores near 0
    k, reason = choose_k(points)
    assert k == 4, reason
    found = cluster(points)
    assert len(np.unique(found.labels)) == 4
    assert all(len(np.unique(found.labels[labels == i])) == 1 for i in range(4))


def test_pca_keeps_the_main_axes_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    main, second = rng.normal(0, 1, (200, 1)), rng.normal(0, 1, (200, 1))
    base = main * np.array([[3.0, 1.0, 0.0, 0.0]]) + second * np.array([[0.0, 0.0, 1.0, 0.0]])
    base += rng.normal(0, 0.05, (200, 4))
    points, explained = pca_2d(base.astype(np.float32))
    assert points.shape == (200, 2) and np.abs(points).max() <= 1.0 + 1e-6
    assert explained[0] > 0.85 and explained[0] + explained[1] > 0.99
    assert abs(np.corrcoef(points[:, 0], main[:, 0])[0, 1]) > 0.99
    assert abs(np.corrcoef(points[:, 1], second[:, 0])[0, 1]) > 0.99
    again, _ = pca_2d(base[::-1].astype(np.float32))
    assert np.allclose(points[::-1], again, atol=1e-4)  # order and sign do not flip the map


def test_hnsw_neighbours_agree_with_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(0, 1, (3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = nearest(vectors, 5)
    monkeypatch.setattr(neighbours, "EXACT_MAX", 100)
    approximate = nearest(vectors, 5)
    assert exact.method.startswith("exact") and approximate.method.startswith("HNSW")
    assert not (exact.rows == np.arange(3000)[:, None]).any()  # nobody is its own neighbour
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact.rows, approximate.rows, strict=True)])
    assert recall > 0.95


def test_union_find_joins_chains_into_one_group() -> None:
    assert union_find_groups(6, [(0, 1), (1, 2), (4, 5)]) == [[0, 1, 2], [4, 5]]
    assert union_find_groups(3, []) == []


def test_duplicates_group_copies_and_show_their_passages(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    files = themed_corpus(tmp_path / "docs")
    copy = files["bank/bank2.txt"]
    assert isinstance(copy, str)
    write_corpus(tmp_path / "docs", {"copies/a.txt": copy, "copies/b.txt": copy.replace("Note", "Note:")})
    settings = make_settings()
    Indexer(settings, HashingEmbedder(dim=384)).index([tmp_path / "docs"])
    found = SpaceService(settings).duplicates(threshold=0.99)
    groups = [sorted(Path(d["doc_id"]).name for d in g["documents"]) for g in found["groups"]]
    assert ["a.txt", "b.txt", "bank2.txt"] in groups
    group = next(g for g in found["groups"] if g["size"] == 3)
    assert group["pairs"] and all(p["similarity"] >= 0.99 for p in group["pairs"])
    assert "Central banks raise interest rates 2" in group["pairs"][0]["passage_a"]
    assert found["documents_in_groups"] == sum(len(g) for g in groups)
    assert SpaceService(settings).duplicates(threshold=0.999999)["groups_found"] <= found["groups_found"]


def test_duplicate_pairs_are_listed_once() -> None:
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[0]
    pairs = duplicate_pairs(nearest(vectors, 3), 0.95)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]


def test_outlier_is_the_odd_document(themed: tuple[Settings, HashingEmbedder]) -> None:
    settings, _ = themed
    found = SpaceService(settings).outliers(limit=3)
    top = found["results"][0]
    assert top["doc_id"].endswith("lighthouse.txt")
    assert top["outlier"] and top["centroid_distance"] > 0.5 and top["neighbour_distance"] > 0.5
    assert found["outliers"] == 1
    assert not found["results"][1]["outlier"]


def test_atlas_is_kept_per_generation_and_reused(
    themed: tuple[Settings, HashingEmbedder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, embedder = themed
    layout = IndexLayout(settings.index_dir)
    first = SpaceService(settings).atlas()
    path = atlas_path(layout, first.generation)
    assert path.exists()

    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("recomputed although kept")

    monkeypatch.setattr(atlas_module, "compute_atlas", fail)
    assert SpaceService(settings).atlas().data == first.data
    monkeypatch.undo()
    write_corpus(tmp_path / "docs", {"more/new.txt": "A brand new note about glaciers and ice.\n"})
    Indexer(settings, embedder).index([tmp_path / "docs"])
    second = SpaceService(settings).atlas()
    assert second.generation > first.generation and second.data["documents"] == 26
    layout.collect_garbage(keep=0)
    SpaceService(settings).atlas()
    assert atlas_path(layout, second.generation).exists()


def test_atlas_worker_answers_computing_then_ready(themed: tuple[Settings, HashingEmbedder]) -> None:
    settings, _ = themed
    worker = AtlasWorker(SpaceService(settings))
    state, atlas, _ = worker.get()
    assert state == "computing" and atlas is None
    for _ in range(500):
        state, atlas, _ = worker.get()
        if state == "ready":
            break
        import time

        time.sleep(0.02)
    assert state == "ready" and atlas is not None and atlas.data["documents"] == 25
