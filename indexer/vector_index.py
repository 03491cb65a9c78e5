"""The VectorIndex seam and its FAISS implementation: immutable segments plus tombstones.

An update adds one new segment (its own vectors, ids and ANN structure) and records deletions
as a tombstone file per touched segment; nothing already written is rewritten. Searching fans
out over the segments and keeps the best. A merge step (merge_policy.py) keeps the number of
segments bounded. Flat segments have no FAISS file: their memory-mapped vectors are scanned
with one matrix product, which is what IndexFlatIP does, without a second copy in RAM.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from indexer import ann
from indexer.ann import AnnHits
from indexer.config import IndexSettings
from indexer.layout import fsync_path
from indexer.manifest import SegmentInfo


class VectorIndex(Protocol):
    """Nearest-neighbour search over chunk vectors (inner product of unit vectors = cosine)."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> AnnHits: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def count(self) -> int: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


@dataclass
class Segment:
    """One open segment: ids ascending, vectors row-aligned with them (memory-mapped), tombstones
    sorted. Its FAISS structure is read on first search, so a writer that only adds, removes
    and merges never holds one in memory."""

    info: SegmentInfo
    ids: np.ndarray
    vectors: np.ndarray
    deleted: np.ndarray
    folder: Path | None = None
    built: faiss.Index | None = None

    @property
    def ann(self) -> faiss.Index | None:
        if self.info.kind == "flat":
            return None
        if self.built is None:
            assert self.folder is not None
            self.built = ann.load_index(self.folder / "ann.faiss")
        return self.built

    def live_mask(self) -> np.ndarray:
        return ~np.isin(self.ids, self.deleted, assume_unique=True)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, ids)

    def holds(self, ids: np.ndarray) -> np.ndarray:
        rows = np.minimum(self.rows_of(ids), len(self.ids) - 1)
        return self.ids[rows] == ids if len(self.ids) else np.zeros(len(ids), bool)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)
        handle.flush()
        os.fsync(handle.fileno())


def write_segment(folder: Path, ids: np.ndarray, vectors: np.ndarray, settings: IndexSettings) -> Segment:
    """Write a new segment directory; returns it loaded. The caller publishes it in a manifest."""
    ids = np.asarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")  # a copy: only when a merge interleaved ranges
        ids, vectors = ids[order], vectors[order]
    folder.mkdir(parents=True)
    _save_npy(folder / "vectors.npy", vectors)
    _save_npy(folder / "ids.npy", ids)
    kind = ann.choose_index_type(len(ids), settings)
    if kind != "flat":
        index, kind = ann.build_index(vectors, ids, settings.model_copy(update={"type": kind}))
        ann.save_index(index, folder / "ann.faiss")
        del index
        fsync_path(folder / "ann.faiss")
    fsync_path(folder)
    info = SegmentInfo(
        id=folder.name,
        count=len(ids),
        min_id=int(ids[0]) if len(ids) else 0,
        max_id=int(ids[-1]) if len(ids) else 0,
        kind=kind,
    )
    return load_segment(folder, info)  # memory-mapped: the caller's arrays can be freed


def load_segment(folder: Path, info: SegmentInfo) -> Segment:
    ids = np.load(folder / "ids.npy")
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    deleted = np.load(folder / info.deletes) if info.deletes else np.zeros(0, np.int64)
    return Segment(info, ids, vectors, deleted, folder)


def new_segment_id() -> str:
    return f"seg-{uuid.uuid4().hex[:12]}"


