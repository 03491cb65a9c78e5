"""The typed manifest: what one published generation of an index consists of.

A manifest is small and immutable. It names the catalog (SQLite: documents, chunks, keyword
index) and the state of the vector index (its segments and tombstones), and records everything
that changes what a vector means: the embedder and the chunking settings. Writing a new
manifest and pointing CURRENT at it is the one atomic step that publishes a change.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from indexer.errors import IndexNotFound

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class EmbedderInfo:
    """What an index records about the embedder that built it. `max_tokens` (the model's own
    limit) lets a later run size chunks without loading the model; it is not part of identity."""

    backend: str
    model_id: str
    dim: int
    max_tokens: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ChunkingInfo:
    """The chunking settings in force when the chunks were made (part of every vector's meaning)."""

    max_tokens: int
    overlap_tokens: int
    include_title: bool


@dataclass(frozen=True)
class SegmentInfo:
    """One immutable vector segment and the tombstone file that applies to it in this generation."""

    id: str
    count: int  # vectors stored in the segment
    min_id: int  # smallest chunk id in it
    max_id: int  # largest chunk id in it
    kind: str  # flat | hnsw | ivf | ivfpq
    deleted: int = 0  # tombstoned vectors
    deletes: str = ""  # tombstone file name inside the segment directory ("" = none)

    @property
    def live(self) -> int:
        return self.count - self.deleted


@dataclass(frozen=True)
class Manifest:
    schema: int
    generation: int
    catalog: str  # catalog file name under catalogs/
    embedder: EmbedderInfo
    chunking: ChunkingInfo
    segments: tuple[SegmentInfo, ...] = ()
    roots: tuple[str, ...] = ()
    documents: int = 0
    chunks: int = 0
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def name(self) -> str:
        return manifest_name(self.generation)

    def next(self, generation: int, **changes: Any) -> Manifest:
        """The manifest of a later generation, with `changes` applied."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return replace(self, generation=generation, built_at=stamp, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        data = json.loads(text)
        if data.get("schema") != SCHEMA_VERSION:
            raise IndexNotFound(
                f"{where} has index format {data.get('schema', data.get('format'))}, this semsearch "
                f"reads {SCHEMA_VERSION}: run `semsearch rebuild PATH`"
            )
        return cls(
            schema=data["schema"],
            generation=int(data["generation"]),
            catalog=data["catalog"],
            embedder=EmbedderInfo(**data["embedder"]),
            chunking=ChunkingInfo(**data["chunking"]),
            segments=tuple(SegmentInfo(**s) for s in data["segments"]),
            roots=tuple(data["roots"]),
            documents=int(data["documents"]),
            chunks=int(data["chunks"]),
            built_at=data["built_at"],
        )


def manifest_name(generation: int) -> str:
    return f"gen-{generation:08d}.json"
