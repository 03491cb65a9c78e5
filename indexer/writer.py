"""The writer: one pass that stages, seals, publishes, merges and collects garbage.

Staged work becomes visible only when a generation is published: its vectors become one new
segment, replaced and vanished documents are tombstoned, and a new manifest is made live in one
atomic step (layout.py). The writer is driven by pipeline.py (index, rebuild) and
maintenance.py (compact, delete); only ingesting files needs an Indexer to chunk and embed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.analysis import cjk_fraction
from indexer.chunking import Chunk
from indexer.config import Settings
from indexer.documents import Document, SkipSummary, discover_files, printable_path
from indexer.engine import EmbeddingEngine, Prepared
from indexer.errors import DocumentError, SemsearchError
from indexer.layout import IndexLayout
from indexer.manifest import Manifest
from indexer.merge_policy import plan_full_compaction, plan_merges
from indexer.segments import SegmentSet
from indexer.store import Store, Version
from indexer.vector_index import FaissVectorIndex
from indexer.vector_store import open_mirror

if TYPE_CHECKING:
    from indexer.pipeline import Indexer

Warn = Callable[[str], None]
BuildHook = Callable[[str], None]


# Chunks embedded per call, in model batches. One call sorts its chunks by length so a batch pads
# little; short last chunks of documents only group well across many documents. SciFact's first
# 1,000 documents, 2 threads, bare encode 41-45 s: 256 chunks a call embedded in 50.0 s (1.15x),
# 512 in 46.1, 1024 in 42.7 (pipeline 1.04x), 2048 in 45.4. The cost: a kill loses up to this
# many chunks' embedding (about 20 s here), which the next run redoes.
EMBED_BUFFER_BATCHES = 32


def embed_buffer_chunks(settings: Settings) -> int:
    """How many chunks the local engine embeds per call, and so the writer stages per batch."""
    return max(settings.model.batch_size * EMBED_BUFFER_BATCHES, 64)


@dataclass(frozen=True)
class Progress:
    """Where a run stands, reported after every embedded batch and every file."""

    files_done: int
    files_total: int
    documents: int  # new and changed documents staged so far
    chunks_embedded: int
    unchanged: int
    seconds: float


ProgressHandler = Callable[[Progress], None]
LOOKUP_GROUP = 500  # records looked up in the catalog at once
SKIPS_KEPT = 1000  # skipped files and records remembered for `semsearch stats`


@dataclass
class IndexReport:
    version: str = ""
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    reused: int = 0  # documents staged by an interrupted run and taken over without embedding
    skipped: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    documents: int = 0
    chunks: int = 0
    segments: int = 0
    merged: int = 0  # segments merged away at the end of the run
    index_type: str = ""
    seconds: float = 0.0
    embed_seconds: float = 0.0
    published: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Prepared:
    doc: Document
    origin: str
    state: tuple[float, int]
    prepared: Prepared | None  # None: the engine chunks it when it embeds (engine.py)
    is_update: bool


class Writer:
    """One writer's pass over the files: the state between staging and publishing. `owner`, the
    Indexer that chunks and embeds, is needed only to ingest files."""

    def __init__(
        self,
        settings: Settings,
        layout: IndexLayout,
        base: Manifest,
        roots: list[str],
        draft: bool,
        warn: Warn,
        hook: BuildHook,
        owner: Indexer | None = None,
    ) -> None:
        self._owner = owner
        self.settings = settings
        self.layout = layout
        self.warn = warn
        self.hook = hook
        self.draft = draft
        self.current = base
        self.roots = roots
        self.report = IndexReport(version=base.name)
        self.store = Store(self.layout.catalog_path(base))
        self.segments = SegmentSet.open(
            self.layout.segments, base.segments, base.embedder.dim, self.settings.index
        )
        self.mirror = open_mirror(self.settings.index, layout, base)  # Milvus, when configured
        # A previous run may have sealed a generation it never published, or published one
        # without clearing its staging: undo the first, finish the second.
        self.store.roll_back_unpublished(base.generation)
        self.store.clear_published_staging()
        self.staged: dict[str, Version] = self.store.staged_versions()
        self.claimed: set[int] = set()
        self.pending: list[int] = []  # staged version keys to publish at the next seal
        self.pending_chunks = 0
        self.removals: set[int] = set()  # live version keys to delete at the next seal
        self.seen: set[str] = set()
        self.done_files: list[tuple[str, tuple[float, int]]] = []  # read to the end since the last seal
        self.buffer: list[_Prepared] = []
        self.buffer_chunks = 0
        self.batch_chunks = embed_buffer_chunks(self.settings)
        self.hinted = False
        self.skips = SkipSummary()
        self.started = time.perf_counter()
        self.files_done = self.files_total = 0
        self.ingested = False  # staging nobody claimed is dropped only after a full pass

    @property
    def gen(self) -> int:
        return self.current.generation

    @property
    def owner(self) -> Indexer:
        assert self._owner is not None, "this run only merges: it has no embedder"
        return self._owner

    @property
    def engine(self) -> EmbeddingEngine:
        return self.owner.engine

    # -- reading files ----------------------------------------------------------------
    def ingest(self) -> None:
        for root in self.roots:
            visited: set[str] = set()
            try:
                files = discover_files(Path(root), self.settings.loader, self._skip)
            except DocumentError as exc:
                raise SemsearchError(str(exc)) from None
            self.files_total += len(files)
            # lazy: the local engine never asks, so it never pays a second catalog lookup per file
            self.engine.prefetch((p for p in files if not self._unchanged(p)), self.settings.loader)
            for path in files:
                origin = str(path.resolve())
                visited.add(origin)
                self._ingest_file(path, origin)
                self.files_done += 1
                self._report_progress()
            for origin in sorted(self.store.live_origins_under(root, os.sep, self.gen) - visited):
                self.remove(v.key for v in self.store.live_from(origin, self.gen))
        self._flush()
        self.seal()
        self.ingested = True
        if self.skips:
            self.warn(self.skips.line() + ("" if self.owner.verbose else " (--verbose names them)"))

    def _skip(self, path: Path, reason: str) -> None:
        """A whole file left out: counted for the one summary line; named one by one only when
        verbose (they repeat on every run), and always kept for `semsearch stats`."""
        line = f"{printable_path(path)}: {reason}"
        self._file_skipped(path, line)

    def _file_skipped(self, path: Path, line: str) -> None:
        self.report.skipped.append(line)
        self.skips.add(path, line)
        if self._owner is not None and self._owner.verbose:
            self.warn(f"skipped {line}")

    def _ingest_file(self, path: Path, origin: str) -> None:
        previous = {v.id: v for v in self.store.live_from(origin, self.gen)}
        try:
            stat = path.stat()
        except OSError as exc:
            self._skip(path, f"cannot read ({exc.strerror or exc})")
            self.seen.update(previous)
            return
        state = (stat.st_mtime, stat.st_size)
        if self._complete(origin, state, previous.values()):
            self.seen.update(previous)
            self.report.unchanged += len(previous)
            return
        found: set[str] = set()
        group: list[Document] = []
        try:
            for doc in self.engine.read(path, self.settings.loader, self._problem):
                if doc.id in self.seen:
                    self._problem(f"{path}: duplicate document id {doc.id!r}, later copy skipped")
                    continue
                self.seen.add(doc.id)
                found.add(doc.id)
                group.append(doc)
                if len(group) >= LOOKUP_GROUP:
                    self._plan_group(group, origin, state)
                    group = []
            self._plan_group(group, origin, state)
        except DocumentError as exc:
            self._file_skipped(path, str(exc))
            self.seen.update(previous)  # an unreadable file keeps what it had
            return
        self.remove(v.key for doc_id, v in previous.items() if doc_id not in found)
        self.done_files.append((origin, state))  # recorded with the seal that publishes the last of it

    def _complete(self, origin: str, state: tuple[float, int], previous: Iterable[Version]) -> bool:
        """The catalog holds this file, read to the end, at its current time and size. Every
        document carrying the state is not enough: a run killed mid-file leaves that too."""
        versions = list(previous)
        return (
            bool(versions)
            and all(v.origin_state == state for v in versions)
            and self.store.origin_done(origin, state)
        )

    def _unchanged(self, path: Path) -> bool:
        """`_ingest_file` will not read this file (the same test, asked ahead so an engine can
        read the others early)."""
        origin = str(path.resolve())
        try:
            stat = path.stat()
        except OSError:
            return True
        return self._complete(origin, (stat.st_mtime, stat.st_size), self.store.live_from(origin, self.gen))

    def _report_progress(self) -> None:
        if self._owner is None or self._owner.progress is None:
            return
        report = self.report
        self._owner.progress(
            Progress(
                self.files_done,
                self.files_total,
                report.added + report.updated,
                report.chunks_embedded,
                report.unchanged,
                time.perf_counter() - self.started,
            )
        )

    def _problem(self, message: str) -> None:
        self.report.skipped.append(message)
        self.warn(message)

    def _plan_group(self, docs: list[Document], origin: str, state: tuple[float, int]) -> None:
        """Decide for each document: unchanged, taken over from staging, or to embed."""
        if not docs:
            return
        live = self.store.live_versions([d.id for d in docs], self.gen)
        touched: list[int] = []
        for doc in docs:
            old = live.get(doc.id)
            if old is not None and (old.content_hash, old.origin) == (doc.content_hash, origin):
                self.report.unchanged += 1
                if old.origin_state != state:
                    touched.append(old.key)
                continue
            staged = self.staged.get(doc.id)
            if staged is not None and (staged.content_hash, staged.origin) == (doc.content_hash, origin):
                self.claimed.add(staged.key)
                self.pending.append(staged.key)
                self.report.reused += 1
                self._count(old is not None)
                continue
            self._hint_language(doc)
            prepared, units = self.engine.admit(doc)
            self.buffer.append(_Prepared(doc, origin, state, prepared, old is not None))
            self.buffer_chunks += units
            if self.buffer_chunks >= self.engine.budget:
                self._flush()
        if touched:
            self.store.begin()
            self.store.db.executemany(
                "UPDATE documents SET origin_mtime = ?, origin_size = ? WHERE key = ?",
                [(state[0], state[1], key) for key in touched],
            )
            self.store.commit()

    def _count(self, is_update: bool) -> None:
        if is_update:
            self.report.updated += 1
        else:
            self.report.added += 1

    def remove(self, keys: Iterable[int]) -> None:
        new = set(keys) - self.removals
        self.removals |= new
        self.report.removed += len(new)

    # -- embedding and staging --------------------------------------------------------
    def _flush(self) -> None:
        """Hand the buffered documents to the engine; commit each batch it returns, vectors
        included, in one transaction (a kill loses at most the batches in flight)."""
        if not self.buffer:
            return
        buffer, self.buffer, self.buffer_chunks = self.buffer, [], 0
        done = 0
        started = time.perf_counter()
        for batch in self.engine.embed([i.doc for i in buffer], [i.prepared for i in buffer]):
            self.report.embed_seconds += time.perf_counter() - started
            items = buffer[done : done + len(batch.chunks)]
            done += len(items)
            self._stage(items, batch.chunks, batch.vectors)
            started = time.perf_counter()
        if done != len(buffer):
            raise SemsearchError(f"the {self.engine.name} engine returned {done} of {len(buffer)} documents")

    def _stage(self, items: list[_Prepared], chunks: list[list[Chunk]], vectors: np.ndarray) -> None:
        n_chunks = sum(len(c) for c in chunks)
        if len(vectors) != n_chunks:
            raise SemsearchError(f"{len(vectors)} vectors for {n_chunks} chunks")
        self.report.chunks_embedded += n_chunks
        self.store.begin()
        try:
            row = 0
            for item, doc_chunks in zip(items, chunks, strict=True):
                key = self.store.stage_document(item.doc, item.origin, item.state[0], item.state)
                ids = self.store.stage_chunks(key, doc_chunks)
                self.store.stage_vectors(ids, vectors[row : row + len(ids)])
                row += len(ids)
                self.pending.append(key)
                self._count(item.is_update)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self.pending_chunks += n_chunks
        self.hook("embedded-batch")
        self._report_progress()
        if self.pending_chunks + self.batch_chunks > self.settings.index.segment_max_vectors:
            self.seal()  # before the next batch would take the segment past its maximum

    # -- publishing -------------------------------------------------------------------
    def seal(self) -> None:
        """Turn the staged documents into a segment and publish (or save the draft)."""
        if not self.pending and not self.removals:
            if self.done_files:  # read to the end with nothing new: what they hold is published
                self.store.begin()
                self.store.mark_origins_done(self.gen, self.done_files)
                self.store.commit()
                self.done_files = []
            return
        generation = self.layout.next_generation()
        dim = self.current.embedder.dim
        ids, vectors = self.store.staged_vectors_of(self.pending, dim)
        replaced = self.store.live_versions(self.store.ids_of(self.pending), self.gen)
        removed = self.removals | {v.key for v in replaced.values()}
        removed_chunks = np.asarray(self.store.chunk_ids_of(removed), dtype=np.int64)
        self.segments.add(ids, vectors, self.store.chunk_fields)
        self.segments.remove(removed_chunks)
        segments = self.segments.commit(generation)
        self.store.begin(durable=True)
        self.store.mark_published(generation, self.pending, sorted(removed))
        self.store.mark_origins_done(generation, self.done_files)
        self.store.commit()
        self.done_files = []
        manifest = self.current.next(
            generation,
            segments=segments,
            documents=self.current.documents + len(self.pending) - len(removed),
            chunks=self.current.chunks + len(ids) - len(removed_chunks),
            roots=self._roots(),
        )
        self.hook("before-publish")
        self._save(manifest)
        self.store.clear_published_staging()
        self.pending, self.pending_chunks, self.removals = [], 0, set()

    def _save(self, manifest: Manifest) -> None:
        if self.mirror is not None:  # the external store holds a generation before it is named
            self.mirror.sync(manifest, self.segments)
        if self.draft:
            self.layout.save_draft(manifest)
        else:
            self.layout.publish(manifest)
            self.report.published = True
        self.current = manifest

    def _roots(self) -> tuple[str, ...]:
        if self.draft:
            return tuple(sorted(self.roots))
        return tuple(sorted(set(self.current.roots) | set(self.roots)))

    def compact(self, full: bool) -> None:
        """Merge segments (the policy's choice, or all of them) as a generation of its own."""
        index = self.settings.index
        infos = self.segments.infos()
        if full:
            runs = plan_full_compaction(infos, index.segment_max_vectors)
        else:
            runs = plan_merges(
                infos,
                index.max_segments,
                index.merge_factor,
                index.segment_max_vectors,
                index.expunge_deletes,
            )
        if runs:
            before = len(infos)
            self.segments.merge(runs)
            manifest = self.current.next(self.layout.next_generation(), segments=self.segments.infos())
            self.hook("before-merge-publish")
            self._save(manifest)
            self.report.merged += before - len(self.segments.infos())

    def finish(self, keep_versions: int | None = None) -> IndexReport:
        """Seal what is left, drop staging nobody claimed, merge, publish the rebuild, collect
        garbage (keeping `keep_versions` older generations; default index.keep_versions)."""
        unclaimed = [v.key for v in self.staged.values() if v.key not in self.claimed]
        if self.ingested:
            self.store.begin()
            self.store.drop_versions(unclaimed)
            self.store.set_meta("skipped_last_run", self.report.skipped[:SKIPS_KEPT])  # for `stats`
            self.store.commit()
        if self.report.changed or self.draft:
            self.compact(full=False)
        if self.mirror is not None:  # a no-op when in step; else repairs a lost or new collection
            self.mirror.sync(self.current, self.segments)
        if self.draft:
            self.layout.publish(self.current)
            self.layout.drop_draft()
            self.report.published = True
        self._purge(self.settings.index.keep_versions if keep_versions is None else keep_versions)
        if self.mirror is not None:
            self.mirror.published(self.layout)  # alias to the live collection; drop unreferenced ones
        report = self.report
        report.version = self.current.name
        report.documents = self.current.documents
        report.chunks = self.current.chunks
        report.segments = len(self.current.segments)
        report.index_type = (
            self.mirror.describe() if self.mirror is not None else FaissVectorIndex(self.segments).describe()
        )
        return report

    def _purge(self, keep_versions: int) -> None:
        """Delete catalog rows that no kept generation of this catalog can see any more."""
        self.layout.collect_garbage(keep_versions)
        kept = [
            manifest.generation
            for manifest in map(
                self.layout.read, sorted(p.name for p in self.layout.manifests.glob("gen-*.json"))
            )
            if manifest.catalog == self.current.catalog
        ]
        if kept:
            self.store.begin()
            self.store.purge(min(kept))
            self.store.commit()
        self.store.reclaim_free_pages()

    def expunge(self) -> None:
        """Rewrite every segment that holds tombstoned vectors without them."""
        runs = [[position] for position, info in enumerate(self.segments.infos()) if info.deleted]
        if runs:
            self.segments.merge(runs)
            self._save(self.current.next(self.layout.next_generation(), segments=self.segments.infos()))

    def _hint_language(self, doc: Document) -> None:
        if self.hinted or self.owner.embedder.multilingual:
            return
        self.hinted = True
        if cjk_fraction(doc.text[:2000]) > 0.5:
            self.warn(
                f"hint: this corpus is mostly Chinese/Japanese/Korean text, but "
                f"{self.owner.embedder.model_id} is English-only; use --model multilingual-e5-small "
                "for search by meaning"
            )

    def close(self) -> None:
        self.store.rollback()
        self.segments.close()
        self.store.close()
        if self.mirror is not None:
            self.mirror.close()
