"""Which vector store an index uses (`index.vector_store`): FAISS in the segments, or Milvus.

The one place that dispatches on the setting; Milvus (and pymilvus) is imported only when named.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from indexer.config import IndexSettings
from indexer.layout import IndexLayout
from indexer.manifest import Manifest
from indexer.segments import SegmentSet
from indexer.vector_index import FaissVectorIndex

if TYPE_CHECKING:
    from indexer.milvus_sync import MilvusMirror


def open_vector_index(
    segments: SegmentSet, manifest: Manifest, settings: IndexSettings, index_dir: Path
) -> FaissVectorIndex:
    """The read side of one generation's vectors in the configured store."""
    if not settings.vector_store:
        return FaissVectorIndex(segments)
    from indexer.milvus_index import MilvusVectorIndex

    return MilvusVectorIndex(segments, manifest, settings, index_dir)


def open_mirror(settings: IndexSettings, layout: IndexLayout, base: Manifest) -> MilvusMirror | None:
    """What a writer keeps in step with each generation it saves (None: FAISS needs nothing,
    its structures are written with the segments)."""
    if not settings.vector_store:
        return None
    from indexer.milvus_sync import MilvusMirror

    return MilvusMirror(settings, layout, base)
