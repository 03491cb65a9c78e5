"""SearchService: the live index as the CLI and the web app see it.

It turns raw parameters into validated requests, serialises results, and follows the index
directory's CURRENT pointer: when another process (or the API) publishes a new version, the
next request opens it, while requests already running finish on the version they started with.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from indexer import ann
from indexer.config import Settings
from indexer.embedders import Embedder
from indexer.errors import NotFound
from indexer.layout import IndexLayout
from indexer.reader import OpenIndex
from search.filters import parse_filters
from search.searcher import Hit, Searcher, SearchRequest, SearchResult


def describe_index(index: OpenIndex) -> dict[str, Any]:
    """What `semsearch stats` and `/api/stats` show about one open version."""
    manifest = index.manifest
    return {
        "documents": index.store.count("documents"),
        "chunks": index.store.count("chunks"),
        "model": manifest["embedder"]["model_id"],
        "backend": manifest["embedder"]["backend"],
        "dimension": manifest["embedder"]["dim"],
        "index_type": manifest["index_type"],
        "ann": ann.describe(index.ann),
        "size_on_disk": f"{index.size_on_disk() / 1e6:.1f} MB",
        "built_at": manifest["built_at"],
        "version": index.version.name,
        "index_dir": str(index.version.root.parent.parent.resolve()),
    }


def index_stats(index_dir: Path) -> dict[str, Any]:
    """Stats without a model: opens the live version just for this."""
    index = OpenIndex.open(index_dir)
    try:
        return describe_index(index)
    finally:
        index.close()


class SearchService:
    """Thread-safe facade over the live Searcher."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.layout = IndexLayout(settings.index_dir)
        self._lock = threading.RLock()
        self._searcher: Searcher | None = None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> SearchService:
        service = cls(settings, embedder)
        service.searcher()  # fail now, with a clear message, if there is no index
        return service

    # -- the live version -------------------------------------------------------------
    def searcher(self) -> Searcher:
        """The Searcher of the live version, reopened when CURRENT has moved."""
        live = self.layout.current_name()
        current = self._searcher
        if current is not None and current.index.version.name == live:
            return current
        with self._lock:
            current = self._searcher
            if current is None or current.index.version.name != self.layout.current_name():
                index = OpenIndex.open(self.settings.index_dir)
                self._searcher = Searcher(index, self.embedder, self.settings)
            assert self._searcher is not None
            return self._searcher

    @property
    def ready(self) -> bool:
        try:
            self.searcher()
        except Exception:  # noqa: BLE001 - readiness is a yes/no answer
            return False
        return True

    # -- queries ----------------------------------------------------------------------
    def request(
        self,
        query: str,
        k: int | None = None,
        offset: int = 0,
        mode: str | None = None,
        filters: Mapping[str, Any] | None = None,
        collapse: bool = True,
    ) -> SearchRequest:
        searcher = self.searcher()
        request = SearchRequest(
            query=query,
            k=self.settings.search.default_k if k is None else k,
            offset=offset,
            mode=(mode or self.settings.search.mode),  # type: ignore[arg-type]
            filters=parse_filters(filters, searcher.metadata_fields),
            collapse=collapse,
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
    ) -> SearchResult:
        return self.search_requests([self.request(query, k, offset, mode, filters, collapse)])[0]

    def search_requests(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        searcher = self.searcher()
        with self._lock:  # one SQLite connection and one model: serialise, they are CPU-bound
            return searcher.search_many(requests)

    def similar(self, doc_id: str, k: int) -> list[Hit]:
        searcher = self.searcher()
        with self._lock:
            return searcher.similar(doc_id, k)

    def document(self, doc_id: str) -> dict[str, Any]:
        store = self.searcher().index.store
        with self._lock:
            doc = store.document(doc_id)
            if doc is None:
                raise NotFound(f"no document with id {doc_id!r}")
            chunks = store.chunks_of(doc_id)
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

    def stats(self) -> dict[str, Any]:
        searcher = self.searcher()
        with self._lock:
            return describe_index(searcher.index)

    @staticmethod
    def hit_json(hit: Hit) -> dict[str, Any]:
        data = asdict(hit)
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
