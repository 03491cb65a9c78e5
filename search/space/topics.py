"""Topics: spherical k-means over document vectors, k chosen by silhouette, names by c-TF-IDF.

k, when not given, is the one with the best mean silhouette (cosine distance) among 2..K_MAX on a
fixed random sample of documents: a silhouette compares each document's distance to its own
cluster with the nearest other one, so it needs no labels and penalises both merged and split
topics. The sample bounds its cost (O(sample^2)), whatever the corpus size. Names are class-based
TF-IDF terms (BERTopic's c-TF-IDF): a term's frequency in the cluster's chunks, weighted by how
rare it is across clusters, over the keyword analyser's words (indexer/analysis.py: folded, CJK
runs as bigrams), so names are readable words in any language.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from indexer.analysis import STOPWORDS, words

K_MAX = 30
SAMPLE = 2000
NAME_TERMS = 6
CENTRAL_DOCS = 5
# Beyond the analyser's function words: words common in any prose that would name every topic.
_EXTRA_STOPWORDS = frozenset(
    "about after all also am been before being between both can could did each had he her here him his "
    "if into just many may me more most much my no not now only other our out over own same she should "
    "so some such than their them then there these they those through too under up very we were would "
    "one two three use used using however while within without".split()
)


@dataclass(frozen=True)
class Clustering:
    k: int
    labels: np.ndarray  # (n,) topic of each document
    centroids: np.ndarray  # (k, dim) unit rows
    similarity: np.ndarray  # (n,) cosine of each document to its own centroid
    reason: str  # why this k


def kmeans(vectors: np.ndarray, k: int, seed: int = 1234, niter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit centroids) of spherical k-means; deterministic for a given seed."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if k <= 1 or len(vectors) <= k:
        if k <= 1:
            centroid = vectors.mean(axis=0, keepdims=True)
            centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
            return np.zeros(len(vectors), np.int64), centroid.astype(np.float32)
        return np.arange(len(vectors), dtype=np.int64), vectors.copy()
    model = faiss.Kmeans(
        vectors.shape[1],
        k,
        niter=niter,
        spherical=True,
        seed=seed,
        min_points_per_centroid=1,
        max_points_per_centroid=512,
    )
    model.train(vectors)
    _, labels = model.index.search(vectors, 1)
    return labels[:, 0].astype(np.int64), np.asarray(model.centroids, dtype=np.float32)


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (1 - dot of unit vectors); 0 for one cluster."""
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    onehot = (labels[:, None] == clusters[None, :]).astype(np.float32)
    sizes = onehot.sum(axis=0)
    sums = distance @ onehot  # (n, k): summed distance to each cluster
    own = np.searchsorted(clusters, labels)
    rows = np.arange(len(labels))
    own_size = sizes[own]
    a = np.where(own_size > 1, sums[rows, own] / np.maximum(own_size - 1, 1), 0.0)
    mean_to = sums / sizes[None, :]
    mean_to[rows, own] = np.inf
    b = mean_to.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def choose_k(vectors: np.ndarray, k_max: int = K_MAX, sample: int = SAMPLE) -> tuple[int, str]:
    """The k of best silhouette on a sample, and a sentence saying so."""
    n = len(vectors)
    if n < 4:
        return 1, f"{n} documents: too few to cluster, one topic"
    rows = np.sort(np.random.default_rng(0).choice(n, size=min(sample, n), replace=False))
    part = np.ascontiguousarray(vectors[rows])
    upper = max(2, min(k_max, int(math.sqrt(len(part))) + 1, len(part) - 1))
    scores = {k: silhouette(part, kmeans(part, k)[0]) for k in range(2, upper + 1)}
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    best, score = ranked[0]
    runner = f"; next best k={ranked[1][0]} ({ranked[1][1]:.3f})" if len(ranked) > 1 else ""
    return best, (
        f"k={best}: best mean silhouette ({score:.3f}, cosine) among k=2..{upper} on "
        f"{len(part)} of {n} documents{runner}"
    )


def cluster(vectors: np.ndarray, k: int | None = None) -> Clustering:
    """Cluster document vectors into `k` topics (chosen when None)."""
    if k is None:
        k, reason = choose_k(vectors)
    else:
        reason = f"k={k}: given"
    k = max(1, min(k, len(vectors))) if len(vectors) else 0
    if k == 0:
        empty = np.zeros(0, np.int64)
        return Clustering(0, empty, np.zeros((0, vectors.shape[1]), np.float32), np.zeros(0), reason)
    labels, centroids = kmeans(vectors, k)
    similarity = np.einsum("ij,ij->i", vectors, centroids[labels])
    return Clustering(k, labels, centroids, similarity.astype(np.float32), reason)


def _terms(text: str) -> list[str]:
    """Readable candidate name terms: words of 3+ letters that are not stopwords, CJK bigrams."""
    out = []
    for word in words(text):
        if word.isascii():
            if (
                len(word) >= 3
                and not word.isdigit()
                and word not in STOPWORDS
                and word not in _EXTRA_STOPWORDS
            ):
                out.append(word)
        elif len(word) >= 2 or not ("\u3400" <= word <= "\u9fff"):
            out.append(word)  # CJK bigrams (unigrams say too little), other scripts' words
    return out


def topic_terms(
    texts: Iterable[tuple[int, str]], labels: np.ndarray, k: int, top: int = NAME_TERMS
) -> list[list[str]]:
    """c-TF-IDF: per topic, the terms whose share of the topic's words, weighted by
    log(1 + average words per topic / the term's frequency over all topics), is highest.
    `texts` yields (document row, text)."""
    counts = [Counter() for _ in range(k)]
    for row, text in texts:
        counts[int(labels[row])].update(_terms(text))
    total: Counter[str] = Counter()
    for counter in counts:
        total.update(counter)
    average = sum(total.values()) / max(k, 1)
    names = []
    for counter in counts:
        size = sum(counter.values()) or 1
        scored = sorted(
            ((c / size) * math.log(1 + average / total[t]), t)
            for t, c in counter.items()
            if c > 1 or size < 50
        )
        names.append([t for _, t in reversed(scored[-top:])])
    return names


def central_rows(clustering: Clustering, topic: int, top: int = CENTRAL_DOCS) -> list[int]:
    """Rows of the documents nearest the topic's centroid, nearest first."""
    members = np.flatnonzero(clustering.labels == topic)
    order = np.argsort(-clustering.similarity[members], kind="stable")
    return members[order[:top]].tolist()
