"""Which vector segments to merge: keeps their number bounded at a cost that stays amortised.

Every update adds a segment, so without merging a search would fan out over ever more of them.
Like Lucene's tiered policy, this merges the cheapest adjacent window (the smallest total of
live vectors) whenever there are more than `max_segments`, so small recent segments merge
often and big old ones rarely; a segment with a large share of tombstones is rewritten alone.
Merges never build a segment above `max_vectors` (HNSW build memory grows with its size).
Adjacent windows only: segments then keep disjoint, ordered chunk-id ranges.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.manifest import SegmentInfo


def plan_merges(
    segments: Sequence[SegmentInfo],
    max_segments: int,
    merge_factor: int,
    max_vectors: int,
    expunge_ratio: float,
) -> list[list[int]]:
    """Runs of adjacent segment positions to merge into one segment each (runs of one: rewrite
    without its deleted vectors)."""
    groups: list[list[int]] = [[i] for i in range(len(segments))]
    sizes = [s.live for s in segments]
    while len(groups) > max_segments:
        width = min(merge_factor, len(groups))
        best: tuple[int, int] | None = None
        for start in range(len(groups) - width + 1):
            total = sum(sizes[i] for group in groups[start : start + width] for i in group)
            if total <= max_vectors and (best is None or total < best[0]):
                best = (total, start)
        if best is None:
            break  # every window would exceed max_vectors: the index is simply large
        start = best[1]
        merged = [i for group in groups[start : start + width] for i in group]
        groups[start : start + width] = [merged]
    runs = [group for group in groups if len(group) > 1]
    for group in groups:
        if len(group) == 1:
            info = segments[group[0]]
            if info.count and info.deleted / info.count >= expunge_ratio:
                runs.append(group)
    return sorted(runs)


def plan_full_compaction(segments: Sequence[SegmentInfo], max_vectors: int) -> list[list[int]]:
    """`semsearch compact`: as few segments as max_vectors allows, every tombstone dropped."""
    runs: list[list[int]] = []
    current: list[int] = []
    total = 0
    for position, info in enumerate(segments):
        if current and total + info.live > max_vectors:
            runs.append(current)
            current, total = [], 0
        current.append(position)
        total += info.live
    if current:
        runs.append(current)
    return [run for run in runs if len(run) > 1 or segments[run[0]].deleted]
