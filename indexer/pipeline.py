"""`index` and `rebuild`: read -> chunk -> embed -> write a new version -> atomic switch.

Both build a complete new version directory (layout.py) and publish it with one rename, so the
live index is never half-written. `index` starts from a copy of the live version and touches
only documents whose content hash changed; `rebuild` starts empty.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import ann
from indexer.analysis import cjk_fraction
from indexer.chunking import Chunk, chunk_text
from indexer.config import Settings
from indexer.documents import Document, discover_files, read_file
from indexer.embedders import Embedder, EmbedderInfo
from indexer.errors import DocumentError, IndexNotFound, SemsearchError
from indexer.layout import IndexLayout, VersionPaths
from indexer.reader import check_embedder
from indexer.store import Store

Warn = Callable[[str], None]
BuildHook = Callable[[str], None]
GROUP_DOCUMENTS = 2000  # documents chunked and embedded per group: bounds memory on big corpora


@dataclass
class IndexReport:
    version: str = ""
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    documents: int = 0
    chunks: int = 0
    index_type: str = ""
    seconds: float = 0.0
    embed_seconds: float = 0.0
    published: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Pending:
    doc: Document
    origin: str
    modified: float
    is_update: bool


def _under(origin: str, root: str) -> bool:
    return origin == root or origin.startswith(root.rstrip(os.sep) + os.sep)


class Indexer:
    """Builds index versions. Receives its embedder; never constructs one."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        warn: Warn = lambda _m: None,
        progress: bool = False,
        hook: BuildHook = lambda _stage: None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.layout = IndexLayout(settings.index_dir)
        self.warn = warn
        self.progress = progress
        self.hook = hook  # called at each stage; tests use it to simulate a kill mid-build
        limit = embedder.max_tokens
        wanted = settings.chunking.max_tokens
        self.chunk_tokens = min(wanted, limit) if wanted else limit

    # -- public -----------------------------------------------------------------------
    def index(self, paths: Sequence[Path]) -> IndexReport:
        """Add new and changed documents under `paths`, drop vanished ones, keep the rest."""
        with self.layout.writer_lock():
            try:
                base = self.layout.current()
            except IndexNotFound:
                base = None
            return self._build(base, paths)

    def rebuild(self, paths: Sequence[Path] | None = None) -> IndexReport:
        """A complete new index in a fresh version, swapped in atomically."""
        with self.layout.writer_lock():
            if not paths:
                paths = [Path(p) for p in self._recorded_roots()]
                if not paths:
                    raise IndexNotFound(
                        f"nothing to rebuild in {self.layout.index_dir}: give the paths to index"
                    )
            return self._build(None, paths)

    def prepare(self, doc: Document) -> tuple[list[Chunk], list[str]]:
        """A document's chunks and the exact texts the embedder sees for them."""
        title, title_tokens = self._title_prefix(doc.title)
        chunks = self._chunk(doc.text, self.chunk_tokens - title_tokens)
        return chunks, [_embedding_text(title, c) for c in chunks]

    # -- building ---------------------------------------------------------------------
    def _recorded_roots(self) -> list[str]:
        try:
            version = self.layout.current()
        except IndexNotFound:
            return []
        return list(self.layout.read_manifest(version).get("roots", []))

    def _build(self, base: VersionPaths | None, paths: Sequence[Path]) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        roots = [str(Path(p).resolve()) for p in paths]
        base_manifest = self.layout.read_manifest(base) if base else None
        if base_manifest:
            check_embedder(base_manifest, self.embedder)
        self.layout.collect_garbage()
        version = self.layout.new_version()
        try:
            self.hook("created")
            if base is not None:
                old = Store(base.store)
                try:
                    store = old.copy_to(version.store)
                finally:
                    old.close()
            else:
                store = Store(version.store, create=True)
            try:
                pending, removed_docs = self._plan(store, roots, report)
                self._apply(store, version, base, pending, removed_docs, report)
                prior_roots = base_manifest.get("roots", []) if base_manifest else []
                all_roots = sorted(set(prior_roots) | set(roots))
                manifest = self._manifest(store, report, all_roots)
                for key, value in manifest.items():
                    store.set_meta(key, value)
            finally:
                store.close()
            if base is not None and not report.changed:
                self.layout.discard(version)  # nothing changed: the live version stays
                report.version = base.name
            else:
                self.hook("before-publish")
                self.layout.publish(version, manifest)
                report.version = version.name
                report.published = True
        except BaseException:
            self.layout.discard(version)
            raise
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, store: Store, roots: list[str], report: IndexReport) -> tuple[list[_Pending], set[str]]:
        """Decide what to (re)embed and what to delete, reading only files that changed."""
        known = store.document_hashes()
        seen: set[str] = set()
        visited: set[str] = set()
        pending: list[_Pending] = []

        def skip(path: Path, reason: str) -> None:
            report.skipped.append(f"{path}: {reason}")
            self.warn(f"skipped {path}: {reason}")

        for root in roots:
            try:
                files = discover_files(Path(root), self.settings.loader, skip)
            except DocumentError as exc:
                raise SemsearchError(str(exc)) from None
            for path in files:
                visited.add(str(path.resolve()))
                pending.extend(self._plan_file(path, store, known, seen, report))
        for origin in store.source_paths():
            if origin not in visited and any(_under(origin, root) for root in roots):
                store.forget_source(origin)
        removed = {
            doc_id
            for doc_id, (_hash, origin) in known.items()
            if doc_id not in seen and any(_under(origin, root) for root in roots)
        }
        return pending, removed

    def _plan_file(
        self,
        path: Path,
        store: Store,
        known: dict[str, tuple[str, str]],
        seen: set[str],
        report: IndexReport,
    ) -> list[_Pending]:
        """The documents of one file that need embedding; marks every document it holds as seen."""
        origin = str(path.resolve())
        stat = path.stat()
        state = (stat.st_mtime, stat.st_size)
        previous = store.documents_from(origin)
        if previous and store.source_state(origin) == state:
            seen.update(previous)
            report.unchanged += len(previous)
            return []
        try:
            docs = read_file(path, self.settings.loader)
        except DocumentError as exc:
            report.skipped.append(str(exc))
            self.warn(f"skipped {exc}")
            seen.update(previous)  # an unreadable file keeps what it had
            return []
        store.record_source(origin, *state)
        pending = []
        for doc in docs:
            if doc.id in seen:
                self.warn(f"duplicate document id {doc.id!r} in {path}, later copy skipped")
                continue
            if not doc.text.strip():
                self.warn(f"empty document {doc.source}, skipped")
                continue
            seen.add(doc.id)
            old = known.get(doc.id)
            if old is not None and old == (doc.content_hash, origin):
                report.unchanged += 1
                continue
            pending.append(_Pending(doc, origin, stat.st_mtime, old is not None))
        return pending

    def _apply(
        self,
        store: Store,
        version: VersionPaths,
        base: VersionPaths | None,
        pending: list[_Pending],
        removed_docs: set[str],
        report: IndexReport,
    ) -> None:
        store.begin()
        dropped: list[int] = []
        for doc_id in removed_docs:
            dropped.extend(store.delete_document(doc_id))
        report.removed = len(removed_docs)
        for item in pending:
            if item.is_update:
                dropped.extend(store.delete_document(item.doc.id))
        old_vectors, old_ids = self._base_vectors(base, np.asarray(dropped, dtype=np.int64))

        new_vectors: list[np.ndarray] = []
        new_ids: list[int] = []
        self._hint_language(pending)
        for start in range(0, len(pending), GROUP_DOCUMENTS):
            group = pending[start : start + GROUP_DOCUMENTS]
            texts: list[str] = []
            for item in group:
                store.put_document(item.doc, item.origin, item.modified)
                chunks, inputs = self.prepare(item.doc)
                new_ids.extend(store.add_chunks(item.doc.id, item.doc.title, chunks))
                texts.extend(inputs)
                report.updated += item.is_update
                report.added += not item.is_update
            embed_started = time.perf_counter()
            new_vectors.append(self.embedder.embed_documents(texts, progress=self.progress))
            report.embed_seconds += time.perf_counter() - embed_started
            report.chunks_embedded += len(texts)
            self.hook("embedded-group")
        store.commit()

        dim = self.embedder.dim
        vectors = np.concatenate([old_vectors, *new_vectors]) if new_vectors else old_vectors
        vectors = vectors.reshape(-1, dim).astype(np.float32, copy=False)
        ids = np.concatenate([old_ids, np.asarray(new_ids, dtype=np.int64)])
        np.save(version.vectors, vectors)
        np.save(version.vector_ids, ids)
        index, kind = ann.build_index(vectors, ids, self.settings.index)
        ann.save_index(index, version.ann)
        report.index_type = kind
        report.documents = store.count("documents")
        report.chunks = len(ids)
        self.hook("index-written")

    def _base_vectors(self, base: VersionPaths | None, dropped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if base is None:
            return np.zeros((0, self.embedder.dim), np.float32), np.zeros(0, np.int64)
        ids = np.load(base.vector_ids)
        vectors = np.load(base.vectors, mmap_mode="r")
        keep = ~np.isin(ids, dropped)
        return np.asarray(vectors[keep], dtype=np.float32), ids[keep]

    def _chunk(self, text: str, budget: int) -> list[Chunk]:
        overlap = min(self.settings.chunking.overlap_tokens, budget // 2)
        return chunk_text(text, self.embedder.count_tokens, budget, overlap)

    def _title_prefix(self, title: str) -> tuple[str, int]:
        """(title to embed with each chunk, its token cost); ("", 0) when off or too long."""
        if not (self.settings.chunking.include_title and title.strip()):
            return "", 0
        with_title, without = self.embedder.count_tokens([title, ""])
        tokens = with_title - without + 1  # +1 for the line break joining it to the chunk
        return (title, tokens) if tokens <= self.chunk_tokens // 2 else ("", 0)

    def _hint_language(self, pending: list[_Pending]) -> None:
        if self.embedder.multilingual or not pending:
            return
        sample = "".join(p.doc.text[:2000] for p in pending[:200])
        if cjk_fraction(sample) > 0.5:
            self.warn(
                f"hint: this corpus is mostly Chinese/Japanese/Korean text, but {self.embedder.model_id} "
                "is English-only; use --model multilingual-e5-small for search by meaning"
            )

    def _manifest(self, store: Store, report: IndexReport, roots: list[str]) -> dict[str, object]:
        info = EmbedderInfo.of(self.embedder)
        chunking = self.settings.chunking
        return {
            "format": 1,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": {"backend": info.backend, "model_id": info.model_id, "dim": info.dim},
            "index_type": report.index_type,
            "documents": report.documents,
            "chunks": report.chunks,
            "chunking": {
                "max_tokens": self.chunk_tokens,
                "overlap_tokens": chunking.overlap_tokens,
                "include_title": chunking.include_title,
            },
            "roots": roots,
        }


def _embedding_text(title: str, chunk: Chunk) -> str:
    """The title gives every chunk its document's context (BEIR embeds title + text too)."""
    if not title or chunk.text.startswith(title):
        return chunk.text
    return f"{title}\n{chunk.text}"
