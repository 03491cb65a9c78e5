"""The on-disk layout of an index directory and its atomic version switch.

    INDEX_DIR/
      CURRENT                  name of the live version (replaced atomically with os.replace)
      .lock                    held (flock) by the one process writing a new version
      versions/<name>/
        store.db               SQLite: documents, chunks, keyword index, metadata
        vectors.npy            full-precision vectors (float32, memory-mapped at query time)
        vector_ids.npy         chunk id of each vector row, ascending
        ann.faiss              the FAISS index (derived from the vectors)
        manifest.json          written last: a version without it is incomplete

A writer builds a complete new version beside the live one, fsyncs it, and only then points
CURRENT at it. A kill at any moment leaves CURRENT naming a whole version; readers keep the
version they opened until they reopen.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import IndexBusy, IndexNotFound

MANIFEST = "manifest.json"
KEEP_OLD_VERSIONS = 2  # a server may still be answering from the previous version


@dataclass(frozen=True)
class VersionPaths:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def store(self) -> Path:
        return self.root / "store.db"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors.npy"

    @property
    def vector_ids(self) -> Path:
        return self.root / "vector_ids.npy"

    @property
    def ann(self) -> Path:
        return self.root / "ann.faiss"

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST


def _fsync_path(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexLayout:
    """Finds, creates, publishes and garbage-collects index versions under one directory."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.versions_dir = self.index_dir / "versions"
        self.pointer = self.index_dir / "CURRENT"

    def current_name(self) -> str | None:
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def current(self) -> VersionPaths:
        """The live version; IndexNotFound if none has been published yet."""
        name = self.current_name()
        if name is None:
            raise IndexNotFound(f"no index in {self.index_dir}: run `semsearch index PATH` first")
        version = VersionPaths(self.versions_dir / name)
        if not version.manifest.exists():
            raise IndexNotFound(f"index version {name} in {self.index_dir} is incomplete")
        return version

    def read_manifest(self, version: VersionPaths) -> dict[str, Any]:
        return json.loads(version.manifest.read_text(encoding="utf-8"))

    def new_version(self) -> VersionPaths:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        version = VersionPaths(self.versions_dir / f"v{stamp}-{uuid.uuid4().hex[:8]}")
        version.root.mkdir(parents=True)
        return version

    def publish(self, version: VersionPaths, manifest: dict[str, Any]) -> None:
        """Make `version` live: manifest last, everything fsynced, then one atomic rename."""
        tmp_manifest = version.root / (MANIFEST + ".tmp")
        tmp_manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_manifest, version.manifest)
        for item in version.root.iterdir():
            if item.is_file():
                _fsync_path(item)
        _fsync_path(version.root)
        tmp_pointer = self.index_dir / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp_pointer, "w", encoding="utf-8") as handle:
            handle.write(version.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_pointer, self.pointer)
        _fsync_path(self.index_dir)

    def discard(self, version: VersionPaths) -> None:
        shutil.rmtree(version.root, ignore_errors=True)

    def collect_garbage(self) -> None:
        """Drop incomplete versions and all but the newest few old ones. Call under the lock."""
        live = self.current_name()
        if not self.versions_dir.exists():
            return
        complete = []
        for path in self.versions_dir.iterdir():
            if path.name == live or not path.is_dir():
                continue
            if (path / MANIFEST).exists():
                complete.append(path)
            else:
                shutil.rmtree(path, ignore_errors=True)  # left by a killed build
        for path in sorted(complete)[: -KEEP_OLD_VERSIONS or None]:
            shutil.rmtree(path, ignore_errors=True)
        for stale in self.index_dir.glob("CURRENT.*.tmp"):
            stale.unlink(missing_ok=True)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time per index directory; a second gets IndexBusy at once."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusy(f"another process is writing the index in {self.index_dir}") from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
