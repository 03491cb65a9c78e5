"""One model shared by the search requests and a background rebuild, one caller at a time.

The server loads its embedder once. A rebuild job embeds the corpus with that same model while
queries keep arriving. A model object is not safe to call from two threads at once (a Hugging
Face fast tokenizer raises "Already borrowed" when two threads reconfigure it), so calls take
turns. Queries go first: the rebuild embeds in small slices and, between slices, lets every
waiting query through, so a search waits for at most one slice, not for the whole rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from indexer.embedders import Embedder

REBUILD_SLICE = 4  # chunks per turn: ~0.35 s of MiniLM on one CPU thread at 256 tokens a chunk


class SerializedEmbedder:
    """An Embedder that forwards to another one, one call at a time, queries first."""

    def __init__(self, inner: Embedder, slice_size: int = REBUILD_SLICE) -> None:
        self.inner = inner
        self.slice_size = slice_size
        self.backend = inner.backend
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.multilingual = inner.multilingual
        self._model = threading.Lock()  # held by whoever is inside the model
        self._state = threading.Condition()  # guards _queries_waiting
        self._queries_waiting = 0

    @contextmanager
    def _query_turn(self) -> Iterator[None]:
        with self._state:
            self._queries_waiting += 1
        self._model.acquire()
        with self._state:
            self._queries_waiting -= 1
            self._state.notify_all()
        try:
            yield
        finally:
            self._model.release()

    @contextmanager
    def _background_turn(self) -> Iterator[None]:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._queries_waiting == 0)
            self._model.acquire()
            with self._state:
                if self._queries_waiting == 0:
                    break
            self._model.release()  # a query came in meanwhile: it goes first
        try:
            yield
        finally:
            self._model.release()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._query_turn():
            return self.inner.embed_queries(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._background_turn():  # only the indexer counts tokens
            return self.inner.count_tokens(texts)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.slice_size):
            with self._background_turn():
                parts.append(self.inner.embed_documents(texts[start : start + self.slice_size]))
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts)


def shared(embedder: Embedder) -> Embedder:
    """Wrap once: wrapping an already serialized embedder again would only add a second lock."""
    return embedder if isinstance(embedder, SerializedEmbedder) else SerializedEmbedder(embedder)
