"""Maximal marginal relevance (Carbonell & Goldstein, 1998): a ranked list made less repetitive.

Each next pick maximises (1 - diversity) * relevance - diversity * (its highest cosine to what is
already picked). `diversity` is MMR's 1 - lambda: 0 keeps the ranking as it is, 1 picks by
novelty alone. Relevance is the ranking's own score rescaled to [0, 1] over the candidates, so
the trade-off means the same in every mode (cosines, fused z-scores and BM25 have other ranges).
"""

from __future__ import annotations

import numpy as np


def mmr_order(relevance: np.ndarray, vectors: np.ndarray, diversity: float, k: int) -> list[int]:
    """Positions of the `k` candidates MMR picks, in the order it picks them. `relevance` is
    best first (ties keep their order); `vectors` are the candidates' unit vectors."""
    n = len(relevance)
    k = min(k, n)
    if n == 0 or k <= 0:
        return []
    if diversity <= 0:
        return list(range(k))
    rel = np.asarray(relevance, dtype=np.float64)
    spread = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / spread if spread > 0 else np.ones(n)
    similarity = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    closest = np.full(n, -np.inf)  # each candidate's highest cosine to the picked ones
    picked: list[int] = []
    free = np.ones(n, dtype=bool)
    for _ in range(k):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        gain = (1 - diversity) * rel - diversity * redundancy
        gain[~free] = -np.inf
        best = int(np.argmax(gain))  # first maximum: ties go to the better-ranked candidate
        picked.append(best)
        free[best] = False
        closest = np.maximum(closest, similarity[best])
    return picked


def mmr_pool(need: int) -> int:
    """Candidates MMR chooses among for a page ending at `need`: enough that dropping the
    redundant ones still leaves good ones, few enough that the similarity matrix stays small."""
    return max(3 * need, 30)
