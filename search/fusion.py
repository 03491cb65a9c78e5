"""Fusing ranked lists from dense and keyword retrieval.

Both methods are kept; the default (`search.fusion: blend`) was chosen by measurement on the
shared datasets, see docs/quality.md: the min-max blend beat RRF (k=60) on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def reciprocal_rank_fusion(rankings: Sequence[tuple[Sequence[str], float]], k: int) -> dict[str, float]:
    """Weighted RRF: sum of weight / (k + rank) over the lists (rank from 1)."""
    fused: dict[str, float] = {}
    for ranking, weight in rankings:
        if weight <= 0:
            continue
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {key: (value - low) / span if span > 0 else 1.0 for key, value in scores.items()}


def score_blend(
    dense: Mapping[str, float], keyword: Mapping[str, float], dense_weight: float, keyword_weight: float
) -> dict[str, float]:
    """Weighted sum of min-max normalised scores; a missing score counts as 0."""
    dense_n, keyword_n = min_max(dense), min_max(keyword)
    total = dense_weight + keyword_weight or 1.0
    return {
        key: (dense_weight * dense_n.get(key, 0.0) + keyword_weight * keyword_n.get(key, 0.0)) / total
        for key in set(dense_n) | set(keyword_n)
    }


def fused_order(fused: Mapping[str, float], rankings: Sequence[Sequence[str]]) -> list[str]:
    """Keys best first; ties go to the better rank in any input list, so order never depends on
    hashing (documents found only by a zero-weighted side all score 0 in a blend)."""
    first_rank: dict[str, int] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            first_rank[key] = min(rank, first_rank.get(key, rank))
    return sorted(fused, key=lambda key: (-fused[key], first_rank.get(key, len(fused))))
