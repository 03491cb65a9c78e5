"""`semsearch snapshot DIR` and `semsearch restore DIR`: a consistent copy of the live index
taken while servers read and writers write, and its atomic return.

A snapshot is itself an index directory holding one generation (so `--index-dir DIR search`
works on it) plus SNAPSHOT.json, the SHA-256 of every file in it. Segment files are immutable
and are copied as they are; the catalog is copied with SQLite's online backup API (a
transactionally consistent image even while a writer commits) and then cut down to exactly the
rows the snapshot's generation sees. The copy is built in a `.partial` folder, verified with
`check`, and renamed into place, so a kill leaves no half snapshot under the chosen name.
A writer that publishes and cleans up during the copy can remove a file being copied; the
snapshot then starts again from the newer generation (a bounded number of times).

Restore verifies every checksum first, then, under the writer lock, copies the parts in under
new names and publishes them as the next generation with one atomic replace of CURRENT: a
server moves over at its next reload, and the version it was on stays until cleanup.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from indexer.check import check_index
from indexer.checksums import file_digest
from indexer.errors import SemsearchError
from indexer.layout import IndexLayout, fsync_path, write_atomically
from indexer.manifest import Manifest
from indexer.store import visible

SNAPSHOT_FILE = "SNAPSHOT.json"
ATTEMPTS = 5


class SnapshotError(SemsearchError):
    """A snapshot that cannot be taken or restored as asked."""


@dataclass(frozen=True)
class BackupReport:
    generation: str
    documents: int
    chunks: int
    files: int
    bytes: int
    seconds: float


def take_snapshot(index_dir: Path, dest: Path) -> BackupReport:
    started = time.perf_counter()
    dest = Path(dest).absolute()
    index_dir = Path(index_dir).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SnapshotError(f"{dest} already exists and is not an empty folder: choose a new one")
    if dest == index_dir or index_dir in dest.parents:
        raise SnapshotError(f"{dest} is inside the index directory: choose a folder outside it")
    layout = IndexLayout(index_dir)
    for _attempt in range(ATTEMPTS):
        manifest = layout.current()
        partial = dest.with_name(f"{dest.name}.partial-{uuid.uuid4().hex[:8]}")
        try:
            _copy_generation(layout, manifest, partial)
        except FileNotFoundError:  # a writer's cleanup removed a part mid-copy: start again
            shutil.rmtree(partial, ignore_errors=True)
            continue
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        files = _write_checksums(partial, manifest)
        verdict = check_index(partial)
        if not verdict.ok:
            shutil.rmtree(partial, ignore_errors=True)
            raise SnapshotError("the copy did not pass check: " + "; ".join(verdict.problems[:3]))
        if dest.exists():
            dest.rmdir()
        os.replace(partial, dest)
        fsync_path(dest.parent)
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        return BackupReport(
            manifest.name, manifest.documents, manifest.chunks, files, size, time.perf_counter() - started
        )
    raise SnapshotError(
        f"the index changed under {ATTEMPTS} attempts to copy it: try again when it is quieter"
    )


def restore_snapshot(source: Path, index_dir: Path, keep_versions: int) -> BackupReport:
    started = time.perf_counter()
    source = Path(source)
    verify_snapshot(source)
    snapshot = IndexLayout(source).current()
    layout = IndexLayout(index_dir)
    with layout.writer_lock():
        generation = layout.next_generation()
        catalog = layout.new_catalog_name()
        layout.catalogs.mkdir(parents=True, exist_ok=True)
        layout.segments.mkdir(parents=True, exist_ok=True)
        # Parts are copied under names no manifest uses yet: a kill here leaves files that the
        # next cleanup sweeps, and CURRENT still names the old generation.
        target = layout.catalogs / catalog
        shutil.copyfile(IndexLayout(source).catalog_path(snapshot), target)
        with sqlite3.connect(str(target)) as db:  # every row of the snapshot is seen by `generation`
            db.execute("UPDATE documents SET added_gen = MIN(added_gen, ?)", [generation])
        fsync_path(target)
        for info in snapshot.segments:
            _restore_segment(IndexLayout(source).segments / info.id, layout.segments / info.id)
        manifest = snapshot.next(generation, catalog=catalog)
        layout.drop_draft()  # an interrupted rebuild would publish over what was just restored
        layout.publish(manifest)
        layout.collect_garbage(keep_versions)
    files = len(json.loads((source / SNAPSHOT_FILE).read_text(encoding="utf-8"))["files"])
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    return BackupReport(
        manifest.name, manifest.documents, manifest.chunks, files, size, time.perf_counter() - started
    )


def verify_snapshot(source: Path) -> None:
    """Every file SNAPSHOT.json lists is present and unchanged; else SnapshotError naming it."""
    try:
        recorded = json.loads((source / SNAPSHOT_FILE).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise SnapshotError(f"{source} is not a semsearch snapshot ({SNAPSHOT_FILE}: {exc})") from None
    for name, digest in sorted(recorded.items()):
        path = source / name
        if not path.is_file():
            raise SnapshotError(f"snapshot {source} lacks {name}: it cannot be restored")
        if file_digest(path) != digest:
            raise SnapshotError(
                f"snapshot {source}: {name} does not match its checksum: it cannot be restored"
            )


def _copy_generation(layout: IndexLayout, manifest: Manifest, partial: Path) -> None:
    out = IndexLayout(partial)
    out.segments.mkdir(parents=True)
    out.catalogs.mkdir(parents=True)
    for info in manifest.segments:
        folder, copy = layout.segments / info.id, out.segments / info.id
        copy.mkdir()
        for path in sorted(folder.iterdir()):
            is_tombstone = path.name.startswith("deletes-")
            if (
                path.is_file()
                and (not is_tombstone or path.name == info.deletes)
                and not path.name.endswith(".tmp")
            ):
                shutil.copyfile(path, copy / path.name)
    _copy_catalog(layout.catalog_path(manifest), out.catalogs / manifest.catalog, manifest.generation)
    out.publish(manifest)


def _copy_catalog(live: Path, copy: Path, generation: int) -> None:
    """SQLite's online backup of the live catalog, cut down to what `generation` sees."""
    if not live.exists():
        raise FileNotFoundError(live)
    source = sqlite3.connect(f"file:{live}?mode=ro", uri=True)
    target = sqlite3.connect(str(copy), isolation_level=None)
    try:
        source.backup(target)
        target.execute("PRAGMA foreign_keys = ON")
        target.execute("BEGIN")
        hidden = f"SELECT key FROM documents d WHERE NOT {visible(generation)} OR d.added_gen IS NULL"
        target.execute(f"DELETE FROM chunks WHERE doc_key IN ({hidden})")  # noqa: S608
        target.execute(f"DELETE FROM documents WHERE key IN ({hidden})")  # noqa: S608
        target.execute("UPDATE documents SET deleted_gen = NULL")  # deletions after it do not apply
        target.execute("DELETE FROM staged_vectors")
        target.execute("COMMIT")
        target.execute("VACUUM")
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()
    fsync_path(copy)


