"""The catalog: one SQLite file holding documents, chunks, the keyword index and staged vectors.

Every row of `documents` is one *version* of a document, stamped with the generation that
published it (`added_gen`) and the one that deleted it (`deleted_gen`). A reader of generation G
sees exactly the versions with added_gen <= G < deleted_gen, so a writer can add and delete
rows while servers read: nothing it does is visible until a manifest of a newer generation is
published (docs/decisions.md, "Segments and the catalog"). Rows a writer has written but not
published have added_gen NULL ("staged"); with their vectors in `staged_vectors` they are the
finished work a killed run leaves behind, which the next run reuses instead of re-embedding.
Chunk rows are never changed once written, so chunk id -> text needs no generation check.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from indexer.chunking import Chunk
from indexer.documents import Document
from indexer.errors import IndexNotFound

SCHEMA_VERSION = 3
_IN_BATCH = 900  # host parameters per IN (...) list, under SQLite's limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL, source TEXT NOT NULL, origin TEXT NOT NULL, title TEXT NOT NULL,
    content_hash TEXT NOT NULL, modified REAL NOT NULL, metadata TEXT NOT NULL,
    indexed_at REAL NOT NULL, text TEXT NOT NULL,
    origin_mtime REAL NOT NULL, origin_size INTEGER NOT NULL,
    added_gen INTEGER, deleted_gen INTEGER);
CREATE INDEX IF NOT EXISTS documents_id ON documents(id);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE INDEX IF NOT EXISTS documents_staged ON documents(key) WHERE added_gen IS NULL;
CREATE INDEX IF NOT EXISTS documents_deleted ON documents(deleted_gen) WHERE deleted_gen IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_added ON documents(added_gen);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_key INTEGER NOT NULL REFERENCES documents(key) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_key);
CREATE TABLE IF NOT EXISTS staged_vectors (chunk_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
"""
# Files read to the end, at the time and size they had, and the generation that published the
# last of their documents. A file whose documents all carry its current time and size may still
# be half done: a run killed after sealing part of a big record file leaves exactly that, and
# without this table the rest of the file would never be indexed.
_ORIGINS_DONE = """
CREATE TABLE IF NOT EXISTS origins_done (
    origin TEXT PRIMARY KEY, mtime REAL NOT NULL, size INTEGER NOT NULL, gen INTEGER NOT NULL);
"""


def visible(gen: int, alias: str = "d") -> str:
    """SQL condition: the document version `alias` is part of generation `gen`."""
    g = int(gen)
    return f"({alias}.added_gen <= {g} AND ({alias}.deleted_gen IS NULL OR {alias}.deleted_gen > {g}))"


@dataclass(frozen=True)
class StoredDocument:
    id: str
    source: str
    origin: str
    title: str
    content_hash: str
    modified: float
    metadata: dict[str, Any]
    text: str


@dataclass(frozen=True)
class StoredChunk:
    id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str


class HitText(NamedTuple):
    """What a search hit shows of one chunk: its text and its document's id, title and source."""

    doc_id: str
    title: str
    source: str
    text: str


@dataclass(frozen=True)
class Version:
    """One stored version of a document, as the planner needs it."""

    key: int
    id: str
    content_hash: str
    origin: str
    origin_state: tuple[float, int]


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _IN_BATCH):
        yield items[i : i + _IN_BATCH]


def _marks(part: Sequence[Any]) -> str:
    return ",".join("?" * len(part))


