"""SQLite schema and access: documents, chunks, the keyword index, and index metadata.

One `Store` is one SQLite file inside one index version directory (see layout.py). It is
written by exactly one builder and then only read, so readers never see a half-done write.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from indexer.analysis import analyze
from indexer.chunking import Chunk
from indexer.documents import Document
from indexer.errors import IndexNotFound

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, mtime REAL NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, origin TEXT NOT NULL, title TEXT NOT NULL,
    content_hash TEXT NOT NULL, modified REAL NOT NULL, metadata TEXT NOT NULL,
    indexed_at REAL NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, body, tokenize='porter unicode61 remove_diacritics 2');
"""


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


class Store:
    """Typed access to one index version's SQLite file."""

    def __init__(self, path: Path, create: bool = False) -> None:
        if not create and not path.exists():
            raise IndexNotFound(f"no index database at {path}")
        self.path = path
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA foreign_keys = ON")
        if create:
            self.db.enable_wal()
            self.db.executescript(_SCHEMA)
            self.set_meta("schema_version", SCHEMA_VERSION)
        else:
            found = self.get_meta("schema_version")
            if found != SCHEMA_VERSION:
                raise IndexNotFound(
                    f"{path} has schema version {found}, this semsearch reads {SCHEMA_VERSION}: "
                    "run `semsearch rebuild`"
                )

    def close(self) -> None:
        self.db.conn.close()

    # -- metadata ---------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, json.dumps(value)])

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    # -- writing ----------------------------------------------------------------------
    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def record_source(self, path: str, mtime: float, size: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sources(path, mtime, size) VALUES (?, ?, ?)", [path, mtime, size]
        )

    def source_state(self, path: str) -> tuple[float, int] | None:
        row = self.db.execute("SELECT mtime, size FROM sources WHERE path = ?", [path]).fetchone()
        return (row[0], row[1]) if row else None

    def source_paths(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM sources")]

    def forget_source(self, path: str) -> None:
        self.db.execute("DELETE FROM sources WHERE path = ?", [path])

    def put_document(self, doc: Document, origin: str, modified: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO documents(id, source, origin, title, content_hash, modified, "
            "metadata, indexed_at, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ],
        )

    def add_chunks(self, doc_id: str, title: str, chunks: Sequence[Chunk]) -> list[int]:
        """Insert chunks (and their keyword entries); returns the new chunk ids in order."""
        ids = []
        for chunk in chunks:
            cursor = self.db.execute(
                'INSERT INTO chunks(doc_id, ordinal, start, "end", text) VALUES (?, ?, ?, ?, ?)',
                [doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.text],
            )
            chunk_id = int(cursor.lastrowid or 0)
            self.db.execute(
                "INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
                [chunk_id, analyze(title), analyze(chunk.text)],
            )
            ids.append(chunk_id)
        return ids

    def delete_document(self, doc_id: str) -> list[int]:
        """Remove a document and its chunks; returns the removed chunk ids."""
        removed = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE doc_id = ?", [doc_id])]
        for chunk_id in removed:
            self.db.execute("DELETE FROM chunks_fts WHERE rowid = ?", [chunk_id])
        self.db.execute("DELETE FROM chunks WHERE doc_id = ?", [doc_id])
        self.db.execute("DELETE FROM documents WHERE id = ?", [doc_id])
        return removed

    # -- reading ----------------------------------------------------------------------
    def document_hashes(self) -> dict[str, tuple[str, str]]:
        """doc id -> (content hash, origin file)."""
        rows = self.db.execute("SELECT id, content_hash, origin FROM documents")
        return {r[0]: (r[1], r[2]) for r in rows}

    def documents_from(self, origin: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM documents WHERE origin = ?", [origin])]

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    def document(self, doc_id: str) -> StoredDocument | None:
        row = self.db.execute(
            "SELECT id, source, origin, title, content_hash, modified, metadata, text "
            "FROM documents WHERE id = ?",
            [doc_id],
        ).fetchone()
        if row is None:
            return None
        return StoredDocument(*row[:6], json.loads(row[6]), row[7])  # type: ignore[arg-type]

    def chunks_of(self, doc_id: str) -> list[StoredChunk]:
        rows = self.db.execute(
            'SELECT id, doc_id, ordinal, start, "end", text FROM chunks WHERE doc_id = ? ORDER BY ordinal',
            [doc_id],
        )
        return [StoredChunk(*r) for r in rows]

    def chunks(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        ids = list(chunk_ids)
        out: dict[int, StoredChunk] = {}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f'SELECT id, doc_id, ordinal, start, "end", text FROM chunks WHERE id IN ({marks})',  # noqa: S608
                part,
            )
            out.update((r[0], StoredChunk(*r)) for r in rows)
        return out

    def documents(self, doc_ids: Iterable[str]) -> dict[str, StoredDocument]:
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, StoredDocument] = {}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                "SELECT id, source, origin, title, content_hash, modified, metadata, '' "
                f"FROM documents WHERE id IN ({marks})",  # noqa: S608
                part,
            )
            out.update((r[0], StoredDocument(*r[:6], json.loads(r[6]), r[7])) for r in rows)
        return out

    def iter_chunk_texts(self) -> Iterator[tuple[int, str, str]]:
        """(chunk id, document title, chunk text) for every chunk, in id order."""
        yield from self.db.execute(
            "SELECT c.id, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
        )

    def origins(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT origin FROM documents")]

    def keyword_search(
        self, match: str, limit: int, allowed_sql: str | None = None, params: Sequence[Any] = ()
    ) -> list[tuple[int, float]]:
        """(chunk id, bm25 score, higher is better) for an FTS5 MATCH expression."""
        where = ""
        if allowed_sql:
            where = (
                " AND rowid IN (SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE {allowed_sql})"
            )
        rows = self.db.execute(
            "SELECT rowid, -bm25(chunks_fts, 0.5, 1.0) AS score FROM chunks_fts "
            f"WHERE chunks_fts MATCH ?{where} ORDER BY bm25(chunks_fts, 0.5, 1.0) LIMIT ?",  # noqa: S608
            [match, *params, limit],
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def chunk_documents(self, chunk_ids: Sequence[int]) -> dict[int, str]:
        """chunk id -> document id."""
        out: dict[int, str] = {}
        for i in range(0, len(chunk_ids), 900):
            part = list(chunk_ids[i : i + 900])
            marks = ",".join("?" * len(part))
            rows = self.db.execute(f"SELECT id, doc_id FROM chunks WHERE id IN ({marks})", part)  # noqa: S608
            out.update((int(r[0]), r[1]) for r in rows)
        return out

    def metadata_fields(self) -> list[str]:
        """Every metadata key present in some document (the filterable fields)."""
        rows = self.db.execute(
            "SELECT DISTINCT j.key FROM documents d, json_each(d.metadata) j ORDER BY j.key"
        )
        return [r[0] for r in rows]

    def chunk_ids_where(self, sql: str, params: Sequence[Any]) -> list[int]:
        """Chunk ids whose document satisfies a filter (a WHERE over documents `d`)."""
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {sql}",  # noqa: S608
            list(params),
        )
        return [r[0] for r in rows]

    def copy_to(self, target: Path) -> Store:
        """A consistent copy of this database (SQLite backup API) opened for writing."""
        dest = sqlite3.connect(str(target))
        with dest:
            self.db.conn.backup(dest)
        dest.close()
        copy = Store(target)
        copy.db.enable_wal()
        return copy
