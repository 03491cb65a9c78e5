"""Keyword postings of one segment: an inverted index in flat numpy arrays (compressed sparse rows).

A segment's postings list, for every term, the rows (positions in the segment's `ids.npy`) that
contain it with the term's frequency in the title and in the body, plus every row's title and
body length. Nothing collection-wide is stored: BM25's statistics (document frequency, average
length, live-document count) are summed over the segments at query time, as Lucene does, so a
one-document segment scores exactly like the same document inside a big one, and tombstoned rows
are left out of the statistics as well as the results (keyword_index.py).

Terms are stored as 64-bit BLAKE2b hashes, sorted: a lookup is one binary search in a
memory-mapped array, with no vocabulary to load at start-up. Two distinct terms share a hash with
probability about n^2 / 2^65 (under 3e-8 for a million-term vocabulary).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexer.analysis import index_terms

FILES = ("terms", "offsets", "rows", "title_tf", "body_tf", "title_len", "body_len")
_BLOCK_ROWS = 20_000  # rows analysed at a time while building (bounds the temporary arrays)


@lru_cache(maxsize=500_000)
def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Postings:
    terms: np.ndarray  # uint64, sorted, distinct
    offsets: np.ndarray  # int64, len(terms) + 1: term i's postings are [offsets[i], offsets[i+1])
    rows: np.ndarray  # int32, ascending within each term
    title_tf: np.ndarray  # uint16 occurrences in the title
    body_tf: np.ndarray  # uint16 occurrences in the chunk text
    title_len: np.ndarray  # int32 per row: terms in the title
    body_len: np.ndarray  # int32 per row: terms in the chunk text

    @property
    def n_rows(self) -> int:
        return len(self.body_len)

    def lookup(self, term: str) -> slice | None:
        """Where `term`'s postings lie in rows/title_tf/body_tf, or None when absent."""
        h = np.uint64(term_hash(term))
        at = int(np.searchsorted(self.terms, h))
        if at == len(self.terms) or self.terms[at] != h:
            return None
        return slice(int(self.offsets[at]), int(self.offsets[at + 1]))

    def save(self, folder: Path, save: Callable[[Path, np.ndarray], None]) -> None:
        for name in FILES:
            save(folder / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, folder: Path) -> Postings:
        # Plain views of the maps: slicing a np.memmap builds a memmap object per slice.
        return cls(**{name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in FILES})

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return (folder / "terms.npy").exists()


