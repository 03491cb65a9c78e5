"""One open generation of an index: the handle that owns its catalog, vectors and keyword index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.config import IndexSettings, SearchSettings
from indexer.embedders import Embedder
from indexer.errors import ModelMismatch
from indexer.keyword_index import Bm25KeywordIndex, Bm25Parameters, KeywordIndex
from indexer.layout import IndexLayout
from indexer.manifest import EmbedderInfo, Manifest
from indexer.segments import SegmentSet
from indexer.store import Store
from indexer.vector_index import FaissVectorIndex
from indexer.vector_store import open_vector_index


def check_embedder(built: EmbedderInfo, embedder: Embedder) -> None:
    """Refuse to mix vectors from two models: scores would be meaningless."""
    if (built.backend, built.model_id, built.dim) != (embedder.backend, embedder.model_id, embedder.dim):
        raise ModelMismatch(
            f"this index was built with {built.model_id} ({built.backend}, {built.dim}-d) "
            f"but the configured model is {embedder.model_id} ({embedder.backend}, {embedder.dim}-d): "
            f"use --model {built.model_id.split('@')[0]} or run `semsearch rebuild`"
        )


@dataclass
class IndexSnapshot:
    """A read-only view of one generation; stays valid while newer generations are published."""

    layout: IndexLayout
    manifest: Manifest
    store: Store
    vectors: FaissVectorIndex
    keywords: KeywordIndex

    @classmethod
    def open(
        cls, index_dir: Path, settings: IndexSettings | None = None, search: SearchSettings | None = None
    ) -> IndexSnapshot:
        layout = IndexLayout(index_dir)
        return cls.open_manifest(layout, layout.current(), settings, search)

    @classmethod
    def open_manifest(
        cls,
        layout: IndexLayout,
        manifest: Manifest,
        settings: IndexSettings | None = None,
        search: SearchSettings | None = None,
    ) -> IndexSnapshot:
        store = Store(layout.catalog_path(manifest), readonly=True)
        settings = settings or IndexSettings()
        try:
            segments = SegmentSet.open(layout.segments, manifest.segments, manifest.embedder.dim, settings)
            vectors = open_vector_index(segments, manifest, settings, layout.index_dir)
        except BaseException:
            store.close()
            raise
        search = search or SearchSettings()
        parameters = Bm25Parameters(search.bm25_k1, search.bm25_b, search.title_weight)
        return cls(layout, manifest, store, vectors, Bm25KeywordIndex(segments, parameters))

    @property
    def segments(self) -> SegmentSet:
        return self.vectors.segment_set

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def name(self) -> str:
        return self.manifest.name

    def warm(self) -> None:
        """Read what the first query would otherwise read (a server warms a new generation
        before it swaps it in)."""
        self.vectors.warm()
        self.keywords.warm()

    def size_on_disk(self) -> int:
        return self.layout.size_on_disk(self.manifest)

    def close(self) -> None:
        self.vectors.close()
        self.store.close()