class FaissVectorIndex:
    """Segments of one generation; `add`/`remove` stage changes that `commit` writes."""

    def __init__(self, root: Path, segments: Sequence[Segment], dim: int, settings: IndexSettings) -> None:
        self.root = root
        self.dim = dim
        self.settings = settings
        self.segments = sorted(segments, key=lambda s: s.info.min_id)
        self._removed: dict[str, np.ndarray] = {}

    @classmethod
    def open(
        cls, root: Path, infos: Sequence[SegmentInfo], dim: int, settings: IndexSettings
    ) -> FaissVectorIndex:
        return cls(root, [load_segment(root / info.id, info) for info in infos], dim, settings)

    # -- writing ----------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Write `vectors` as one new segment."""
        if len(ids) == 0:
            return
        segment = write_segment(self.root / new_segment_id(), ids, vectors, self.settings)
        self.segments.append(segment)
        self.segments.sort(key=lambda s: s.info.min_id)

    def remove(self, ids: np.ndarray) -> None:
        """Tombstone chunk ids; each touched segment gets a new tombstone file at commit."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        for segment in self.segments:
            inside = ids[(ids >= segment.info.min_id) & (ids <= segment.info.max_id)]
            inside = inside[segment.holds(inside)] if len(inside) else inside
            if len(inside):
                previous = self._removed.get(segment.info.id, np.zeros(0, np.int64))
                self._removed[segment.info.id] = np.union1d(previous, inside)

    def commit(self, generation: int) -> tuple[SegmentInfo, ...]:
        """Write the tombstone files staged by `remove`; returns the segment list to publish."""
        for segment in self.segments:
            removed = self._removed.pop(segment.info.id, None)
            if removed is None:
                continue
            deleted = np.union1d(segment.deleted, removed)
            name = f"deletes-{generation:08d}.npy"
            _save_npy(self.root / segment.info.id / name, deleted)
            segment.deleted = deleted
            segment.info = replace(segment.info, deleted=len(deleted), deletes=name)
        return self.infos()

    def infos(self) -> tuple[SegmentInfo, ...]:
        return tuple(s.info for s in self.segments)

    def merge(self, runs: Sequence[Sequence[int]]) -> None:
        """Replace each run of adjacent segments (indexes into self.segments) by one segment of
        their live vectors. Runs must not overlap."""
        for run in sorted(runs, key=lambda r: -r[0]):  # from the end: earlier positions stay valid
            ids, vectors = _live_vectors([self.segments[i] for i in run], self.dim)
            merged = (
                [write_segment(self.root / new_segment_id(), ids, vectors, self.settings)] if len(ids) else []
            )
            self.segments[run[0] : run[-1] + 1] = merged

    # -- reading ----------------------------------------------------------------------
    def count(self) -> int:
        return sum(s.info.live for s in self.segments)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Full-precision vectors of chunk ids (every id must be stored). Segments' id ranges
        may overlap (a resumed run publishes older staged ids after newer ones), so each
        segment is asked which ids it holds."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        todo = np.ones(len(ids), dtype=bool)
        for segment in self.segments:
            if not todo.any():
                break
            at = np.flatnonzero(todo & (ids >= segment.info.min_id) & (ids <= segment.info.max_id))
            if not len(at):
                continue
            at = at[segment.holds(ids[at])]
            out[at] = segment.vectors[segment.rows_of(ids[at])]
            todo[at] = False
        if todo.any():
            raise KeyError(f"no stored vector for chunk ids {ids[todo][:5].tolist()}")
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

    def describe(self) -> str:
        """The ANN structures in use, e.g. "2 segments: IndexHNSWFlat (M 32, efSearch 128), flat"
        (a structure not read yet is named by its kind: describing never loads one)."""
        parts = [ann.describe(s.built) if s.built is not None else s.info.kind for s in self.segments]
        label = "segment" if len(parts) == 1 else "segments"
        return f"{len(parts)} {label}: " + ", ".join(dict.fromkeys(parts)) if parts else "empty"

    def rebuilt_as(self, kind: str) -> FaissVectorIndex:
        """All live vectors in one in-memory segment of `kind` (exact baselines, experiments)."""
        ids, vectors = _live_vectors(self.segments, self.dim)
        settings = self.settings.model_copy(update={"type": kind})
        built = None if kind == "flat" else ann.build_index(vectors, ids, settings)[0]
        info = SegmentInfo("memory", len(ids), int(ids.min(initial=0)), int(ids.max(initial=0)), kind)
        return FaissVectorIndex(
            self.root, [Segment(info, ids, vectors, np.zeros(0, np.int64), built=built)], self.dim, settings
        )

    def close(self) -> None:
        self.segments = []


def _live_vectors(parts: Sequence[Segment], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The untombstoned ids (ascending) and vectors of `parts`, copied once into preallocated
    arrays in bounded blocks from the memory maps (merges and in-memory rebuilds share this)."""
    masks = [part.live_mask() for part in parts]
    total = sum(int(mask.sum()) for mask in masks)
    ids = np.empty(total, dtype=np.int64)
    vectors = np.empty((total, dim), dtype=np.float32)
    row = 0
    for part, mask in zip(parts, masks, strict=True):
        rows = np.flatnonzero(mask)
        for start in range(0, len(rows), 65536):
            block = rows[start : start + 65536]
            ids[row : row + len(block)] = part.ids[block]
            vectors[row : row + len(block)] = part.vectors[block]
            row += len(block)
    if total > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")  # a resumed run can leave overlapping id ranges
        ids, vectors = ids[order], vectors[order]
    return ids, vectors


def _flat_search(segment: Segment, queries: np.ndarray, k: int, candidates: np.ndarray | None) -> AnnHits:
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
