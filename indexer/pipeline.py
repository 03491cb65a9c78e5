"""`index`, `rebuild` and `compact`: stream files -> chunk -> embed -> stage -> seal -> publish.

Files and records are read lazily and embedded in batches; each batch is committed to the
catalog with its vectors ("staged"), so a kill loses at most the batch in flight and the next
run reuses every staged document whose content still matches instead of re-embedding it.
Staged work becomes visible only when a generation is published: its vectors become one new
segment, replaced and vanished documents are tombstoned, and a new manifest is made live in one
atomic step (layout.py). `index` publishes whenever a segment fills and at the end; `rebuild`
writes a fresh catalog under a draft manifest and publishes only when it is complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.analysis import cjk_fraction
from indexer.chunking import Chunk, chunk_text
from indexer.config import Settings
from indexer.documents import Document, discover_files, printable_path, read_documents
from indexer.embedders import Embedder, embedder_info
from indexer.errors import ChunkingChanged, DocumentError, IndexNotFound, NotFound, SemsearchError
from indexer.keyword_index import Fts5KeywordIndex
from indexer.layout import IndexLayout
from indexer.manifest import SCHEMA_VERSION, ChunkingInfo, Manifest
from indexer.merge_policy import plan_full_compaction, plan_merges
from indexer.snapshot import check_embedder
from indexer.store import Store, Version
from indexer.vector_index import FaissVectorIndex

Warn = Callable[[str], None]
BuildHook = Callable[[str], None]


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
    chunks: list[Chunk]
    inputs: list[str]
    is_update: bool


def _under(origin: str, root: str) -> bool:
    return origin == root or origin.startswith(root.rstrip(os.sep) + os.sep)


class Indexer:
    """Builds index generations. Receives its embedder; never constructs one."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        warn: Warn = lambda _m: None,
        progress: ProgressHandler | None = None,
        hook: BuildHook = lambda _stage: None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.layout = IndexLayout(settings.index_dir)
        self.warn = warn
        self.progress = progress  # called with a Progress as the run goes (the CLI prints lines)
        self.hook = hook  # called at each stage; tests use it to simulate a kill mid-build

    @property
    def chunk_tokens(self) -> int:
        """Chunk size in model tokens: the configured size, never above the model's limit."""
        limit = self.embedder.max_tokens
        wanted = self.settings.chunking.max_tokens
        return min(wanted, limit) if wanted else limit

    # -- public -----------------------------------------------------------------------
    def index(self, paths: Sequence[Path]) -> IndexReport:
        """Add new and changed documents under `paths`, drop vanished ones, keep the rest."""
        roots = checked_roots(paths)
        with self.layout.writer_lock():
            base = self.layout.current_or_none()
            if base is None:
                base = self._empty_manifest(self.layout.new_catalog_name(), roots)
                Store(self.layout.catalog_path(base), create=True).close()
                self.layout.publish(base)
            else:
                self._check_compatible(base)
            waiting = self.layout.draft()
            if waiting is not None:
                self.warn(
                    f"an interrupted rebuild ({waiting.documents} documents done) is kept on disk: "
                    "`semsearch rebuild` finishes it"
                )
            return self._write(base, roots, draft=False)

    def rebuild(self, paths: Sequence[Path] | None = None) -> IndexReport:
        """A complete new index under a draft manifest, published atomically when done."""
        with self.layout.writer_lock():
            if not paths:
                live = self.layout.current_or_none()
                paths = [Path(p) for p in (live.roots if live else ())]
                if not paths:
                    raise IndexNotFound(
                        f"nothing to rebuild in {self.layout.index_dir}: give the paths to index"
                    )
            roots = checked_roots(paths)
            draft = self.layout.draft()
            if draft is None or not self._resumable(draft, roots):
                draft = self._empty_manifest(self.layout.new_catalog_name(), roots)
                Store(self.layout.catalog_path(draft), create=True).close()
                self.layout.save_draft(draft)
            else:
                self.warn(f"resuming the interrupted rebuild ({draft.documents} documents done)")
            return self._write(draft, roots, draft=True)

    def compact(self) -> IndexReport:
        """`compact_index`, after checking that this indexer's embedder built the index."""
        check_embedder(self.layout.current().embedder, self.embedder)
        return compact_index(self.settings, self.warn, self.hook)

    def prepare(self, doc: Document) -> tuple[list[Chunk], list[str]]:
        """A document's chunks and the exact texts the embedder sees for them."""
        title, title_tokens = self._title_prefix(doc.title)
        chunks = self._chunk(doc.text, self.chunk_tokens - title_tokens)
        return chunks, [_embedding_text(title, c) for c in chunks]

    # -- helpers ----------------------------------------------------------------------
    def chunking_info(self) -> ChunkingInfo:
        chunking = self.settings.chunking
        return ChunkingInfo(self.chunk_tokens, chunking.overlap_tokens, chunking.include_title)

    def _empty_manifest(self, catalog: str, roots: Sequence[str]) -> Manifest:
        return Manifest(
            schema=SCHEMA_VERSION,
            generation=self.layout.next_generation(),
            catalog=catalog,
            embedder=embedder_info(self.embedder),
            chunking=self.chunking_info(),
            roots=tuple(sorted(roots)),
        )

    def _check_compatible(self, base: Manifest) -> None:
        check_embedder(base.embedder, self.embedder)
        if base.chunking != self.chunking_info():
            raise ChunkingChanged(
                f"the chunking settings changed since this index was built ({_describe(base.chunking)} "
                f"-> {_describe(self.chunking_info())}); old and new chunks would mix: run "
                "`semsearch rebuild` to re-chunk every document, or restore the old settings"
            )

    def _resumable(self, draft: Manifest, roots: Sequence[str]) -> bool:
        return (
            draft.embedder == embedder_info(self.embedder)
            and draft.chunking == self.chunking_info()
            and sorted(draft.roots) == sorted(roots)
        )

    def _write(self, base: Manifest, roots: list[str], draft: bool) -> IndexReport:
        started = time.perf_counter()
        self.layout.collect_garbage(self.settings.index.keep_versions)
        run = _Run(self.settings, self.layout, base, roots, draft, self.warn, self.hook, owner=self)
        try:
            self.hook("created")
            run.ingest()
            report = run.finish()
        finally:
            run.close()
        report.seconds = time.perf_counter() - started
        return report

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


