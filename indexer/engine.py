"""The engine seam: how the writer's files become documents, chunks and vectors.

The writer walks the files and decides which documents need embedding (the catalog knows what
is unchanged or staged); an engine reads the files and chunks and embeds the documents.
`LocalEngine`, the default, does all of it in this process exactly as before: reading when the
writer asks, chunking when a document is admitted, one embedding call per buffer.
`indexer/ray_engine.py` does it on a Ray cluster. Results come back in the order the documents
were handed in, in batches the writer stages one transaction each, so a run on any engine
resumes the same way after a kill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.chunking import Chunk
from indexer.config import LoaderSettings
from indexer.documents import Document, Problem, read_documents
from indexer.embedders import Embedder

Prepared = tuple[list[Chunk], list[str]]  # a document's chunks and the texts the model embeds
Prepare = Callable[[Document], Prepared]


@dataclass(frozen=True)
class Embedded:
    """The next `len(chunks)` documents handed to `embed`: their chunks and, row-aligned with
    those chunks in order, the vectors."""

    chunks: list[list[Chunk]]
    vectors: np.ndarray


class EmbeddingEngine(Protocol):
    """Reads files and chunks and embeds documents; the writer buffers `budget` units, then
    calls `embed`."""

    name: str
    budget: int

    def prefetch(self, paths: Iterable[Path], loader: LoaderSettings) -> None:
        """The files the writer will `read` next, in that order (an engine may start early)."""
        ...

    def read(self, path: Path, loader: LoaderSettings, problem: Problem) -> Iterator[Document]:
        """The documents of one file, as `documents.read_documents` yields them (same errors)."""
        ...

    def admit(self, doc: Document) -> tuple[Prepared | None, int]:
        """Work done when a document is buffered (None: deferred to `embed`), and its units."""
        ...

    def embed(self, docs: Sequence[Document], prepared: Sequence[Prepared | None]) -> Iterator[Embedded]:
        """Chunks and vectors of `docs`, in order, in one or more consecutive batches."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """This process: chunk on admission (units = chunks), one embedding call per buffer."""

    name = "local"

    def __init__(self, prepare: Prepare, embedder: Embedder, budget: int) -> None:
        self.prepare = prepare
        self.embedder = embedder
        self.budget = budget

    def prefetch(self, paths: Iterable[Path], loader: LoaderSettings) -> None:
        pass

    def read(self, path: Path, loader: LoaderSettings, problem: Problem) -> Iterator[Document]:
        return read_documents(path, loader, problem)

    def admit(self, doc: Document) -> tuple[Prepared | None, int]:
        prepared = self.prepare(doc)
        return prepared, len(prepared[0])

    def embed(self, docs: Sequence[Document], prepared: Sequence[Prepared | None]) -> Iterator[Embedded]:
        ready = [p if p is not None else self.prepare(d) for d, p in zip(docs, prepared, strict=True)]
        texts = [text for _, inputs in ready for text in inputs]
        yield Embedded([chunks for chunks, _ in ready], self.embedder.embed_documents(texts))

    def close(self) -> None:
        pass