class Store:
    """Typed access to one catalog file. Readers pass the generation they read."""

    def __init__(self, path: Path, create: bool = False, readonly: bool = False) -> None:
        if not create and not path.exists():
            raise IndexNotFound(f"no index catalog at {path}")
        self.path = path
        self._durable = False
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 10000")
        if create:
            # Staged vectors are deleted once they are in a segment; incremental vacuum gives
            # their pages back to the file system instead of leaving the catalog bloated.
            self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.executescript(_SCHEMA)
            self.set_meta("schema_version", SCHEMA_VERSION)
        else:
            found = self.get_meta("schema_version")
            if found != SCHEMA_VERSION:
                raise IndexNotFound(
                    f"{path} has schema version {found}, this semsearch reads {SCHEMA_VERSION}: "
                    "run `semsearch rebuild PATH`"
                )
        if not readonly:
            self.db.execute("PRAGMA synchronous = NORMAL")  # FULL for the commit that seals
            self.db.executescript(_ORIGINS_DONE)  # catalogs made before it get it on first write

    def close(self) -> None:
        self.db.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    # -- metadata ---------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, json.dumps(value)])

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    # -- writing: staging -------------------------------------------------------------
    def begin(self, durable: bool = False) -> None:
        """Start a write transaction; `durable` fsyncs it at commit (the commit that seals)."""
        self._durable = durable
        if durable:
            self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")
        if self._durable:
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._durable = False

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def stage_document(self, doc: Document, origin: str, modified: float, state: tuple[float, int]) -> int:
        """Insert an unpublished version of `doc`; returns its key."""
        cursor = self.db.execute(
            "INSERT INTO documents(id, source, origin, title, content_hash, modified, metadata, "
            "indexed_at, text, origin_mtime, origin_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                doc.id,
                doc.source,
                origin,
                doc.title,
                doc.content_hash,
                modified,
                json.dumps(doc.metadata, default=str, ensure_ascii=False),
                time.time(),
                doc.text,
                state[0],
                state[1],
            ],
        )
        return int(cursor.lastrowid or 0)

    def stage_chunks(self, doc_key: int, chunks: Sequence[Chunk]) -> list[int]:
        """Insert a version's chunks; returns the new chunk ids in order (the keyword index
        adds its own rows, keyword_index.py)."""
        ids = []
        for chunk in chunks:
            cursor = self.db.execute(
                'INSERT INTO chunks(doc_key, ordinal, start, "end", text) VALUES (?, ?, ?, ?, ?)',
                [doc_key, chunk.ordinal, chunk.start, chunk.end, chunk.text],
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def stage_vectors(self, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        self.db.executemany(
            "INSERT INTO staged_vectors(chunk_id, vector) VALUES (?, ?)",
            ((int(cid), rows[i].tobytes()) for i, cid in enumerate(chunk_ids)),
        )

    def staged_versions(self) -> dict[str, Version]:
        """Unpublished document versions a previous (killed) run left, by document id."""
        rows = self.db.execute(
            "SELECT key, id, content_hash, origin, origin_mtime, origin_size FROM documents "
            "WHERE added_gen IS NULL ORDER BY key"
        )
        return {r[1]: Version(r[0], r[1], r[2], r[3], (r[4], r[5])) for r in rows}

    def staged_vectors_of(self, doc_keys: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids ascending, their vectors) of the given staged documents, read straight
        into one preallocated array: a segment's worth of vectors is held once, not three times."""
        ids = np.sort(np.asarray(self.chunk_ids_of(doc_keys), dtype=np.int64))
        vectors = np.empty((len(ids), dim), dtype=np.float32)
        row = 0
        for part in _batches(ids.tolist()):
            rows = self.db.execute(
                f"SELECT chunk_id, vector FROM staged_vectors WHERE chunk_id IN ({_marks(part)}) "  # noqa: S608
                "ORDER BY chunk_id",
                list(part),
            )
            for chunk_id, blob in rows:
                if chunk_id != ids[row]:
                    raise IndexNotFound(
                        f"{self.path}: staged chunk {ids[row]} has no vector; run `semsearch rebuild`"
                    )
                vectors[row] = np.frombuffer(blob, dtype=np.float32)
                row += 1
        if row != len(ids):
            raise IndexNotFound(
                f"{self.path}: {len(ids) - row} staged chunks have no vector; run `semsearch rebuild`"
            )
        return ids, vectors

    def chunk_fields(self, chunk_ids: np.ndarray) -> Iterator[tuple[int, str, str]]:
        """(document key, title, chunk text) of each chunk id, in the given order (for segments)."""
        for part in _batches(np.asarray(chunk_ids).tolist()):
            rows = dict(
                (r[0], (r[1], r[2], r[3]))
                for r in self.db.execute(
                    "SELECT c.id, d.key, d.title, c.text FROM chunks c JOIN documents d ON d.key = c.doc_key "
                    f"WHERE c.id IN ({_marks(part)})",  # noqa: S608
                    list(part),
                )
            )
            for chunk_id in part:
                if chunk_id not in rows:
                    raise IndexNotFound(f"{self.path}: chunk {chunk_id} has no text; run `semsearch rebuild`")
                yield rows[chunk_id]

    def ids_of(self, doc_keys: Sequence[int]) -> list[str]:
        """Document ids of the given versions."""
        out: list[str] = []
        for part in _batches(list(doc_keys)):
            rows = self.db.execute(f"SELECT id FROM documents WHERE key IN ({_marks(part)})", list(part))  # noqa: S608
            out.extend(r[0] for r in rows)
        return out

    def chunk_ids_of(self, doc_keys: Iterable[int]) -> list[int]:
        out: list[int] = []
        for part in _batches(list(doc_keys)):
            rows = self.db.execute(
                f"SELECT id FROM chunks WHERE doc_key IN ({_marks(part)})",  # noqa: S608
                list(part),
            )
            out.extend(r[0] for r in rows)
        return out

    def drop_versions(self, doc_keys: Sequence[int]) -> None:
        """Physically delete versions (their chunks and staged vectors too)."""
        for part in _batches(list(doc_keys)):
            marks = _marks(part)
            chunk_sql = f"SELECT id FROM chunks WHERE doc_key IN ({marks})"  # noqa: S608
            self.db.execute(f"DELETE FROM staged_vectors WHERE chunk_id IN ({chunk_sql})", list(part))  # noqa: S608
            self.db.execute(f"DELETE FROM chunks WHERE doc_key IN ({marks})", list(part))  # noqa: S608
            self.db.execute(f"DELETE FROM documents WHERE key IN ({marks})", list(part))  # noqa: S608

    # -- writing: publishing ----------------------------------------------------------
    def mark_published(self, gen: int, added: Sequence[int], removed: Sequence[int]) -> None:
        """Stamp staged versions `added` and live versions `removed` with generation `gen`."""
        for part in _batches(list(added)):
            self.db.execute(
                f"UPDATE documents SET added_gen = ? WHERE key IN ({_marks(part)})",  # noqa: S608
                [gen, *part],
            )
        for part in _batches(list(removed)):
            self.db.execute(
                f"UPDATE documents SET deleted_gen = ? WHERE key IN ({_marks(part)})",  # noqa: S608
                [gen, *part],
            )

    def roll_back_unpublished(self, live_gen: int) -> None:
        """Undo the marks of a generation that was sealed here but never published."""
        self.db.execute("UPDATE documents SET added_gen = NULL WHERE added_gen > ?", [live_gen])
        self.db.execute("UPDATE documents SET deleted_gen = NULL WHERE deleted_gen > ?", [live_gen])
        self.db.execute("DELETE FROM origins_done WHERE gen > ?", [live_gen])

    def mark_origins_done(self, gen: int, files: Sequence[tuple[str, tuple[float, int]]]) -> None:
        """Record files read to the end, with the time and size they were read at."""
        self.db.executemany(
            "INSERT OR REPLACE INTO origins_done(origin, mtime, size, gen) VALUES (?, ?, ?, ?)",
            [(origin, mtime, size, gen) for origin, (mtime, size) in files],
        )

    def origin_done(self, origin: str, state: tuple[float, int]) -> bool:
        """Whether this file was read to the end at this time and size."""
        row = self.db.execute("SELECT mtime, size FROM origins_done WHERE origin = ?", [origin]).fetchone()
        return row is not None and (row[0], row[1]) == state

    def clear_published_staging(self) -> None:
        """Staged vectors of versions that are published now live in vector segments. Driven by
        the (small) staging table: a join from `chunks` would scan the whole catalog."""
        self.db.execute(
            "DELETE FROM staged_vectors WHERE chunk_id IN (SELECT s.chunk_id FROM staged_vectors s "
            "JOIN chunks c ON c.id = s.chunk_id JOIN documents d ON d.key = c.doc_key "
            "WHERE d.added_gen IS NOT NULL)"
        )

    def purge(self, deleted_up_to: int) -> int:
        """Physically remove versions deleted at or before `deleted_up_to` (no kept generation
        can see them). Returns how many versions went."""
        keys = [
            r[0]
            for r in self.db.execute(
                "SELECT key FROM documents WHERE deleted_gen IS NOT NULL AND deleted_gen <= ?",
                [deleted_up_to],
            )
        ]
        self.drop_versions(keys)
        return len(keys)

    def reclaim_free_pages(self, min_share: float = 0.25) -> None:
        """Shrink the file when at least `min_share` of its pages are free."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        if pages and free / pages >= min_share:
            self.db.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page

    def erase_deleted_content(self) -> None:
        """From now on, deleted rows are overwritten with zeros, not just unlinked (SQLite's
        secure_delete): text that was deleted cannot be read back from the file."""
        self.db.execute("PRAGMA secure_delete = ON")

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database and truncate it (old page images go too)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def set_metadata(self, fields_by_key: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Set metadata fields of document versions in place (derived fields such as a
        classifier's label; the document's own fields and content hash stay as read)."""
        for key, fields in fields_by_key:
            self.db.execute(
                "UPDATE documents SET metadata = json_patch(metadata, ?) WHERE key = ?",
                [json.dumps(fields, ensure_ascii=False), int(key)],
            )

    # -- reading: planning ------------------------------------------------------------
    def live_versions(self, doc_ids: Sequence[str], gen: int) -> dict[str, Version]:
        """The version of each id that generation `gen` holds (ids it lacks are absent)."""
        out: dict[str, Version] = {}
        for part in _batches(list(dict.fromkeys(doc_ids))):
            rows = self.db.execute(
                "SELECT key, id, content_hash, origin, origin_mtime, origin_size FROM documents d "
                f"WHERE id IN ({_marks(part)}) AND {visible(gen)}",  # noqa: S608
                list(part),
            )
            out.update((r[1], Version(r[0], r[1], r[2], r[3], (r[4], r[5]))) for r in rows)
        return out

    def live_from(self, origin: str, gen: int) -> list[Version]:
        rows = self.db.execute(
            "SELECT key, id, content_hash, origin, origin_mtime, origin_size FROM documents d "
            f"WHERE origin = ? AND {visible(gen)}",  # noqa: S608
            [origin],
        )
        return [Version(r[0], r[1], r[2], r[3], (r[4], r[5])) for r in rows]

    def live_origins_under(self, root: str, sep: str, gen: int) -> set[str]:
        """Origins of live documents that are `root` itself or inside it."""
        prefix = root.rstrip(sep) + sep
        rows = self.db.execute(
            f"SELECT DISTINCT origin FROM documents d WHERE (origin = ? OR substr(origin, 1, ?) = ?) "
            f"AND {visible(gen)}",  # noqa: S608
            [root, len(prefix), prefix],
        )
        return {r[0] for r in rows}

    # -- reading: queries -------------------------------------------------------------
    def count_documents(self, gen: int) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM documents d WHERE {visible(gen)}").fetchone()[0])  # noqa: S608

    def count_chunks(self, gen: int) -> int:
        sql = f"SELECT count(*) FROM chunks c JOIN documents d ON d.key = c.doc_key WHERE {visible(gen)}"  # noqa: S608
        return int(self.db.execute(sql).fetchone()[0])

    def document(self, doc_id: str, gen: int) -> StoredDocument | None:
        return self.documents([doc_id], gen, with_text=True).get(doc_id)

    def _select_in(self, sql: str, items: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of `sql`, whose `{marks}` is an IN list, over `items` in bounded batches."""
        for part in _batches(list(items)):
            yield from self.db.execute(sql.format(marks=_marks(part)), list(part))

    def documents(
        self, doc_ids: Iterable[str], gen: int, with_text: bool = False
    ) -> dict[str, StoredDocument]:
        text = "text" if with_text else "''"
        rows = self._select_in(
            f"SELECT id, source, origin, title, content_hash, modified, metadata, {text} "
            f"FROM documents d WHERE id IN ({{marks}}) AND {visible(gen)}",  # noqa: S608
            dict.fromkeys(doc_ids),
        )
        return {r[0]: StoredDocument(*r[:6], json.loads(r[6]), r[7]) for r in rows}

    def chunks_of(self, doc_id: str, gen: int) -> list[StoredChunk]:
        rows = self.db.execute(
            'SELECT c.id, d.id, c.ordinal, c.start, c."end", c.text FROM chunks c '
            f"JOIN documents d ON d.key = c.doc_key WHERE d.id = ? AND {visible(gen)} ORDER BY c.ordinal",  # noqa: S608
            [doc_id],
        )
        return [StoredChunk(*r) for r in rows]

    def chunks(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        rows = self._select_in(
            'SELECT c.id, d.id, c.ordinal, c.start, c."end", c.text FROM chunks c '
            "JOIN documents d ON d.key = c.doc_key WHERE c.id IN ({marks})",
            chunk_ids,
        )
        return {r[0]: StoredChunk(*r) for r in rows}

    def hit_texts(self, chunk_ids: Iterable[int]) -> dict[int, HitText]:
        """Each chunk's text with its own document version's id, title and source: one query
        for a page of hits (chunks purged since are absent)."""
        rows = self._select_in(
            "SELECT c.id, d.id, d.title, d.source, c.text FROM chunks c "
            "JOIN documents d ON d.key = c.doc_key WHERE c.id IN ({marks})",
            chunk_ids,
        )
        return {r[0]: HitText(*r[1:]) for r in rows}

    def doc_ids(self, doc_keys: Sequence[int]) -> dict[int, str]:
        """The document id of each version key (keys purged since are absent)."""
        return dict(self._select_in("SELECT key, id FROM documents WHERE key IN ({marks})", doc_keys))

    def visible_doc_ids(self, gen: int) -> Iterator[tuple[int, str]]:
        """(version key, document id) of every document generation `gen` holds."""
        return self.db.execute(f"SELECT key, id FROM documents d WHERE {visible(gen)}")  # noqa: S608

    def chunk_documents(self, chunk_ids: Sequence[int], gen: int) -> dict[int, str]:
        """chunk id -> document id, for the chunks generation `gen` holds (others are absent)."""
        rows = self._select_in(
            "SELECT c.id, d.id FROM chunks c JOIN documents d ON d.key = c.doc_key "
            f"WHERE c.id IN ({{marks}}) AND {visible(gen)}",  # noqa: S608
            chunk_ids,
        )
        return {int(r[0]): r[1] for r in rows}

    def metadata_fields(self, gen: int) -> list[str]:
        """Every metadata key present in some document (the filterable fields)."""
        rows = self.db.execute(
            f"SELECT DISTINCT j.key FROM documents d, json_each(d.metadata) j WHERE {visible(gen)} "  # noqa: S608
            "ORDER BY j.key"
        )
        return [r[0] for r in rows]

    def chunk_ids_where(self, sql: str, params: Sequence[Any], gen: int) -> np.ndarray:
        """Chunk ids (ascending) whose document satisfies a filter (a WHERE over documents `d`)."""
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.key = c.doc_key WHERE ({sql}) "  # noqa: S608
            f"AND {visible(gen)} ORDER BY c.id",
            list(params),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def list_documents(
        self, gen: int, limit: int, offset: int = 0, source_glob: str | None = None
    ) -> list[tuple[str, str, str, int, float]]:
        """(id, source, title, chunks, modified) of generation `gen`, by source."""
        where, params = ("AND d.source GLOB ?", [source_glob]) if source_glob else ("", [])
        rows = self.db.execute(
            "SELECT d.id, d.source, d.title, (SELECT count(*) FROM chunks c WHERE c.doc_key = d.key), "
            f"d.modified FROM documents d WHERE {visible(gen)} {where} ORDER BY d.source LIMIT ? OFFSET ?",  # noqa: S608
            [*params, limit, offset],
        )
        return [(r[0], r[1], r[2], int(r[3]), float(r[4])) for r in rows]

    def count_listed(self, gen: int, source_glob: str) -> int:
        """How many documents `list_documents` pages through for this glob."""
        sql = f"SELECT count(*) FROM documents d WHERE {visible(gen)} AND d.source GLOB ?"  # noqa: S608
        return int(self.db.execute(sql, [source_glob]).fetchone()[0])

    def live_keys(self, gen: int, doc_ids: Sequence[str] = (), source_glob: str | None = None) -> list[int]:
        """Keys of the versions generation `gen` holds with these ids, or whose source matches."""
        keys = [v.key for v in self.live_versions(doc_ids, gen).values()] if doc_ids else []
        if source_glob:
            rows = self.db.execute(
                f"SELECT key FROM documents d WHERE d.source GLOB ? AND {visible(gen)}",  # noqa: S608
                [source_glob],
            )
            keys.extend(r[0] for r in rows)
        return sorted(set(keys))

    def counts_by_type(self, gen: int) -> dict[str, int]:
        """Documents per file type (the origin file's suffix; records count under their file's)."""
        counts: dict[str, int] = {}
        rows = self.db.execute(
            f"SELECT origin, count(*) FROM documents d WHERE {visible(gen)} GROUP BY origin"  # noqa: S608
        )
        for origin, count in rows:
            suffix = Path(origin).suffix.lower() or "(no extension)"
            counts[suffix] = counts.get(suffix, 0) + int(count)
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def iter_chunk_texts(self, gen: int) -> Iterator[tuple[int, str, str]]:
        """(chunk id, document title, chunk text) of every chunk of generation `gen`, by id."""
        yield from self.db.execute(
            "SELECT c.id, d.title, c.text FROM chunks c JOIN documents d ON d.key = c.doc_key "
            f"WHERE {visible(gen)} ORDER BY c.id"  # noqa: S608
        )
