"""The KeywordIndex seam and its FTS5 implementation (BM25 over the catalog's chunks).

FTS5 lives inside the catalog file, so its rows are written in the same transaction as the
chunks they index, and it keeps collection-wide BM25 statistics whatever the vector segments
look like (docs/decisions.md: per-segment statistics give a one-document segment an IDF of ~0).
Deleted versions stay in FTS5 until a purge; every search keeps only the chunks the reader's
generation holds. User text is never parsed as FTS5 syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from indexer.analysis import STOPWORDS, analyze, query_terms
from indexer.store import Store

# FTS5 bm25() weights: title, body. A title match counts half a body match (docs/quality.md).
_BM25 = "bm25(chunks_fts, 0.5, 1.0)"


class KeywordIndex(Protocol):
    """Ranks chunks by keyword relevance; filters arrive as allowed chunk ids."""

    def add(self, ids: Sequence[int], title: str, texts: Sequence[str]) -> None: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...


def fts_match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's terms, each as a quoted string.

    Quoting every term makes `"`, `*`, `NEAR`, `-`, `:` and parentheses plain text: FTS5 sees
    only string literals joined by OR. Stopwords are left out unless the query is nothing else
    ("the who"). Returns None when the query has no searchable term.
    """
    terms = query_terms(query)
    terms = [term for term in terms if term not in STOPWORDS] or terms
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class Fts5KeywordIndex:
    """BM25 through SQLite FTS5, seen at one generation of the catalog."""

    def __init__(self, store: Store, generation: int) -> None:
        self.store = store
        self.generation = generation

    def add(self, ids: Sequence[int], title: str, texts: Sequence[str]) -> None:
        """Index chunks of one document (call inside the writer's transaction)."""
        analysed_title = analyze(title)
        self.store.db.executemany(
            "INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
            ((int(i), analysed_title, analyze(t)) for i, t in zip(ids, texts, strict=True)),
        )

    def remove(self, ids: Sequence[int]) -> None:
        """Nothing to do now: a deleted version is invisible to later generations at once, and
        its rows go when the catalog is purged (older generations may still read them)."""

    def search(self, query: str, limit: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to `limit` (chunk id, score) pairs, best first; higher scores are better."""
        match = fts_match_expression(query)
        if match is None or limit <= 0:
            return []
        pool = max(limit, 16)
        while True:
            rows = self.store.execute(
                f"SELECT rowid, -{_BM25} FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY {_BM25} LIMIT ?",  # noqa: S608
                [match, pool],
            ).fetchall()
            held = self.store.chunk_documents([r[0] for r in rows], self.generation)
            kept = [(int(cid), float(score)) for cid, score in rows if cid in held]
            if allowed is not None and kept:
                inside = np.isin(np.fromiter((c for c, _ in kept), np.int64, len(kept)), allowed)
                kept = [pair for pair, ok in zip(kept, inside, strict=True) if ok]
            if len(kept) >= limit or len(rows) < pool:
                return kept[:limit]
            pool *= 4
