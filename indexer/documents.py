"""Readers per format -> Document(id, source, title, text, metadata).

A folder is walked recursively with include/exclude globs. One bad file or record never stops a run:
files that cannot be read (binary, undecodable, corrupt, encrypted, too large, gone) raise
DocumentError naming the file, and bad records inside a record file are reported through
`on_problem` and skipped while the rest of the file is read.

Record files are streamed (`read_documents` is lazy), so a large JSONL or CSV file is never held in
memory whole.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from indexer.config import LoaderSettings
from indexer.errors import DocumentError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".jsonl", ".json", ".csv"}
STREAMED_SUFFIXES = {".jsonl", ".csv"}  # read record by record: no size limit applies
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | {".pdf"}

CSV_FIELD_LIMIT = 2**31 - 1  # csv's default (128 KiB) refuses long texts; this fits a C long everywhere
_SNIFF_BYTES = 4096  # how much of a file decides "binary?" and "UTF-16?"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

logger = logging.getLogger(__name__)


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
Problem = Callable[[str], None]  # one human line: "<path>:<line>: <reason>" or "<path>: <reason>"
_Record = tuple[str, int, Any]  # (where, for messages; ordinal, for fallback ids; the parsed value)


def printable_path(path: Path | str) -> str:
    """The path as text that can always be printed or stored: undecodable name bytes become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def has_utf8_name(path: Path) -> bool:
    """False for names carrying surrogate escapes (not UTF-8 on disk): SQLite and JSON refuse them."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- decoding ------------------------------------------------------------------------------------


def _looks_binary(head: bytes) -> bool:
    return b"\x00" in head[:_SNIFF_BYTES] and not head.startswith(_UTF16_BOMS)


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM), then UTF-16 by BOM; anything else is refused, not guessed."""
    name = printable_path(path)
    if _looks_binary(data):
        raise DocumentError(f"{name}: looks binary (NUL bytes), skipped")
    try:
        if data.startswith(_UTF16_BOMS):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _sniff_encoding(stream: IO[bytes], path: Path) -> str:
    """Peek at the start of an open binary stream (then rewind): refuse binary, spot UTF-16."""
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if _looks_binary(head):
        raise DocumentError(f"{printable_path(path)}: looks binary (NUL bytes), skipped")
    return "utf-16" if head.startswith(_UTF16_BOMS) else "utf-8-sig"


# -- single-document formats ---------------------------------------------------------------------


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


def _pdf_is_encrypted(reader: Any) -> bool:
    try:
        return bool(reader is not None and reader.is_encrypted)
    except Exception:  # a trailer too broken to answer: not known to be encrypted
        return False


def _pdf_failure(path: Path, reader: Any, exc: Exception) -> DocumentError:
    """Name the failure: pypdf reports encryption as DependencyError (AES without `cryptography`),
    FileNotDecryptedError (a user password) or something else mid-parse; the reader knows best."""
    from pypdf.errors import DependencyError

    name = printable_path(path)
    crypto_missing = isinstance(exc, DependencyError) and ("AES" in str(exc) or "crypt" in str(exc))
    if crypto_missing or _pdf_is_encrypted(reader):
        return DocumentError(f"{name}: encrypted PDF, skipped ({type(exc).__name__}: {exc})")
    return DocumentError(f"{name}: unreadable PDF ({type(exc).__name__}: {exc})")


def read_pdf_file(path: Path, source: str) -> Document:
    from pypdf import PdfReader

    reader = None
    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (OSError, MemoryError):
        raise  # the file itself, not its content: read_documents words these
    except Exception as exc:  # pypdf raises far more than PyPdfError on hostile input
        raise _pdf_failure(path, reader, exc) from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise DocumentError(f"{printable_path(path)}: PDF has no extractable text (scanned?)")
    return Document(
        id=source, source=source, title=str(meta_title) or _title_from_text(text, path.stem), text=text
    )


