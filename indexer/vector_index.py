"""The VectorIndex seam and its FAISS implementation over the segments (segments.py).

Searching fans out over the segments and keeps the best; tombstoned chunks never come back.
Flat segments have no FAISS file: their memory-mapped vectors are scanned with one matrix
product, which is what IndexFlatIP does, without a second copy in RAM.
"""

from __future__ import annotations

from typing import Protocol

import faiss
import numpy as np

from indexer import ann
from indexer.ann import AnnHits
from indexer.manifest import SegmentInfo
from indexer.segments import Segment, SegmentSet, live_rows


class VectorIndex(Protocol):
    """Nearest-neighbour search over chunk vectors (inner product of unit vectors = cosine)."""

    dim: int

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> AnnHits: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def count(self) -> int: ...

    def describe(self) -> str: ...

    def warm(self) -> None: ...

    def close(self) -> None: ...


class FaissVectorIndex:
    """Nearest neighbours over a SegmentSet (shared with the writer or the keyword index)."""

    def __init__(self, segments: SegmentSet) -> None:
        self.segment_set = segments
        self.dim = segments.dim
        self.settings = segments.settings

    @property
    def segments(self) -> list[Segment]:
        return self.segment_set.segments

    # -- reading ----------------------------------------------------------------------
    def count(self) -> int:
        return self.segment_set.count()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Full-precision vectors of chunk ids (every id must be stored)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for segment, at, rows in self.segment_set.locate(ids):
            out[at] = segment.vectors[rows]
        return out

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> AnnHits:
        """Top-k over every segment; tombstoned ids never come back, `allowed` restricts."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        all_scores, all_ids = [], []
        for segment in self.segments:
            hits = self._search_segment(segment, queries, k, allowed)
            if hits is not None:
                all_scores.append(hits.scores)
                all_ids.append(hits.ids)
        if not all_scores:
            return AnnHits(
                np.full((len(queries), 0), -np.inf, np.float32), np.zeros((len(queries), 0), np.int64)
            )
        scores, ids = np.hstack(all_scores), np.hstack(all_ids)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return AnnHits(np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1))

    def _search_segment(
        self, segment: Segment, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> AnnHits | None:
        candidates = None
        if allowed is not None:
            inside = allowed[(allowed >= segment.info.min_id) & (allowed <= segment.info.max_id)]
            inside = inside[segment.holds(inside)] if len(inside) else inside
            candidates = np.setdiff1d(inside, segment.deleted, assume_unique=True)
            if not len(candidates):
                return None
        if segment.info.live == 0:
            return None
        if segment.ann is None:
            return _flat_search(segment, queries, k, candidates)
        selector: faiss.IDSelector | None
        if candidates is not None:
            selector = faiss.IDSelectorBatch(candidates)
        elif len(segment.deleted):
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(segment.deleted))
        else:
            selector = None
        hits = ann.search_index(segment.ann, queries, k, self.settings, selector=selector)
        return AnnHits(hits.scores, hits.ids.astype(np.int64))

    def warm(self) -> None:
        """Load every ANN structure and run one search, so the first real query pays neither
        the reading nor the page faults of the vectors nor the BLAS start-up."""
        for segment in self.segments:
            _ = segment.ann, segment.scanner
        if self.segments:
            self.search(np.zeros((1, self.dim), np.float32), 1)

    def describe(self) -> str:
        """The ANN structures in use, e.g. "2 segments: IndexHNSWFlat (M 32, efSearch 128), flat"
        (a structure not read yet is named by its kind: describing never loads one)."""
        parts = [ann.describe(s.built) if s.built is not None else s.info.kind for s in self.segments]
        label = "segment" if len(parts) == 1 else "segments"
        return f"{len(parts)} {label}: " + ", ".join(dict.fromkeys(parts)) if parts else "empty"

    def rebuilt_as(self, kind: str) -> FaissVectorIndex:
        """All live vectors in one in-memory segment of `kind` (exact baselines, experiments)."""
        rows = live_rows(self.segments, self.dim)
        ids = rows.ids
        settings = self.settings.model_copy(update={"type": kind})
        built = None if kind == "flat" else ann.build_index(rows.vectors, ids, settings)[0]
        info = SegmentInfo("memory", len(ids), int(ids.min(initial=0)), int(ids.max(initial=0)), kind)
        segment = Segment(info, ids, rows.vectors, rows.doc_keys, np.zeros(0, np.int64), built=built)
        return FaissVectorIndex(SegmentSet(self.segment_set.root, [segment], self.dim, settings))

    def close(self) -> None:
        self.segment_set.close()


def _flat_search(segment: Segment, queries: np.ndarray, k: int, candidates: np.ndarray | None) -> AnnHits:
    scanner = segment.scanner if candidates is None else None
    if scanner is not None:
        params = None
        if len(segment.deleted):  # tombstones by row number (the scanner's ids are rows)
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.flatnonzero(~segment.live_mask())))
        scores, rows = scanner.search(queries, min(k, len(segment.ids)), params=params)
        return AnnHits(scores, np.where(rows >= 0, segment.ids[np.maximum(rows, 0)], -1).astype(np.int64))
    if candidates is not None:
        ids = candidates
        scores = queries @ np.asarray(segment.vectors[segment.rows_of(candidates)], dtype=np.float32).T
    else:
        ids = segment.ids
        scores = queries @ np.asarray(segment.vectors, dtype=np.float32).T
        if len(segment.deleted):
            scores[:, ~segment.live_mask()] = -np.inf
    k = min(k, scores.shape[1])
    top = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < scores.shape[1]
        else np.tile(np.arange(scores.shape[1]), (len(queries), 1))
    )
    top_scores = np.take_along_axis(scores, top, 1)
    keep = np.isfinite(top_scores)
    out_ids = np.where(keep, ids[top], -1)
    return AnnHits(np.where(keep, top_scores, -np.inf).astype(np.float32), out_ids.astype(np.int64))
