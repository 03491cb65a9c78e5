"""Maintenance that embeds nothing: compacting segments and deleting documents for good."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from indexer.config import Settings
from indexer.errors import NotFound
from indexer.layout import IndexLayout
from indexer.writer import BuildHook, IndexReport, Warn, Writer


def _with_writer(
    settings: Settings, warn: Warn, hook: BuildHook, work: Callable[[Writer], IndexReport]
) -> IndexReport:
    """Run `work` on a writer over the live generation, under the writer lock."""
    layout = IndexLayout(settings.index_dir)
    started = time.perf_counter()
    with layout.writer_lock():
        base = layout.current()
        run = Writer(settings, layout, base, list(base.roots), False, warn, hook)
        try:
            report = work(run)
        finally:
            run.close()
    report.seconds = time.perf_counter() - started
    return report


def compact_index(
    settings: Settings, warn: Warn = lambda _m: None, hook: BuildHook = lambda _stage: None
) -> IndexReport:
    """Merge every segment as far as segment_max_vectors allows and purge deleted rows. Needs no
    embedder: nothing is embedded, vectors are only moved."""

    def compact(run: Writer) -> IndexReport:
        run.compact(full=True)
        return run.finish()

    return _with_writer(settings, warn, hook, compact)


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

    def delete(run: Writer) -> IndexReport:
        keys = run.store.live_keys(run.gen, doc_ids, source_glob)
        if not keys:
            what = ", ".join(repr(i) for i in doc_ids) or f"source {source_glob!r}"
            raise NotFound(f"no document matches {what}: `semsearch list` shows what the index holds")
        run.store.erase_deleted_content()
        run.remove(keys)
        run.seal()
        run.expunge()
        report = run.finish(keep_versions=0)
        # Expunging rewrote the segments (vectors and postings) without the deleted chunks and
        # the old ones were collected; give the freed (zeroed) catalog pages back, empty the log.
        run.store.reclaim_free_pages(min_share=0.0)
        run.store.checkpoint()
        return report

    return _with_writer(settings, warn, hook, delete)
