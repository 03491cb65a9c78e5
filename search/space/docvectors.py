"""Document vectors of one generation: the normalised mean of each document's chunk vectors.

Read straight from the segments' live rows (no SQL per chunk); the catalog is asked once for the
ids, titles and sources of the documents that survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from indexer.embedders import normalise
from indexer.segments import live_rows
from indexer.snapshot import IndexSnapshot


@dataclass(frozen=True)
class DocVectors:
    """Row i is one document; its chunks are chunk_ids[chunk_start[i]:chunk_start[i + 1]]."""

    doc_ids: list[str]
    titles: list[str]
    sources: list[str]
    vectors: np.ndarray  # (n_docs, dim) float32, unit rows
    chunk_ids: np.ndarray  # grouped by document, ascending within each
    chunk_start: np.ndarray  # (n_docs + 1,) offsets into chunk_ids

    def __len__(self) -> int:
        return len(self.doc_ids)

    def chunks_of(self, row: int) -> np.ndarray:
        return self.chunk_ids[self.chunk_start[row] : self.chunk_start[row + 1]]


def document_vectors(index: IndexSnapshot) -> DocVectors:
    """Every live document of `index` with its mean vector (chunks grouped by document key)."""
    rows = live_rows(index.segments.segments, index.vectors.dim)
    order = np.argsort(rows.doc_keys, kind="stable")
    keys, chunk_ids = rows.doc_keys[order], rows.ids[order]
    vectors = rows.vectors[order]
    if not len(keys):
        dim = index.vectors.dim
        return DocVectors([], [], [], np.zeros((0, dim), np.float32), chunk_ids, np.zeros(1, np.int64))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sums = np.add.reduceat(vectors, starts, axis=0)
    unique_keys = keys[starts]
    names = index.store.doc_ids(unique_keys.tolist())
    found = [names.get(int(k)) for k in unique_keys]  # None: purged while an old generation is open
    docs = index.store.documents([d for d in found if d is not None], index.generation)
    present = [i for i, doc_id in enumerate(found) if doc_id is not None and doc_id in docs]
    ids = [str(found[i]) for i in present]
    bounds = np.r_[starts, len(keys)]
    pieces = [chunk_ids[bounds[i] : bounds[i + 1]] for i in present]
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    return DocVectors(
        doc_ids=ids,
        titles=[docs[d].title or docs[d].source for d in ids],
        sources=[docs[d].source for d in ids],
        vectors=normalise(sums[present]) if present else np.zeros((0, vectors.shape[1]), np.float32),
        chunk_ids=np.concatenate(pieces) if pieces else np.zeros(0, np.int64),
        chunk_start=np.r_[0, np.cumsum(lengths)].astype(np.int64),
    )


def chunk_texts(index: IndexSnapshot, docs: DocVectors) -> Iterator[tuple[int, str]]:
    """(document row, chunk text) for every chunk of `docs`, in one pass over the catalog."""
    row_of = np.repeat(np.arange(len(docs)), np.diff(docs.chunk_start))
    order = np.argsort(docs.chunk_ids)
    sorted_ids = docs.chunk_ids[order]
    for chunk_id, _title, text in index.store.iter_chunk_texts(index.generation):
        at = int(np.searchsorted(sorted_ids, chunk_id))
        if at < len(sorted_ids) and sorted_ids[at] == chunk_id:
            yield int(row_of[order[at]]), text
