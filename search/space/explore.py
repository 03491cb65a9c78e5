"""Near-duplicate groups and outliers of one generation, as the JSON the CLI and API show."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from indexer.errors import QueryError
from indexer.snapshot import IndexSnapshot
from search.space.atlas import Atlas
from search.space.docvectors import DocVectors, document_vectors
from search.space.neighbours import duplicate_pairs, isolation, nearest, union_find_groups

DUPLICATE_K = 10  # neighbours asked per document: a group larger than this still links up by chains
OUTLIER_K = 5
PASSAGE_CHARS = 300


def _passages(index: IndexSnapshot, docs: DocVectors, a: int, b: int) -> dict[str, Any]:
    """The most similar pair of chunks of documents a and b: what makes them duplicates."""
    chunks_a, chunks_b = docs.chunks_of(a), docs.chunks_of(b)
    similarity = index.vectors.vectors(chunks_a) @ index.vectors.vectors(chunks_b).T
    i, j = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    texts = index.store.chunks([int(chunks_a[i]), int(chunks_b[j])])
    return {
        "passage_similarity": round(float(similarity[i, j]), 4),
        "passage_a": texts[int(chunks_a[i])].text[:PASSAGE_CHARS],
        "passage_b": texts[int(chunks_b[j])].text[:PASSAGE_CHARS],
    }


def _doc(docs: DocVectors, row: int) -> dict[str, str]:
    return {"doc_id": docs.doc_ids[row], "title": docs.titles[row], "source": docs.sources[row]}


def find_duplicates(index: IndexSnapshot, threshold: float = 0.95, limit: int = 100) -> dict[str, Any]:
    """Groups of documents whose vectors are at least `threshold` cosine apart from another
    member, found through each document's k nearest; at most `limit` groups, largest first."""
    if not 0 < threshold <= 1:
        raise QueryError(f"threshold must be in (0, 1], got {threshold}")
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    started = time.perf_counter()
    docs = document_vectors(index)
    neighbours = nearest(docs.vectors, DUPLICATE_K)
    pairs = duplicate_pairs(neighbours, threshold)
    groups = union_find_groups(len(docs), [(a, b) for a, b, _ in pairs])
    group_of = {row: g for g, members in enumerate(groups) for row in members}
    pairs_of: dict[int, list[tuple[int, int, float]]] = {}
    for a, b, score in pairs:
        pairs_of.setdefault(group_of[a], []).append((a, b, score))
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), -pairs_of[g][0][2], groups[g][0]))
    shown = []
    for g in order[:limit]:
        shown.append(
            {
                "size": len(groups[g]),
                "documents": [_doc(docs, row) for row in groups[g]],
                "pairs": [
                    {
                        "a": docs.doc_ids[a],
                        "b": docs.doc_ids[b],
                        "similarity": round(score, 4),
                        **_passages(index, docs, a, b),
                    }
                    for a, b, score in pairs_of[g][:20]
                ],
            }
        )
    return {
        "threshold": threshold,
        "documents": len(docs),
        "groups_found": len(groups),
        "documents_in_groups": sum(len(g) for g in groups),
        "method": f"{DUPLICATE_K} nearest documents each, {neighbours.method}; groups by union-find",
        "seconds": round(time.perf_counter() - started, 3),
        "groups": shown,
    }


def min_topic_size(documents: int) -> int:
    """A "topic" of one or two documents (or under 1% of them) is no topic: what it holds is what
    the outlier search looks for, so its centroid does not count."""
    return max(3, documents // 100)


def topic_centroids(atlas: Atlas, documents: int) -> np.ndarray:
    """Centroids of the topics large enough to count (all of them if none is)."""
    sizes = {int(t["id"]): int(t["size"]) for t in atlas.data["topics"]}
    kept = [t for t in sorted(sizes) if sizes[t] >= min_topic_size(documents)]
    return atlas.centroids[kept] if kept else atlas.centroids


def find_outliers(index: IndexSnapshot, atlas: Atlas, limit: int = 20, min_z: float = 3.0) -> dict[str, Any]:
    """The documents most isolated both from every topic centroid and from their own nearest
    documents: ranked by the smaller of the two robust z-scores (median/MAD); `outlier` marks
    those where both exceed `min_z`."""
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    started = time.perf_counter()
    docs = document_vectors(index)
    if not len(docs):
        return {"documents": 0, "outliers": 0, "results": [], "seconds": 0.0}
    centroids = topic_centroids(atlas, len(docs))
    found = isolation(docs.vectors, centroids, nearest(docs.vectors, OUTLIER_K))
    order = np.lexsort((np.arange(len(docs)), -found.score))[:limit]
    results = []
    for row in order.tolist():
        by_centroid = found.centroid_z[row] >= found.neighbour_z[row]
        results.append(
            {
                **_doc(docs, row),
                "centroid_distance": round(float(found.centroid_distance[row]), 4),
                "neighbour_distance": round(float(found.neighbour_distance[row]), 4),
                "centroid_z": round(float(found.centroid_z[row]), 2),
                "neighbour_z": round(float(found.neighbour_z[row]), 2),
                "stands_out_by": "centroid_distance" if by_centroid else "neighbour_distance",
                "outlier": bool(found.score[row] >= min_z),
            }
        )
    return {
        "documents": len(docs),
        "outliers": int((found.score >= min_z).sum()),
        "min_z": min_z,
        "method": (
            f"1 - cosine to the nearest of {len(centroids)} topic centroids (topics of at least "
            f"{min_topic_size(len(docs))} documents) and 1 - mean cosine to "
            f"the {OUTLIER_K} nearest documents, each as a robust z-score (median, MAD); "
            "ranked by the smaller"
        ),
        "seconds": round(time.perf_counter() - started, 3),
        "results": results,
    }
