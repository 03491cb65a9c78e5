"""`index` and `rebuild`: stream files -> chunk -> embed -> stage -> seal -> publish.

Files and records are read lazily and embedded in batches; each batch is committed to the
catalog with its vectors ("staged"), so a kill loses at most the batch in flight and the next
run reuses every staged document whose content still matches instead of re-embedding it.
Staged work becomes visible only when a generation is published: its vectors become one new
segment, replaced and vanished documents are tombstoned, and a new manifest is made live in one
atomic step (layout.py). `index` publishes whenever a segment fills and at the end; `rebuild`
writes a fresh catalog under a draft manifest and publishes only when it is complete. The
Indexer decides what to read and how to chunk and embed it; writer.py holds the pass itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from indexer.chunking import Chunk, chunk_text
from indexer.config import Settings
from indexer.documents import Document
from indexer.embedders import Embedder, embedder_info
from indexer.engine import EmbeddingEngine, LocalEngine
from indexer.errors import ChunkingChanged, IndexNotFound, SemsearchError
from indexer.layout import IndexLayout
from indexer.maintenance import compact_index
from indexer.manifest import SCHEMA_VERSION, ChunkingInfo, Manifest
from indexer.snapshot import check_embedder
from indexer.store import Store
from indexer.writer import (
    BuildHook,
    IndexReport,
    Progress,
    ProgressHandler,
    Warn,
    Writer,
    embed_buffer_chunks,
)

__all__ = ["Indexer", "IndexReport", "Progress", "checked_roots"]


class Indexer:
    """Builds index generations. Receives its embedder; never constructs one."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        warn: Warn = lambda _m: None,
        progress: ProgressHandler | None = None,
        hook: BuildHook = lambda _stage: None,
        verbose: bool = False,
        engine: EmbeddingEngine | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        # Chunks and embeds what the writer hands over; local unless given (indexer/ray_engine.py)
        self.engine = engine or LocalEngine(self.prepare, embedder, embed_buffer_chunks(settings))
        self.layout = IndexLayout(settings.index_dir)
        self.warn = warn
        self.progress = progress  # called with a Progress as the run goes (the CLI prints lines)
        self.hook = hook  # called at each stage; tests use it to simulate a kill mid-build
        self.verbose = verbose  # name every skipped file, not just the summary line

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
        run = Writer(self.settings, self.layout, base, roots, draft, self.warn, self.hook, owner=self)
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
