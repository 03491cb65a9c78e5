"""Readers per format -> Document(id, source, title, text, metadata).

A folder is walked recursively with include/exclude globs. Files that cannot be read (binary,
undecodable, corrupt, too large) are reported through `on_skip` and the walk goes on.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.config import LoaderSettings
from indexer.errors import DocumentError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".jsonl", ".json", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | {".pdf"}


@dataclass(frozen=True)
class Document:
    """One searchable unit: a file, or one record of a JSONL/CSV file."""

    id: str
    source: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.title, self.text, self.metadata], sort_keys=True, default=str)
        return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


SkipHandler = Callable[[Path, str], None]


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM), then UTF-16 by BOM; anything else is refused, not guessed."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(f"{path}: looks binary (NUL bytes), skipped")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _title_from_text(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def read_text_file(path: Path, source: str) -> Document:
    text = decode_text(path.read_bytes(), path)
    return Document(id=source, source=source, title=_title_from_text(text, path.stem), text=text)


def read_html_file(path: Path, source: str) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(path.read_bytes(), path), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    body = soup.body or soup
    text = re.sub(r"\n\s*\n+", "\n\n", body.get_text("\n")).strip()
    text = re.sub(r"[ \t]+", " ", text)
    return Document(id=source, source=source, title=title or _title_from_text(text, path.stem), text=text)


def read_pdf_file(path: Path, source: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"{path}: unreadable PDF ({exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise DocumentError(f"{path}: PDF has no extractable text (scanned?)")
    return Document(
        id=source, source=source, title=str(meta_title) or _title_from_text(text, path.stem), text=text
    )


def _record_document(
    record: dict[str, Any], position: int, path: Path, source: str, settings: LoaderSettings
) -> Document:
    def first(*keys: str) -> Any:
        for key in keys:
            if record.get(key) not in (None, ""):
                return record[key]
        return None

    raw_id = first(settings.id_field, "_id", "id")
    text = first(settings.text_field, "text", "body", "content")
    if text is None:
        raise DocumentError(f"{path}: record {position + 1} has no '{settings.text_field}' field")
    title = first(settings.title_field, "title") or ""
    used = {settings.id_field, settings.text_field, settings.title_field, "_id", "id", "text", "title"}
    metadata: dict[str, Any] = {}
    nested = record.get("metadata")
    if isinstance(nested, dict):
        metadata.update(nested)
    for key, value in record.items():
        if key not in used and key != "metadata":
            metadata[key] = value
    doc_id = str(raw_id) if raw_id is not None else f"{source}#{position + 1}"
    return Document(
        id=doc_id, source=f"{source}#{doc_id}", title=str(title), text=str(text), metadata=metadata
    )


def iter_records(path: Path, source: str, settings: LoaderSettings) -> Iterator[Document]:
    """JSONL, JSON (a list of objects) or CSV: one Document per record."""
    text = decode_text(path.read_bytes(), path)
    suffix = path.suffix.lower()
    records: list[Any]
    if suffix == ".csv":
        records = list(csv.DictReader(text.splitlines()))
    elif suffix == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{path}: invalid JSON ({exc})") from None
        records = loaded if isinstance(loaded, list) else [loaded]
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DocumentError(f"{path}: line {number} is not JSON ({exc.msg})") from None
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise DocumentError(f"{path}: record {position + 1} is not an object")
        yield _record_document(record, position, path, source, settings)


def read_file(path: Path, settings: LoaderSettings) -> list[Document]:
    """All documents in one file. Raises DocumentError for anything unreadable."""
    source = str(path.resolve())
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
        if size > settings.max_file_mb * 1024 * 1024:
            raise DocumentError(f"{path}: {size / 1e6:.0f} MB is over loader.max_file_mb, skipped")
        if suffix in RECORD_SUFFIXES:
            return list(iter_records(path, source, settings))
        if suffix in HTML_SUFFIXES:
            return [read_html_file(path, source)]
        if suffix == ".pdf":
            return [read_pdf_file(path, source)]
        if suffix in TEXT_SUFFIXES:
            return [read_text_file(path, source)]
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise DocumentError(f"{path}: unsupported file type '{suffix}', skipped")


def _matches(relative: str, patterns: tuple[str, ...]) -> bool:
    # "**/" also matches at the top level, as users expect from gitignore-style globs.
    return any(
        fnmatch.fnmatch(relative, p) or (p.startswith("**/") and fnmatch.fnmatch(relative, p[3:]))
        for p in patterns
    )


def discover_files(root: Path, settings: LoaderSettings, on_skip: SkipHandler) -> list[Path]:
    """Files under `root` (or `root` itself) that the loaders read, filtered by the globs."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DocumentError(f"{root}: no such file or folder")
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if not _matches(relative, settings.include) or _matches(relative, settings.exclude):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            on_skip(path, f"unsupported file type '{path.suffix or '(none)'}'")
            continue
        found.append(path)
    return found
