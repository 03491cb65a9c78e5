"""Open one published index version for reading: store, vectors, FAISS index, manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer import ann
from indexer.embedders import Embedder, EmbedderInfo
from indexer.errors import ModelMismatch
from indexer.layout import IndexLayout, VersionPaths
from indexer.store import Store


def check_embedder(manifest: dict[str, Any], embedder: Embedder) -> None:
    """Refuse to mix vectors from two models: scores would be meaningless."""
    built = manifest["embedder"]
    if (built["backend"], built["model_id"], built["dim"]) != (
        embedder.backend,
        embedder.model_id,
        embedder.dim,
    ):
        raise ModelMismatch(
            f"this index was built with {built['model_id']} ({built['backend']}, {built['dim']}-d) "
            f"but the configured model is {embedder.model_id} ({embedder.backend}, {embedder.dim}-d): "
            f"use --model {built['model_id'].split('@')[0]} or run `semsearch rebuild`"
        )


def manifest_embedder(manifest: dict[str, Any]) -> EmbedderInfo:
    built = manifest["embedder"]
    return EmbedderInfo(built["backend"], built["model_id"], int(built["dim"]))


@dataclass
class OpenIndex:
    """A read-only view of one version; stays valid while newer versions are published."""

    version: VersionPaths
    manifest: dict[str, Any]
    store: Store
    vectors: np.ndarray  # memory-mapped (n, dim) float32
    vector_ids: np.ndarray  # (n,) int64 ascending chunk ids
    ann: faiss.Index

    @classmethod
    def open(cls, index_dir: Path) -> OpenIndex:
        layout = IndexLayout(index_dir)
        version = layout.current()
        return cls.open_version(layout, version)

    @classmethod
    def open_version(cls, layout: IndexLayout, version: VersionPaths) -> OpenIndex:
        manifest = layout.read_manifest(version)
        return cls(
            version=version,
            manifest=manifest,
            store=Store(version.store),
            vectors=np.load(version.vectors, mmap_mode="r"),
            vector_ids=np.load(version.vector_ids),
            ann=ann.load_index(version.ann),
        )

    def vectors_for(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Full-precision vectors of the given chunk ids (all must exist)."""
        rows = np.searchsorted(self.vector_ids, chunk_ids)
        return np.asarray(self.vectors[rows], dtype=np.float32)

    def close(self) -> None:
        self.store.close()

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.version.root.iterdir() if p.is_file())
