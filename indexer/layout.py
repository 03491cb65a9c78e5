"""The on-disk layout of an index directory, its atomic publish step and its garbage collection.

    INDEX_DIR/
      CURRENT                    name of the live manifest (replaced atomically with os.replace)
      DRAFT                      name of the manifest of an unfinished `rebuild` (resumed next time)
      .lock                      held by the one process writing
      manifests/gen-NNNNNNNN.json   one typed manifest per generation (manifest.py)
      catalogs/<id>.db           SQLite catalog: documents, chunks, keyword index (store.py)
      segments/<id>/             one immutable vector segment (vector_index.py):
        vectors.npy, ids.npy       float32 vectors and their chunk ids, ascending
        ann.faiss                  the ANN structure (absent for flat segments)
        deletes-NNNNNNNN.npy       tombstoned chunk ids as of generation N

Segment files and manifests are written once and never changed; a generation is published by
writing its manifest, fsyncing, then replacing CURRENT. A kill at any moment leaves CURRENT
naming a whole generation. Readers keep the generation they opened until they reopen.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.errors import IndexBusy, IndexNotFound
from indexer.locking import exclusive_lock
from indexer.manifest import Manifest

KEEP_OLD_VERSIONS = 2  # a server may still be answering from an older generation


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (directories: POSIX only; a no-op where unsupported)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old content or the new, never a mix."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


class IndexLayout:
    """Finds, publishes and garbage-collects the generations under one index directory."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.manifests = self.index_dir / "manifests"
        self.catalogs = self.index_dir / "catalogs"
        self.segments = self.index_dir / "segments"
        self.pointer = self.index_dir / "CURRENT"
        self.draft_pointer = self.index_dir / "DRAFT"

    # -- reading ----------------------------------------------------------------------
    def current_name(self) -> str | None:
        return _read_pointer(self.pointer)

    def current(self) -> Manifest:
        """The live manifest; IndexNotFound if none has been published yet."""
        name = self.current_name()
        if name is None:
            raise IndexNotFound(f"no index in {self.index_dir}: run `semsearch index PATH` first")
        return self.read(name)

    def current_or_none(self) -> Manifest | None:
        return None if self.current_name() is None else self.current()

    def draft(self) -> Manifest | None:
        """The manifest an unfinished rebuild last saved, if any. A draft on the live catalog is
        none: a rebuild publishes its draft and then clears DRAFT, and a kill between the two
        leaves DRAFT naming what is now the live index (rebuilds always start a new catalog).
        Resuming that would treat every later change to the live catalog as unfinished work."""
        name = _read_pointer(self.draft_pointer)
        if name is None or not (self.manifests / name).exists():
            return None
        draft = self.read(name)
        live = self.current_or_none()
        if live is not None and live.catalog == draft.catalog:
            return None
        return draft

    def read(self, name: str) -> Manifest:
        path = self.manifests / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if (self.index_dir / "versions").is_dir():
                raise IndexNotFound(
                    f"{self.index_dir} holds an index in the old format: run `semsearch rebuild PATH`"
                ) from None
            raise IndexNotFound(f"index generation {name} in {self.index_dir} is missing") from None
        return Manifest.from_json(text, str(path))

    def catalog_path(self, manifest: Manifest) -> Path:
        return self.catalogs / manifest.catalog

    def new_catalog_name(self) -> str:
        return f"{uuid.uuid4().hex[:12]}.db"

    def next_generation(self) -> int:
        """One above every generation on disk, so names never repeat (even across rebuilds)."""
        found = [int(p.stem.split("-")[1]) for p in self.manifests.glob("gen-*.json")]
        return max(found, default=0) + 1

    # -- writing ----------------------------------------------------------------------
    def save(self, manifest: Manifest) -> None:
        """Write a manifest file (not yet live)."""
        self.manifests.mkdir(parents=True, exist_ok=True)
        write_atomically(self.manifests / manifest.name, manifest.to_json())

    def publish(self, manifest: Manifest) -> None:
        """Make `manifest` live: its file first, then one atomic replace of CURRENT."""
        self.save(manifest)
        write_atomically(self.pointer, manifest.name + "\n")

    def save_draft(self, manifest: Manifest) -> None:
        self.save(manifest)
        write_atomically(self.draft_pointer, manifest.name + "\n")

    def drop_draft(self) -> None:
        self.draft_pointer.unlink(missing_ok=True)

    def collect_garbage(self, keep: int = KEEP_OLD_VERSIONS) -> None:
        """Keep the live manifest, the draft and the `keep` newest older ones; delete every
        catalog and segment none of them names, and temporary files. Call under the lock."""
        if not self.manifests.exists():
            return
        found = self.draft()
        live, draft = self.current_name(), found.name if found else None
        if draft is None:
            self.drop_draft()  # none, or one a kill left naming the live index
        names = sorted(p.name for p in self.manifests.glob("gen-*.json"))
        pinned = {n for n in (live, draft) if n}
        older = [n for n in names if n not in pinned and (live is None or n < live)]
        kept = pinned | set(older[-keep:] if keep else [])
        for name in names:
            if name not in kept:
                (self.manifests / name).unlink(missing_ok=True)
        catalogs: set[str] = set()
        segments: dict[str, set[str]] = {}
        for name in kept & set(names):
            manifest = self.read(name)
            catalogs.add(manifest.catalog)
            for segment in manifest.segments:
                segments.setdefault(segment.id, set()).add(segment.deletes)
        self._sweep(catalogs, segments)

    def _sweep(self, catalogs: set[str], segments: dict[str, set[str]]) -> None:
        if self.catalogs.exists():
            for path in self.catalogs.iterdir():
                base = path.name.split("-wal")[0].split("-shm")[0].split("-journal")[0]
                if base not in catalogs:
                    path.unlink(missing_ok=True)
        if self.segments.exists():
            for path in self.segments.iterdir():
                if path.name not in segments:
                    shutil.rmtree(path, ignore_errors=True)
                    continue
                for deletes in path.glob("deletes-*.npy"):
                    if deletes.name not in segments[path.name]:
                        deletes.unlink(missing_ok=True)
        for folder in (self.index_dir, self.manifests):
            for stale in folder.glob("*.tmp"):
                stale.unlink(missing_ok=True)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time per index directory; a second gets IndexBusy at once."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.index_dir / ".lock") as acquired:
            if not acquired:
                raise IndexBusy(f"another process is writing the index in {self.index_dir}")
            yield

    def size_on_disk(self, manifest: Manifest) -> int:
        """Bytes of the files this generation reads (catalog and its segments)."""
        total = 0
        catalog = self.catalog_path(manifest)
        for path in (catalog, catalog.with_name(catalog.name + "-wal")):
            total += path.stat().st_size if path.exists() else 0
        for segment in manifest.segments:
            folder = self.segments / segment.id
            for path in folder.iterdir():
                if not path.name.startswith("deletes-") or path.name == segment.deletes:
                    total += path.stat().st_size
        return total


def _read_pointer(path: Path) -> str | None:
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None
