"""The KeywordIndex seam and its implementation: BM25 over the segments' postings.

Statistics are collection-wide and exact at query time: the live-chunk count, each term's
document frequency and the average length are summed over the segments with tombstoned rows
left out (Lucene sums per-segment statistics the same way, but counts deleted documents until a
merge). So a document added alone in a one-document segment ranks as it would after any merge,
and a deleted one stops counting at once. The score is BM25F-style: a title occurrence counts
`title_weight` body occurrences in both the frequency and the length, with Lucene's
non-negative IDF, log(1 + (N - df + 0.5) / (df + 0.5)). User text is only ever split into
terms: nothing in a query is syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexer.analysis import search_terms
from indexer.segments import Segment, SegmentSet


class KeywordIndex(Protocol):
    """Ranks chunks by keyword relevance; filters arrive as allowed chunk ids."""

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...

    def scored(self, query: str, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def warm(self) -> None: ...


@dataclass(frozen=True)
class Bm25Parameters:
    """Defaults as in `search.*` (docs/quality.md, "BM25 parameters")."""

    k1: float = 1.2
    b: float = 0.4
    title_weight: float = 1.0


class Bm25KeywordIndex:
    """BM25 over a SegmentSet (shared with the vector index)."""

    def __init__(self, segments: SegmentSet, parameters: Bm25Parameters | None = None) -> None:
        self.segment_set = segments
        self.parameters = parameters or Bm25Parameters()

    def warm(self) -> None:
        """Open every segment's postings and compute its lengths before the first query."""
        for segment in self.segment_set.segments:
            segment.live_length(self.parameters.title_weight)

    def search(self, query: str, limit: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to `limit` (chunk id, score) pairs, best first; higher scores are better."""
        return self.search_terms(search_terms(query), limit, allowed)

    def search_terms(
        self, terms: list[str], limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """`search` for terms already analysed (index_terms' output)."""
        if limit <= 0:
            return []
        ids, scores = top_scored(*self.scored_terms(terms, allowed), limit)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def scored(self, query: str, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk holding a query term, unordered: (chunk ids, BM25 scores). What `search`
        cuts; the Searcher counts matches from it (`total`) and applies `min_score`."""
        return self.scored_terms(search_terms(query), allowed)

    def scored_terms(
        self, terms: list[str], allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        segments = [s for s in self.segment_set.segments if s.info.live]
        if not terms or not segments:
            return _NONE
        k1, b, weight = self.parameters.k1, self.parameters.b, self.parameters.title_weight
        live_count = sum(s.info.live for s in segments)
        average = max(sum(s.live_length(weight) for s in segments) / live_count, 1e-9)
        scores: list[np.ndarray | None] = [None] * len(segments)
        for term in terms:
            found: list[tuple[int, np.ndarray, np.ndarray]] = []  # (segment, rows, weighted tf)
            frequency = 0
            for position, segment in enumerate(segments):
                where = segment.postings.lookup(term)
                if where is None:
                    continue
                postings = segment.postings
                rows = np.asarray(postings.rows[where])
                tf = postings.title_tf[where] * np.float32(weight)  # float32: a fresh array
                tf += postings.body_tf[where]
                if segment.info.deleted:
                    live = segment.live_mask()[rows]
                    rows, tf = rows[live], tf[live]
                frequency += len(rows)
                found.append((position, rows, tf))
            if not frequency:
                continue
            # float32 throughout, as Lucene scores; each step in place (half the time of a
            # float64 expression over 34k postings)
            scale = np.float32(np.log1p((live_count - frequency + 0.5) / (frequency + 0.5)) * (k1 + 1.0))
            for position, rows, tf in found:
                segment = segments[position]
                denominator = segment.length_norms(k1, b, weight, average)[rows]
                denominator += tf
                tf /= denominator
                tf *= scale  # idf * tf * (k1 + 1) / (tf + norm)
                row_scores = scores[position]
                if row_scores is None:
                    row_scores = scores[position] = np.zeros(segment.info.count, np.float32)
                row_scores[rows] += tf
        return _matched(segments, scores, allowed)


_NONE = (np.empty(0, np.int64), np.empty(0, np.float32))


def _matched(
    segments: list[Segment], scores: list[np.ndarray | None], allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The scored rows over the segments as (chunk ids, scores)."""
    ids_parts, score_parts = [], []
    for segment, row_scores in zip(segments, scores, strict=True):
        if row_scores is None:
            continue
        rows = np.flatnonzero(row_scores)  # every matched row scores > 0 (the IDF is positive)
        ids = segment.ids[rows]
        if allowed is not None:
            inside = np.isin(ids, allowed)
            rows, ids = rows[inside], ids[inside]
        ids_parts.append(ids)
        score_parts.append(row_scores[rows])
    if not ids_parts:
        return _NONE
    return np.concatenate(ids_parts), np.concatenate(score_parts)


def top_scored(ids: np.ndarray, values: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `limit` of (ids, scores), best first, ties by chunk id."""
    if len(ids) > limit:  # the best `limit`; at the cut, equal scores go to the smaller ids
        cut = -np.partition(-values, limit - 1)[limit - 1]
        keep = values >= cut
        ids, values = ids[keep], values[keep]
    order = np.lexsort((ids, -values))[:limit]
    return ids[order], values[order]