def _one_document(
    path: Path, source: str, parse: Callable[[Path, str], Document], on_problem: Problem
) -> Iterator[Document]:
    doc = parse(path, source)
    if not doc.text.strip():
        on_problem(f"{printable_path(path)}: empty document, skipped")
        return
    yield doc


# -- record formats ------------------------------------------------------------------------------


class _BadRecord(ValueError):
    """A record that cannot become a Document; the message is the reason."""


def _record_document(record: dict[str, Any], ordinal: int, source: str, settings: LoaderSettings) -> Document:
    def first(*keys: str) -> Any:
        for key in keys:
            if record.get(key) not in (None, ""):
                return record[key]
        return None

    raw_id = first(settings.id_field, "_id", "id")
    text = first(settings.text_field, "text", "body", "content")
    if text is None and settings.text_field not in record:
        raise _BadRecord(f"no '{settings.text_field}' field")
    if text is None or not str(text).strip():
        raise _BadRecord(f"empty '{settings.text_field}'")
    title = first(settings.title_field, "title") or ""
    used = {settings.id_field, settings.text_field, settings.title_field, "_id", "id", "text", "title"}
    metadata: dict[str, Any] = {}
    nested = record.get("metadata")
    if isinstance(nested, dict):
        metadata.update(nested)
    for key, value in record.items():
        if key not in used and key != "metadata":
            metadata[key] = value
    doc_id = str(raw_id) if raw_id is not None else f"{source}#{ordinal}"
    return Document(
        id=doc_id, source=f"{source}#{doc_id}", title=str(title), text=str(text), metadata=metadata
    )


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _utf8_lines(stream: IO[bytes], name: str, on_problem: Problem) -> Iterator[tuple[int, str | None]]:
    """Lines decoded one at a time; an undecodable line is reported and comes back as None."""
    for number, raw in enumerate(stream, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            on_problem(f"{name}:{number}: not valid UTF-8 ({exc.reason} at byte {exc.start}), skipped")
            yield number, None
        else:
            yield number, line


def _jsonl_records(path: Path, on_problem: Problem) -> Iterator[_Record]:
    """One parsed line at a time; a line that is not JSON is reported and skipped."""
    name = printable_path(path)
    with path.open("rb") as stream:
        encoding = _sniff_encoding(stream, path)
        lines: Iterable[tuple[int, str | None]]
        if encoding == "utf-16":  # rare; decode_text accepts it, so the record reader does too
            lines = enumerate(io.TextIOWrapper(stream, encoding=encoding), start=1)
        else:
            lines = _utf8_lines(stream, name, on_problem)
        ordinal = 0  # non-blank lines, bad ones included, so a line going bad renumbers nothing
        for number, line in lines:
            if line is not None and not line.strip():
                continue
            ordinal += 1
            if line is None:
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError) as exc:
                on_problem(f"{name}:{number}: not JSON ({_json_reason(exc)}), skipped")
                continue
            yield f"{name}:{number}", ordinal, value