def compact_index(
    settings: Settings, warn: Warn = lambda _m: None, hook: BuildHook = lambda _stage: None
) -> IndexReport:
    """Merge every segment as far as segment_max_vectors allows and purge deleted rows. Needs no
    embedder: nothing is embedded, vectors are only moved."""
    layout = IndexLayout(settings.index_dir)
    started = time.perf_counter()
    with layout.writer_lock():
        base = layout.current()
        run = _Run(settings, layout, base, list(base.roots), False, warn, hook)
        try:
            run.compact(full=True)
            report = run.finish()
        finally:
            run.close()
    report.seconds = time.perf_counter() - started
    return report


def delete_documents(
    settings: Settings,
    doc_ids: Sequence[str] = (),
    source_glob: str | None = None,
    warn: Warn = lambda _m: None,
    hook: BuildHook = lambda _stage: None,
) -> IndexReport:
    """Remove documents for good: their text, keyword rows and vectors leave the files on disk
    (segments holding them are rewritten, older generations are dropped), not just the view.
    A later `index` of a folder that still holds the file adds it again."""
    layout = IndexLayout(settings.index_dir)
    started = time.perf_counter()
    with layout.writer_lock():
        base = layout.current()
        run = _Run(settings, layout, base, list(base.roots), False, warn, hook)
        try:
            keys = run.store.live_keys(base.generation, doc_ids, source_glob)
            if not keys:
                what = ", ".join(repr(i) for i in doc_ids) or f"source {source_glob!r}"
                raise NotFound(f"no document matches {what}: `semsearch list` shows what the index holds")
            run.store.erase_deleted_content()
            run.remove(keys)
            run.seal()
            run.expunge()
            report = run.finish(keep_versions=0)
            # FTS5 keeps a deleted row's terms in its older b-tree segments until they merge:
            # rewrite them, give the freed (zeroed) pages back, and empty the log.
            run.store.optimize_keyword_index()
            run.store.reclaim_free_pages(min_share=0.0)
            run.store.checkpoint()
        finally:
            run.close()
    report.seconds = time.perf_counter() - started
    return report