def _counted(row_terms: Sequence[list[str]], first_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, row, count) of every distinct term in every row of one block."""
    vocabulary: dict[str, int] = {}
    codes: list[int] = []
    lengths = np.fromiter((len(t) for t in row_terms), np.int64, len(row_terms))
    for terms in row_terms:
        codes.extend(vocabulary.setdefault(t, len(vocabulary)) for t in terms)
    if not codes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int64)
    rows = np.repeat(np.arange(first_row, first_row + len(row_terms), dtype=np.int64), lengths)
    keys, counts = np.unique(rows * len(vocabulary) + np.asarray(codes, np.int64), return_counts=True)
    hashes = np.fromiter((term_hash(t) for t in vocabulary), np.uint64, len(vocabulary))
    return hashes[keys % len(vocabulary)], (keys // len(vocabulary)).astype(np.int32), counts


def build_postings(fields: Iterable[tuple[str, str]], n_rows: int) -> Postings:
    """Postings of `n_rows` rows given as (title, text) pairs in row order."""
    parts: list[tuple[np.ndarray, ...]] = []
    title_len = np.zeros(n_rows, np.int32)
    body_len = np.zeros(n_rows, np.int32)
    titles: list[list[str]] = []
    bodies: list[list[str]] = []
    title_terms: dict[str, list[str]] = {}  # chunks of one document share its title
    row = start = 0
    for title, text in fields:
        analysed = title_terms.get(title)
        if analysed is None:
            if len(title_terms) > 10_000:
                title_terms.clear()
            analysed = title_terms[title] = index_terms(title)
        titles.append(analysed)
        bodies.append(index_terms(text))
        row += 1
        if len(bodies) == _BLOCK_ROWS:
            parts.append(_block(titles, bodies, start, title_len, body_len))
            titles, bodies, start = [], [], row
    if bodies:
        parts.append(_block(titles, bodies, start, title_len, body_len))
    if row != n_rows:
        raise ValueError(f"postings for {n_rows} rows were given {row}")
    return _assemble(parts, title_len, body_len)


def _block(
    titles: list[list[str]], bodies: list[list[str]], start: int, title_len: np.ndarray, body_len: np.ndarray
) -> tuple[np.ndarray, ...]:
    """One block's (hash, row, title_tf, body_tf), rows unique per hash."""
    title_len[start : start + len(titles)] = [len(t) for t in titles]
    body_len[start : start + len(bodies)] = [len(b) for b in bodies]
    th, tr, tc = _counted(titles, start)
    bh, br, bc = _counted(bodies, start)
    hashes = np.concatenate([th, bh])
    rows = np.concatenate([tr, br])
    order = np.lexsort((rows, hashes))
    hashes, rows = hashes[order], rows[order]
    title_tf = np.concatenate([tc, np.zeros(len(bc), np.int64)])[order]
    body_tf = np.concatenate([np.zeros(len(tc), np.int64), bc])[order]
    # A term in both the title and the body of a row appears twice: add the pair up.
    first = np.ones(len(hashes), bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (rows[1:] != rows[:-1])
    starts = np.flatnonzero(first)
    return (
        hashes[starts],
        rows[starts],
        np.minimum(np.add.reduceat(title_tf, starts), 65535).astype(np.uint16) if len(starts) else title_tf,
        np.minimum(np.add.reduceat(body_tf, starts), 65535).astype(np.uint16) if len(starts) else body_tf,
    )


def _assemble(parts: list[tuple[np.ndarray, ...]], title_len: np.ndarray, body_len: np.ndarray) -> Postings:
    """Sort (hash, row) postings into compressed rows."""
    if parts:
        hashes, rows, title_tf, body_tf = (np.concatenate(column) for column in zip(*parts, strict=True))
    else:
        hashes, rows = np.zeros(0, np.uint64), np.zeros(0, np.int32)
        title_tf, body_tf = np.zeros(0, np.uint16), np.zeros(0, np.uint16)
    if len(parts) > 1:
        order = np.lexsort((rows, hashes))
        hashes, rows, title_tf, body_tf = hashes[order], rows[order], title_tf[order], body_tf[order]
    terms, first = np.unique(hashes, return_index=True)
    offsets = np.append(first, len(hashes)).astype(np.int64)
    return Postings(
        terms.astype(np.uint64),
        offsets,
        rows.astype(np.int32),
        title_tf.astype(np.uint16),
        body_tf.astype(np.uint16),
        title_len,
        body_len,
    )


def merge_postings(parts: Sequence[tuple[Postings, np.ndarray]], n_rows: int) -> Postings:
    """One segment's postings from several: `row_map[old row]` is the row in the merged
    segment, or -1 for a row left out (tombstoned). No text is analysed again."""
    pieces: list[tuple[np.ndarray, ...]] = []
    title_len = np.zeros(n_rows, np.int32)
    body_len = np.zeros(n_rows, np.int32)
    for postings, row_map in parts:
        kept = row_map >= 0
        title_len[row_map[kept]] = postings.title_len[kept]
        body_len[row_map[kept]] = postings.body_len[kept]
        hashes = np.repeat(np.asarray(postings.terms), np.diff(postings.offsets))
        rows = row_map[postings.rows]
        live = rows >= 0
        pieces.append(
            (hashes[live], rows[live].astype(np.int32), postings.title_tf[live], postings.body_tf[live])
        )
    return _assemble(pieces, title_len, body_len)