def _csv_records(path: Path) -> Iterator[_Record]:
    """Rows through csv.DictReader over a text stream; `where` is the row's last physical line."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    name = printable_path(path)
    with path.open("rb") as raw:
        encoding = _sniff_encoding(raw, path)
        with io.TextIOWrapper(raw, encoding=encoding, newline="") as stream:
            reader = csv.DictReader(stream, restkey="_extra")  # surplus cells kept, never a None key
            for ordinal, row in enumerate(reader, start=1):
                yield f"{name}:{reader.line_num}", ordinal, row


def _json_records(path: Path) -> Iterator[_Record]:
    """A .json file is one JSON value (a list of records or one record): it cannot be streamed."""
    name = printable_path(path)
    try:
        loaded = json.loads(decode_text(path.read_bytes(), path))
    except (ValueError, RecursionError) as exc:
        raise DocumentError(f"{name}: invalid JSON ({_json_reason(exc)})") from None
    if not isinstance(loaded, list | dict):
        kind = type(loaded).__name__
        raise DocumentError(f"{name}: top-level JSON is {kind}, not an object or a list of objects")
    records = loaded if isinstance(loaded, list) else [loaded]
    for ordinal, value in enumerate(records, start=1):
        yield f"{name}: record {ordinal}", ordinal, value


def _records_to_documents(
    records: Iterable[_Record], source: str, settings: LoaderSettings, on_problem: Problem
) -> Iterator[Document]:
    """Documents from parsed records; a record that is not an object, has no text, or repeats an
    id seen earlier in the file is reported and skipped."""
    seen: set[str] = set()
    for where, ordinal, value in records:
        if not isinstance(value, dict):
            on_problem(f"{where}: record is not an object ({type(value).__name__}), skipped")
            continue
        try:
            doc = _record_document(value, ordinal, source, settings)
        except _BadRecord as exc:
            on_problem(f"{where}: {exc}, skipped")
            continue
        if doc.id in seen:
            on_problem(f"{where}: duplicate id {doc.id!r}, skipped")
            continue
        seen.add(doc.id)
        yield doc


def _raw_records(path: Path, on_problem: Problem) -> Iterator[_Record]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_records(path)
    if suffix == ".json":
        return _json_records(path)
    return _jsonl_records(path, on_problem)


def iter_records(
    path: Path, source: str, settings: LoaderSettings, on_problem: Problem | None = None
) -> Iterator[Document]:
    """JSONL, JSON (a list of objects) or CSV: one Document per good record."""
    problem = on_problem or _log_problem
    return _records_to_documents(_raw_records(path, problem), source, settings, problem)


# -- one file ------------------------------------------------------------------------------------


def _log_problem(line: str) -> None:
    logger.warning(line)


def _guarded(path: Path, documents: Iterator[Document]) -> Iterator[Document]:
    """Turn whatever escapes a reader, even after the first document, into DocumentError."""
    name = printable_path(path)
    try:
        yield from documents
    except DocumentError:
        raise
    except FileNotFoundError:
        raise DocumentError(f"{name}: no longer exists, skipped") from None
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:  # a text stream (CSV, UTF-16) met bad bytes mid-file
        encoding = "UTF-16" if "16" in exc.encoding else "UTF-8"
        raise DocumentError(f"{name}: not valid {encoding} text ({exc.reason})") from None
    except csv.Error as exc:
        raise DocumentError(f"{name}: invalid CSV ({exc})") from None
    except MemoryError:
        raise
    except Exception as exc:  # a parser bug or hostile input must cost one file, not the run
        raise DocumentError(f"{name}: cannot be read ({type(exc).__name__}: {exc})") from exc


def _checked_source(path: Path, settings: LoaderSettings) -> str:
    """What can be refused before reading a byte: name, type, existence, size. Returns the source."""
    name = printable_path(path)
    if not has_utf8_name(path):
        raise DocumentError(f"{name}: file name is not valid UTF-8, skipped; rename it")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{name}: unsupported file type '{suffix}', skipped")
    try:
        size = path.stat().st_size
        source = str(path.resolve())
    except FileNotFoundError:
        raise DocumentError(f"{name}: no longer exists, skipped") from None
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except RuntimeError as exc:  # Python 3.11 resolve() on a symlink loop
        raise DocumentError(f"{name}: cannot resolve ({exc})") from None
    if size > settings.max_file_mb * 1024 * 1024 and suffix not in STREAMED_SUFFIXES:
        raise DocumentError(f"{name}: {size / 1e6:.0f} MB is over loader.max_file_mb, skipped")
    return source


def read_documents(path: Path, settings: LoaderSettings, on_problem: Problem) -> Iterator[Document]:
    """Lazily yield the documents of one file.

    The cheap checks (file name, type, existence, size) run at the call and raise DocumentError
    there; the content is read only as the iterator is consumed:

    - JSONL is streamed line by line and CSV row by row (csv.DictReader over a text stream, fields
      of any size), so memory stays flat however large the file. `.json` is one JSON value and is
      parsed whole: that format cannot be streamed.
    - A bad record (a line that is not JSON, a record that is not an object, one with a missing or
      empty text, one whose id repeats an earlier id of the file) is passed to `on_problem` as
      "<path>:<line>: <reason>" (for .json "<path>: record <n>: <reason>") and skipped.
    - Text, Markdown, HTML and PDF files yield one Document; one with no text yields nothing and
      reports "<path>: empty document, skipped".
    - A file-level failure (unreadable, too large, unsupported, binary, not UTF-8, corrupt or
      encrypted PDF, gone since it was listed) raises DocumentError whose message starts with the
      path, also when it happens after documents were already yielded. Nothing else escapes for
      a bad file, except KeyboardInterrupt and MemoryError.
    """
    source = _checked_source(path, settings)
    suffix = path.suffix.lower()
    if suffix in RECORD_SUFFIXES:
        documents = iter_records(path, source, settings, on_problem)
    elif suffix in HTML_SUFFIXES:
        documents = _one_document(path, source, read_html_file, on_problem)
    elif suffix == ".pdf":
        documents = _one_document(path, source, read_pdf_file, on_problem)
    else:
        documents = _one_document(path, source, read_text_file, on_problem)
    return _guarded(path, documents)


def read_file(path: Path, settings: LoaderSettings, on_problem: Problem | None = None) -> list[Document]:
    """All documents of one file as a list. Raises DocumentError for a file-level problem; skipped
    records and empty documents go to `on_problem`, or are logged as warnings without one."""
    return list(read_documents(path, settings, on_problem or _log_problem))


# -- discovery -----------------------------------------------------------------------------------


def _matches(relative: str, patterns: tuple[str, ...]) -> bool:
    # "**/" also matches at the top level, as users expect from gitignore-style globs.
    return any(
        fnmatch.fnmatch(relative, p) or (p.startswith("**/") and fnmatch.fnmatch(relative, p[3:]))
        for p in patterns
    )


def _excluded_folder(relative: str, patterns: tuple[str, ...]) -> bool:
    """A folder every file of which an "x/**" exclude matches: not worth walking (.git, .venv)."""
    return _matches(relative + "/", tuple(p for p in patterns if p.endswith("/**")))


_VANISHED = ""  # a falsy reason: gone since it was listed, so nothing to index and nothing to report


def _skip_reason(path: Path) -> str | None:
    """Why a listed path cannot be indexed (_VANISHED if it is gone), or None for a file to read."""
    if not has_utf8_name(path):
        return "file name is not valid UTF-8, skipped; rename it"
    try:
        if path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                return f"unsupported file type '{path.suffix or '(none)'}'"
            return None
        if path.is_symlink():
            return "broken symbolic link or symlink loop, skipped"
        if os.path.lexists(path):
            return "not a regular file, skipped"
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc}), skipped"
    return _VANISHED


def discover_files(root: Path, settings: LoaderSettings, on_skip: SkipHandler) -> list[Path]:
    """Files under `root` (or `root` itself) that the loaders read, filtered by the globs.

    Paths that cannot be indexed (unsupported type, broken symlink, non-UTF-8 name, unlistable
    folder) go to `on_skip`; files that vanish during the walk are left out silently."""
    if root.is_file():
        reason = _skip_reason(root)
        if reason:
            on_skip(root, reason)
        return [] if reason is not None else [root]
    if not root.is_dir():
        raise DocumentError(f"{printable_path(root)}: no such file or folder")

    def walk_error(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):
            on_skip(Path(exc.filename or root), f"cannot list folder ({exc.strerror or exc}), skipped")

    found = []
    for folder, subfolders, names in os.walk(root, onerror=walk_error):
        base = Path(folder)
        relative_base = base.relative_to(root)
        subfolders[:] = sorted(
            d for d in subfolders if not _excluded_folder((relative_base / d).as_posix(), settings.exclude)
        )
        for name in sorted(names):
            path = base / name
            relative = (relative_base / name).as_posix()
            if not _matches(relative, settings.include) or _matches(relative, settings.exclude):
                continue
            reason = _skip_reason(path)
            if reason:
                on_skip(path, reason)
            elif reason is None:
                found.append(path)
    return sorted(found)