class _Run:
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
        self.keywords = Fts5KeywordIndex(self.store, base.generation)
        self.vectors = FaissVectorIndex.open(
            self.layout.segments, base.segments, base.embedder.dim, self.settings.index
        )
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
        self.buffer: list[_Prepared] = []
        self.buffer_chunks = 0
        self.batch_chunks = max(self.settings.model.batch_size * 8, 64)
        self.hinted = False
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

    # -- reading files ----------------------------------------------------------------
    def ingest(self) -> None:
        for root in self.roots:
            visited: set[str] = set()
            try:
                files = discover_files(Path(root), self.settings.loader, self._skip)
            except DocumentError as exc:
                raise SemsearchError(str(exc)) from None
            self.files_total += len(files)
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

    def _skip(self, path: Path, reason: str) -> None:
        self.report.skipped.append(f"{printable_path(path)}: {reason}")
        self.warn(f"skipped {printable_path(path)}: {reason}")

    def _ingest_file(self, path: Path, origin: str) -> None:
        previous = {v.id: v for v in self.store.live_from(origin, self.gen)}
        try:
            stat = path.stat()
        except OSError as exc:
            self._skip(path, f"cannot read ({exc.strerror or exc})")
            self.seen.update(previous)
            return
        state = (stat.st_mtime, stat.st_size)
        if previous and all(v.origin_state == state for v in previous.values()):
            self.seen.update(previous)
            self.report.unchanged += len(previous)
            return
        found: set[str] = set()
        group: list[Document] = []
        try:
            for doc in read_documents(path, self.settings.loader, self._problem):
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
            self.report.skipped.append(str(exc))
            self.warn(f"skipped {exc}")
            self.seen.update(previous)  # an unreadable file keeps what it had
            return
        self.remove(v.key for doc_id, v in previous.items() if doc_id not in found)

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
            chunks, inputs = self.owner.prepare(doc)
            self.buffer.append(_Prepared(doc, origin, state, chunks, inputs, old is not None))
            self.buffer_chunks += len(chunks)
            if self.buffer_chunks >= self.batch_chunks:
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
        """Embed the buffered documents and commit them, vectors included, in one transaction."""
        if not self.buffer:
            return
        texts = [text for item in self.buffer for text in item.inputs]
        started = time.perf_counter()
        vectors = self.owner.embedder.embed_documents(texts)
        self.report.embed_seconds += time.perf_counter() - started
        self.report.chunks_embedded += len(texts)
        self.store.begin()
        try:
            row = 0
            for item in self.buffer:
                key = self.store.stage_document(item.doc, item.origin, item.state[0], item.state)
                ids = self.store.stage_chunks(key, item.chunks)
                self.keywords.add(ids, item.doc.title, [c.text for c in item.chunks])
                self.store.stage_vectors(ids, vectors[row : row + len(ids)])
                row += len(ids)
                self.pending.append(key)
                self._count(item.is_update)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self.pending_chunks += len(texts)
        self.buffer, self.buffer_chunks = [], 0
        self.hook("embedded-batch")
        self._report_progress()
        if self.pending_chunks + self.batch_chunks > self.settings.index.segment_max_vectors:
            self.seal()  # before the next batch would take the segment past its maximum

    # -- publishing -------------------------------------------------------------------
    def seal(self) -> None:
        """Turn the staged documents into a segment and publish (or save the draft)."""
        if not self.pending and not self.removals:
            return
        generation = self.layout.next_generation()
        dim = self.current.embedder.dim
        ids, vectors = self.store.staged_vectors_of(self.pending, dim)
        replaced = self.store.live_versions(self.store.ids_of(self.pending), self.gen)
        removed = self.removals | {v.key for v in replaced.values()}
        removed_chunks = np.asarray(self.store.chunk_ids_of(removed), dtype=np.int64)
        self.vectors.add(ids, vectors)
        self.vectors.remove(removed_chunks)
        segments = self.vectors.commit(generation)
        self.store.begin(durable=True)
        self.store.mark_published(generation, self.pending, sorted(removed))
        self.store.commit()
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
        if self.draft:
            self.layout.save_draft(manifest)
        else:
            self.layout.publish(manifest)
            self.report.published = True
        self.current = manifest
        self.keywords.generation = manifest.generation

    def _roots(self) -> tuple[str, ...]:
        if self.draft:
            return tuple(sorted(self.roots))
        return tuple(sorted(set(self.current.roots) | set(self.roots)))

    def compact(self, full: bool) -> None:
        """Merge segments (the policy's choice, or all of them) as a generation of its own."""
        index = self.settings.index
        infos = self.vectors.infos()
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
            self.vectors.merge(runs)
            manifest = self.current.next(self.layout.next_generation(), segments=self.vectors.infos())
            self.hook("before-merge-publish")
            self._save(manifest)
            self.report.merged += before - len(self.vectors.infos())
        if full:
            self.store.optimize_keyword_index()

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
        if self.draft:
            self.layout.publish(self.current)
            self.layout.drop_draft()
            self.report.published = True
        self._purge(self.settings.index.keep_versions if keep_versions is None else keep_versions)
        report = self.report
        report.version = self.current.name
        report.documents = self.current.documents
        report.chunks = self.current.chunks
        report.segments = len(self.current.segments)
        report.index_type = self.vectors.describe()
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
        runs = [[position] for position, info in enumerate(self.vectors.infos()) if info.deleted]
        if runs:
            self.vectors.merge(runs)
            self._save(self.current.next(self.layout.next_generation(), segments=self.vectors.infos()))

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
        self.vectors.close()
        self.store.close()


def checked_roots(paths: Sequence[Path]) -> list[str]:
    """Resolved roots; a missing one is an error before anything is written."""
    roots = []
    for path in paths:
        resolved = Path(path).resolve()
        if not resolved.exists():
            raise SemsearchError(f"{path}: no such file or folder")
        roots.append(str(resolved))
    return roots


def _describe(chunking: ChunkingInfo) -> str:
    return (
        f"max_tokens {chunking.max_tokens}, overlap_tokens {chunking.overlap_tokens}, "
        f"include_title {chunking.include_title}"
    )


def _embedding_text(title: str, chunk: Chunk) -> str:
    """The title gives every chunk its document's context (BEIR embeds title + text too)."""
    if not title or chunk.text.startswith(title):
        return chunk.text
    return f"{title}\n{chunk.text}"
