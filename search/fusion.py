"""Fusing ranked lists from dense and keyword retrieval.

Every method takes the two sides' (key, score) lists, best first, and a dense weight (below 1
when the embedder cannot read the query's script). The default (`search.fusion`) was chosen
by measurement on the shared datasets (docs/quality.md, `python -m benchmarks.fusion`).

- rrf: weighted reciprocal-rank fusion, sum of weight / (k + rank); ignores scores.
- blend: weighted sum of min-max normalised scores (fixed `blend_alpha`).
- zscore: sum of z-normalised scores, each side standardised over its own list, so a side whose
  top results stand out from the rest of its list (a confident side) moves the fused order more
  than one whose scores are flat.
- dbsf: Qdrant's distribution-based score fusion, min-max over mean +- 3 standard deviations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from indexer.config import SearchSettings

Scored = Sequence[tuple[str, float]]
FUSIONS = ("rrf", "blend", "zscore", "dbsf")


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


def _mean_and_spread(scores: Mapping[str, float]) -> tuple[float, float] | None:
    """Mean and population standard deviation; None for a list of one or of equal scores."""
    if len(scores) < 2:
        return None
    values = list(scores.values())
    if min(values) == max(values):  # float rounding must not give equal scores a spread
        return None
    mean = math.fsum(values) / len(values)
    # Two-pass float variance: statistics.pstdev's exact fractions took 0.4 ms a query.
    spread = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / len(values))
    return (mean, spread) if spread > 0 else None


def z_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Standardised scores; a list of one (or of equal scores) counts as one standard deviation."""
    moments = _mean_and_spread(scores)
    if moments is None:
        return {key: 1.0 for key in scores}
    mean, spread = moments
    return {key: (value - mean) / spread for key, value in scores.items()}


def distribution_scaled(scores: Mapping[str, float]) -> dict[str, float]:
    """Qdrant's DBSF: min-max between mean - 3 sd and mean + 3 sd, clipped to [0, 1]."""
    moments = _mean_and_spread(scores)
    if moments is None:
        return {key: 1.0 for key in scores}
    mean, spread = moments
    low = mean - 3 * spread
    return {key: min(1.0, max(0.0, (value - low) / (6 * spread))) for key, value in scores.items()}


def weighted_sum(
    dense: Mapping[str, float],
    keyword: Mapping[str, float],
    dense_weight: float,
    keyword_weight: float,
    keyword_floor: float | None = None,
) -> dict[str, float]:
    """dense_weight * dense + keyword_weight * keyword over the union. A key absent from a side
    scored below everything that side listed: it gets that side's lowest normalised score, or
    `keyword_floor` where the keyword side's true score of an absent key is known."""
    total = dense_weight + keyword_weight or 1.0
    dense_floor = min(dense.values(), default=0.0)
    if keyword_floor is None:
        keyword_floor = min(keyword.values(), default=0.0)
    return {
        key: (dense_weight * dense.get(key, dense_floor) + keyword_weight * keyword.get(key, keyword_floor))
        / total
        for key in set(dense) | set(keyword)
    }


def score_blend(
    dense: Mapping[str, float], keyword: Mapping[str, float], dense_weight: float, keyword_weight: float
) -> dict[str, float]:
    """Weighted sum of min-max normalised scores; a missing score counts as 0."""
    return weighted_sum(min_max(dense), min_max(keyword), dense_weight, keyword_weight)


def fused_order(fused: Mapping[str, float], rankings: Sequence[Sequence[str]]) -> list[str]:
    """Keys best first; ties go to the better rank in any input list, so order never depends on
    hashing (documents found only by a zero-weighted side all score 0 in a blend)."""
    first_rank: dict[str, int] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            first_rank[key] = min(rank, first_rank.get(key, rank))
    return sorted(fused, key=lambda key: (-fused[key], first_rank.get(key, len(fused))))


def z_of_zero(scores: Mapping[str, float]) -> float:
    """The z-score a BM25 of 0 (no query term) has on a list: one spread below its lowest
    when the list has no spread."""
    moments = _mean_and_spread(scores)
    if moments is None:
        return min(z_scores(scores).values(), default=0.0) - 1.0
    mean, spread = moments
    return (0.0 - mean) / spread


def fuse_scores(
    method: str,
    dense: Scored,
    keyword: Scored,
    dense_weight: float,
    settings: SearchSettings,
    keyword_complete: bool = False,
) -> dict[str, float]:
    """The fused score of every key on either side. `keyword_complete`: the keyword list holds
    every match, so a key absent from it has BM25 0 (z-score fusion then scores it so, below the
    weakest match, instead of tying it with that match)."""
    dense_keys, keyword_keys = [k for k, _ in dense], [k for k, _ in keyword]
    if method == "rrf":
        return reciprocal_rank_fusion([(dense_keys, dense_weight), (keyword_keys, 1.0)], settings.rrf_k)
    dense_scores, keyword_scores = dict(dense), dict(keyword)
    if method == "blend":
        alpha = settings.blend_alpha
        return score_blend(dense_scores, keyword_scores, dense_weight * alpha, 1.0 - alpha)
    if method == "zscore":
        floor = z_of_zero(keyword_scores) if keyword_complete and keyword_scores else None
        return weighted_sum(z_scores(dense_scores), z_scores(keyword_scores), dense_weight, 1.0, floor)
    if method == "dbsf":
        dense_scaled, keyword_scaled = distribution_scaled(dense_scores), distribution_scaled(keyword_scores)
        return weighted_sum(dense_scaled, keyword_scaled, dense_weight, 1.0)
    raise ValueError(f"unknown fusion {method!r}")


def fuse(
    method: str,
    dense: Scored,
    keyword: Scored,
    dense_weight: float,
    settings: SearchSettings,
    keyword_complete: bool = False,
) -> list[str]:
    """Keys best first by `method`."""
    fused = fuse_scores(method, dense, keyword, dense_weight, settings, keyword_complete)
    return fused_order(fused, [[k for k, _ in dense], [k for k, _ in keyword]])