def _write_checksums(partial: Path, manifest: Manifest) -> int:
    files = {
        str(p.relative_to(partial)): file_digest(p)
        for p in sorted(partial.rglob("*"))
        if p.is_file() and p.name != SNAPSHOT_FILE
    }
    record = {"generation": manifest.generation, "taken_at": time.time(), "files": files}
    write_atomically(partial / SNAPSHOT_FILE, json.dumps(record, indent=1, sort_keys=True))
    return len(files)


def _restore_segment(source: Path, target: Path) -> None:
    """Copy one segment in. One already there (restoring into the index it came from) is kept
    when its files match, since segment files never change; a tombstone file it lacks is added."""
    if target.exists():
        for path in sorted(source.iterdir()):
            present = target / path.name
            if not present.exists():
                shutil.copyfile(path, present)
                fsync_path(present)
            elif file_digest(present) != file_digest(path):
                raise SnapshotError(
                    f"segment {target.name} in {target.parent.parent} differs from the snapshot's "
                    f"({path.name}): run `semsearch check`"
                )
        return
    partial = target.with_name(f"{target.name}.partial-{uuid.uuid4().hex[:8]}")
    shutil.copytree(source, partial)
    for path in partial.iterdir():
        fsync_path(path)
    os.replace(partial, target)
    fsync_path(target.parent)
