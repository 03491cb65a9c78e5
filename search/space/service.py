"""SpaceService: the embedding-space tools over the live generation, for the CLI and the web app.

Each call opens the live generation on its own handle (its own SQLite connection), so a long
computation never holds the search service's lock. The atlas (topics and map) is kept per
generation (atlas.py); `AtlasWorker` computes a missing one in a background thread, so a page
asking for it answers "computing" at once instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexer.config import Settings
from indexer.embedders import Embedder
from indexer.errors import QueryError, SemsearchError
from indexer.labelling import write_metadata
from indexer.layout import IndexLayout
from indexer.snapshot import IndexSnapshot, check_embedder
from search.space.atlas import Atlas, atlas_for, compute_atlas, load_atlas, save_atlas
from search.space.classify import (
    CONFIDENCE_FIELD,
    FIELD,
    LabelSet,
    assign,
    classify_texts,
    parse_labels,
    prototypes,
)
from search.space.docvectors import document_vectors
from search.space.explore import find_duplicates, find_outliers

log = logging.getLogger(__name__)
MAX_K = 200


class SpaceService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = IndexLayout(settings.index_dir)

    @contextmanager
    def snapshot(self) -> Iterator[IndexSnapshot]:
        index = IndexSnapshot.open(self.settings.index_dir, self.settings.index, self.settings.search)
        try:
            yield index
        finally:
            index.close()

    def atlas(self, k: int | None = None) -> Atlas:
        """The live generation's kept atlas (computed and kept if missing); a given `k` computes
        a fresh one that is not kept (the kept one is the automatic choice)."""
        if k is not None and not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {k}")
        with self.snapshot() as index:
            return atlas_for(self.layout, index) if k is None else compute_atlas(index, k)

    def duplicates(self, threshold: float = 0.95, limit: int = 100) -> dict[str, Any]:
        with self.snapshot() as index:
            return find_duplicates(index, threshold, limit)

    def outliers(self, limit: int = 20) -> dict[str, Any]:
        with self.snapshot() as index:
            return find_outliers(index, atlas_for(self.layout, index), limit)

    # -- classification ---------------------------------------------------------------
    def stored_labels(self) -> LabelSet:
        with self.snapshot() as index:
            about = index.store.get_meta("labels")
        if not about:
            raise QueryError('no labels: pass "labels" or run `semsearch classify --labels FILE` first')
        return parse_labels(about["labels"], "the index's stored labels")

    def classify_text(
        self, texts: list[str], labels: LabelSet | None, embedder: Embedder
    ) -> list[dict[str, Any]]:
        chosen = labels or self.stored_labels()
        return [
            {"label": a.label, "confidence": a.confidence, "similarity": a.similarity, "scores": a.scores}
            for a in classify_texts(texts, chosen, embedder)
        ]

    def classify_index(
        self, labels: LabelSet, embedder: Embedder, truth_field: str | None = None, source: Path | None = None
    ) -> dict[str, Any]:
        """Label every live document (metadata `label`, `label_confidence`), publish, and measure
        accuracy against `truth_field` when the documents carry one."""
        started = time.perf_counter()
        with self.snapshot() as index:
            check_embedder(index.manifest.embedder, embedder)  # labels and documents in one space
            docs = document_vectors(index)
            truth = _truth(index, docs.doc_ids, truth_field) if truth_field else None
        assignments = assign(docs.vectors, prototypes(labels, embedder))
        fields = {
            doc_id: {FIELD: a.label, CONFIDENCE_FIELD: a.confidence}
            for doc_id, a in zip(docs.doc_ids, assignments, strict=True)
        }
        about = {
            "labels": labels.model_dump(mode="json"),
            "model": embedder.model_id,
            "documents": len(docs),
            "source": str(source) if source else "",
            "classified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        old, new = write_metadata(self.settings, fields, about)
        kept = load_atlas(self.layout, old.generation)
        if kept is not None:  # same vectors, same atlas: carry it over instead of recomputing
            save_atlas(self.layout, Atlas({**kept.data, "generation": new.generation, "version": new.name}))
        counts: dict[str, int] = {}
        for a in assignments:
            counts[a.label] = counts.get(a.label, 0) + 1
        report: dict[str, Any] = {
            "documents": len(docs),
            "version": new.name,
            "counts": dict(sorted(counts.items(), key=lambda item: -item[1])),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if truth is not None:
            report["accuracy"] = _accuracy(truth, [a.label for a in assignments])
        return report


def _truth(index: IndexSnapshot, doc_ids: list[str], field: str) -> list[str | None]:
    docs = index.store.documents(doc_ids, index.generation)
    values = [docs[d].metadata.get(field) if d in docs else None for d in doc_ids]
    if all(v is None for v in values):
        raise QueryError(f"no document has a metadata field {field!r} to measure accuracy against")
    return [None if v is None else str(v) for v in values]


def _accuracy(truth: list[str | None], predicted: list[str]) -> dict[str, Any]:
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t is not None]
    per_label: dict[str, list[int]] = {}
    for t, p in pairs:
        hit = per_label.setdefault(t, [0, 0])
        hit[0] += int(t == p)
        hit[1] += 1
    correct = sum(h for h, _ in per_label.values())
    return {
        "measured": len(pairs),
        "correct": correct,
        "accuracy": round(correct / len(pairs), 4) if pairs else 0.0,
        "per_label": {label: round(h / n, 4) for label, (h, n) in sorted(per_label.items())},
    }


class AtlasWorker:
    """The live generation's atlas for the web: ready, or being computed in the background."""

    def __init__(self, service: SpaceService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._memory: Atlas | None = None
        self._running: int | None = None  # generation being computed
        self._failed: tuple[int, str] | None = None

    def get(self) -> tuple[str, Atlas | None, str]:
        """("ready", atlas, "") | ("computing", None, "") | ("failed", None, why)."""
        generation = self.service.layout.current().generation
        with self._lock:
            if self._memory is not None and self._memory.generation == generation:
                return "ready", self._memory, ""
            atlas = load_atlas(self.service.layout, generation)
            if atlas is not None:
                self._memory = atlas
                return "ready", atlas, ""
            if self._failed is not None and self._failed[0] == generation:
                return "failed", None, self._failed[1]
            if self._running is None:
                self._running = generation
                threading.Thread(target=self._compute, args=(generation,), daemon=True, name="atlas").start()
            return "computing", None, ""

    def _compute(self, generation: int) -> None:
        try:
            atlas = self.service.atlas()
            with self._lock:
                self._memory = atlas
        except SemsearchError as exc:
            with self._lock:
                self._failed = (generation, str(exc))
        except Exception as exc:  # a bug: logged in full, the page says it failed
            log.exception("computing the atlas failed")
            with self._lock:
                self._failed = (generation, f"internal error: {exc}")
        finally:
            with self._lock:
                self._running = None
