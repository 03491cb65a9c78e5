"""SearchService: the live index as the CLI and the web app see it.

It turns raw parameters into validated requests, serialises results, and follows the index
directory's CURRENT pointer: when another process (or the API) publishes a new version, the
next request opens it, while requests already running finish on the version they started with.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from indexer.config import IndexSettings, Settings
from indexer.embedders import Embedder
from indexer.errors import NotFound, QueryError
from indexer.layout import IndexLayout
from indexer.manifest import Manifest
from indexer.snapshot import IndexSnapshot
from search.filters import parse_filters
from search.searcher import Hit, Searcher, SearchRequest, SearchResult

_HIT_FIELDS = tuple(field.name for field in fields(Hit))


def describe_index(index: IndexSnapshot) -> dict[str, Any]:
    """What `semsearch stats` and `/api/stats` show about one open generation."""
    manifest = index.manifest
    return {
        "documents": manifest.documents,
        "chunks": manifest.chunks,
        "model": manifest.embedder.model_id,
        "backend": manifest.embedder.backend,
        "dimension": manifest.embedder.dim,
        "index_type": index.vectors.describe(),
        "segments": len(manifest.segments),
        "deleted_vectors": sum(s.deleted for s in manifest.segments),
        "size_on_disk": f"{index.size_on_disk() / 1e6:.1f} MB",
        "built_at": manifest.built_at,
        "version": index.name,
        "index_dir": str(index.layout.index_dir.resolve()),
        "by_type": index.store.counts_by_type(index.generation),
        "skipped_last_run": index.store.get_meta("skipped_last_run", []),
    }


def index_stats(index_dir: Path, settings: IndexSettings | None = None) -> dict[str, Any]:
    """Stats without a model: opens the live generation just for this (in the configured
    vector store, so `index_type` names Milvus where it is used)."""
    index = IndexSnapshot.open(index_dir, settings)
    try:
        return describe_index(index)
    finally:
        index.close()


class _Lease:
    """A Searcher and the requests using it; a replaced one is closed when its last user leaves."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.users = 0
        self.retired = False


class SearchService:
    """Thread-safe facade over the live Searcher."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.layout = IndexLayout(settings.index_dir)
        self._lock = threading.RLock()
        self._live: _Lease | None = None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> SearchService:
        service = cls(settings, embedder)
        service.searcher()  # fail now, with a clear message, if there is no index
        return service

    # -- the live generation ----------------------------------------------------------
    def _current(self) -> _Lease:
        """The lease of the live generation, reopened when CURRENT has moved."""
        live = self.layout.current_name()
        lease = self._live
        if lease is not None and lease.searcher.index.name == live:
            return lease
        with self._lock:
            lease = self._live
            if lease is None or lease.searcher.index.name != self.layout.current_name():
                index = IndexSnapshot.open(self.settings.index_dir, self.settings.index, self.settings.search)
                try:
                    index.warm()
                    fresh = _Lease(Searcher(index, self.embedder, self.settings))
                    fresh.searcher.warm()
                except BaseException:
                    index.close()
                    raise
                old, self._live = self._live, fresh
                if old is not None:
                    old.retired = True
                    if old.users == 0:
                        old.searcher.index.close()
            return self._live  # type: ignore[return-value]

    def loaded(self) -> Manifest | None:
        """The manifest of the generation being served, without opening one (None: none yet)."""
        lease = self._live
        return None if lease is None else lease.searcher.index.manifest

    def searcher(self) -> Searcher:
        """The live Searcher (for a single call; hold `using()` across several)."""
        return self._current().searcher

    @contextmanager
    def using(self) -> Iterator[Searcher]:
        """The live Searcher, kept open until the block ends even if a newer one is published."""
        with self._lock:
            lease = self._current()
            lease.users += 1
        try:
            yield lease.searcher
        finally:
            with self._lock:
                lease.users -= 1
                if lease.retired and lease.users == 0:
                    lease.searcher.index.close()

    def close(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.retired = True
                if self._live.users == 0:
                    self._live.searcher.index.close()
                self._live = None

    # -- queries ----------------------------------------------------------------------
    def request(
        self,
        query: str,
        k: int | None = None,
        offset: int = 0,
        mode: str | None = None,
        filters: Mapping[str, Any] | None = None,
        collapse: bool = True,
        min_score: float | None = None,
        diversity: float = 0.0,
    ) -> SearchRequest:
        searcher = self.searcher()
        request = SearchRequest(
            query=query,
            k=self.settings.search.default_k if k is None else k,
            offset=offset,
            mode=(mode or self.settings.search.mode),  # type: ignore[arg-type]
            filters=parse_filters(filters, searcher.metadata_fields),
            collapse=collapse,
            min_score=min_score,
            diversity=diversity,
        )
        request.validate(self.settings)
        return request

    def search_text(
        self,
        query: str,
        k: int | None = None,
        offset: int = 0,
        mode: str | None = None,
        filters: Mapping[str, Any] | None = None,
        collapse: bool = True,
        min_score: float | None = None,
        diversity: float = 0.0,
    ) -> SearchResult:
        request = self.request(query, k, offset, mode, filters, collapse, min_score, diversity)
        return self.search_requests([request])[0]

    def search_requests(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        # One SQLite connection and one model: serialise, they are CPU-bound.
        with self.using() as searcher, self._lock:
            return searcher.search_many(requests)

    def similar(self, doc_id: str, k: int) -> list[Hit]:
        with self.using() as searcher, self._lock:
            return searcher.similar(doc_id, k)

    def document(self, doc_id: str) -> dict[str, Any]:
        with self.using() as searcher, self._lock:
            store, generation = searcher.index.store, searcher.generation
            doc = store.document(doc_id, generation)
            if doc is None:
                raise NotFound(f"no document with id {doc_id!r}")
            chunks = store.chunks_of(doc_id, generation)
        return {
            "doc_id": doc.id,
            "title": doc.title,
            "source": doc.source,
            "modified": doc.modified,
            "metadata": doc.metadata,
            "text": doc.text,
            "chunks": [
                {"chunk_id": c.id, "ordinal": c.ordinal, "start": c.start, "end": c.end, "text": c.text}
                for c in chunks
            ],
        }

    def documents(self, limit: int = 50, offset: int = 0, source: str | None = None) -> dict[str, Any]:
        """A page of what the index holds, by source; `source` is a glob over sources."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise QueryError(f"limit must be between 1 and 1000 and offset at least 0, got {limit}, {offset}")
        with self.using() as searcher, self._lock:
            rows = searcher.index.store.list_documents(searcher.generation, limit, offset, source)
            total = (
                searcher.index.store.count_listed(searcher.generation, source)
                if source
                else searcher.index.manifest.documents
            )
        return {
            "total": total,
            "offset": offset,
            "documents": [
                {"doc_id": d, "source": src, "title": t, "chunks": n, "modified": m}
                for d, src, t, n, m in rows
            ],
        }

    def stats(self) -> dict[str, Any]:
        with self.using() as searcher, self._lock:
            return describe_index(searcher.index)

    @staticmethod
    def hit_json(hit: Hit) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies recursively, 10 us a hit.
        data = {name: getattr(hit, name) for name in _HIT_FIELDS}
        data["highlights"] = [list(span) for span in hit.highlights]
        return data

    @classmethod
    def result_json(cls, result: SearchResult) -> dict[str, Any]:
        return {
            "query": result.query,
            "mode": result.mode,
            "took_ms": result.took_ms,
            "total": result.total,
            "results": [cls.hit_json(h) for h in result.hits],
        }
