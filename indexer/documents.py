"""Readers per format -> Document(id, source, title, text, metadata).

A folder is walked recursively with include/exclude globs. One bad file or record never stops a run:
files that cannot be read (binary, undecodable, corrupt, encrypted, too large, gone) raise
DocumentError naming the file, and bad records inside a record file are reported through
`on_problem` and skipped while the rest of the file is read.

Record files are streamed (`read_documents` is lazy), so a large JSONL or CSV file is never held in
memory whole.

The format follows the suffix: Markdown and reStructuredText are rendered to the plain text a
reader sees (indexer/markup.py), so titles and snippets carry no markup. Real folders also hold
`LICENSE`, `README` and `notes.md.gz`: a file without a suffix is read as text when its start is
UTF-8 text (loader.sniff_extensionless), a `.gz` file is read through gzip with its inner suffix
deciding the format, and loader.text_suffixes names more suffixes to read as plain text.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import logging
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from indexer.config import LoaderSettings
from indexer.errors import DocumentError
from indexer.markup import Rendered, drop_html_noise, markdown_to_text, rst_to_text, soup_text, title_line

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
RST_SUFFIXES = {".rst"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".jsonl", ".json", ".csv"}
STREAMED_SUFFIXES = {".jsonl", ".csv"}  # read record by record: no size limit applies
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | {".pdf"}
COMPRESSED_SUFFIXES = {".gz"}  # a wrapper: the suffix inside (notes.md.gz -> .md) picks the reader
NO_SUFFIX = "(none)"  # how a file without a suffix (LICENSE) is named in messages

CSV_FIELD_LIMIT = 2**31 - 1  # csv's default (128 KiB) refuses long texts; this fits a C long everywhere
_SNIFF_BYTES = 4096  # how much of a file decides "binary?" and "UTF-16?"
_SNIFF_TEXT_BYTES = 8192  # how much of a file without a suffix decides "text?"
_DETECT_BYTES = 65536  # how much of a file that is not UTF-8 decides its encoding
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


def detect_encoding(sample: bytes) -> str | None:
    """The encoding of text that is neither UTF-8 nor UTF-16 with a BOM: GBK/GB18030, Big5,
    Shift JIS, UTF-16 without a BOM, legacy single-byte sets (charset-normalizer, which checks
    that the decoded text reads as language, not noise). None: no encoding fits (binary)."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:_DETECT_BYTES]).best()
    return None if best is None else best.encoding


def mostly_utf8(sample: bytes) -> bool:
    """UTF-8, perhaps damaged: it decodes, or at least as many of its multi-byte characters
    decode as there are bad bytes (single-byte encodings almost never form valid UTF-8
    sequences). Such text is refused (in a record file, reported line by line) rather than
    read as mojibake in a guessed encoding; ASCII with stray high bytes (café in Latin-1)
    goes to detection."""
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    decoded = sum(1 for ch in text if ord(ch) > 127) - bad
    return bad == 0 or bad <= decoded


def _legacy_or_binary(data: bytes, path: Path, reason: str) -> str:
    """Text in a detected encoding, decoded strictly; else a DocumentError saying why."""
    name = printable_path(path)
    if b"\x00" not in data[:_SNIFF_BYTES] and mostly_utf8(data[:_DETECT_BYTES]):
        raise DocumentError(f"{name}: {reason}")
    encoding = detect_encoding(data)
    has_nul = b"\x00" in data[:_SNIFF_BYTES]
    if encoding is None or (has_nul and not encoding.startswith(("utf_16", "utf_32"))):
        raise DocumentError(f"{name}: looks binary (NUL bytes), skipped" if has_nul else f"{name}: {reason}")
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise DocumentError(f"{name}: {reason}; as {encoding} it does not decode either") from None


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 by BOM, else the encoding detected from the bytes
    (GBK, Big5, UTF-16 without a BOM...); binary data is refused."""
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{printable_path(path)}: not valid UTF-16 text ({exc.reason})") from None
    if not _looks_binary(data):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        reason = "looks binary (NUL bytes), skipped"
    return _legacy_or_binary(data, path, reason)


def _sniff_encoding(stream: IO[bytes], path: Path) -> str:
    """Peek at the start of an open binary stream (then rewind): refuse binary, spot UTF-16
    and legacy encodings (a record file in GBK is read as GBK, line by line)."""
    head = stream.read(_DETECT_BYTES)
    stream.seek(0)
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if not _looks_binary(head) and mostly_utf8(head):
        return "utf-8-sig"  # bad lines, if any, are reported one by one
    encoding = detect_encoding(head)
    if encoding is None or encoding in ("utf_8", "ascii"):
        if _looks_binary(head):
            raise DocumentError(f"{printable_path(path)}: looks binary (NUL bytes), skipped")
        return "utf-8-sig"  # mostly UTF-8: the bad lines are reported one by one
    if _looks_binary(head) and not encoding.startswith(("utf_16", "utf_32")):
        raise DocumentError(f"{printable_path(path)}: looks binary (NUL bytes), skipped")
    return encoding


def _head_is_text(head: bytes, whole: bool) -> bool:
    """The start of a file without a suffix: UTF-16 with a BOM, or UTF-8 without NUL bytes (a
    character cut at the end of the sample is fine, unless the sample is the whole file)."""
    encoding = "utf-16" if head.startswith(_UTF16_BOMS) else "utf-8"
    if encoding == "utf-8" and b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
    except UnicodeDecodeError:
        return False
    return True


# -- what a file is ------------------------------------------------------------------------------


def _suffix(name: str) -> str:
    """The lower-case suffix, "" only for a name without a dot. A dot file is its own suffix
    (".env", ".gitignore"): else it would pass for a suffix-less text file and be indexed, and dot
    files are configuration and secrets (.env, .netrc), not documents."""
    if name.startswith(".") and "." not in name[1:]:
        return name.lower()
    return Path(name).suffix.lower()


@dataclass(frozen=True)
class _Kind:
    """A file's type by name: the suffix that picks its reader ("" for none) and whether gzip
    wraps it (notes.md.gz: ".md", compressed)."""

    inner: str
    compressed: bool

    @property
    def label(self) -> str:
        """The type as messages and summaries name it: ".png", ".tar.gz", "(none)"."""
        if self.compressed:
            return self.inner + ".gz"
        return self.inner or NO_SUFFIX


def _kind_of(path: Path) -> _Kind:
    outer = _suffix(path.name)
    if outer in COMPRESSED_SUFFIXES:
        return _Kind(_suffix(path.name[: -len(outer)]), True)
    return _Kind(outer, False)


def _format_of(kind: _Kind, settings: LoaderSettings) -> str | None:
    """The reader for a type ("text", "markdown", "rst", "html", "pdf", "jsonl", "json", "csv"), or
    None when no reader takes it. loader.text_suffixes wins over the built-in readers, so a user
    can also index, say, Markdown source as it is."""
    suffix = kind.inner
    if suffix in settings.text_suffixes:
        return "text"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in RST_SUFFIXES:
        return "rst"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in RECORD_SUFFIXES or suffix == ".pdf":
        return suffix[1:]
    if not suffix and settings.sniff_extensionless:
        return "text"
    return None


@dataclass(frozen=True)
class _Target:
    """A file that passed the cheap checks: where it is, its document id, how to read it."""

    path: Path
    source: str
    fmt: str
    kind: _Kind

    @property
    def fallback_title(self) -> str:
        name = self.path.name[: -len(".gz")] if self.kind.compressed else self.path.name
        return Path(name).stem or name


def _open_binary(path: Path, compressed: bool) -> IO[bytes]:
    """The file's bytes as a stream, decompressed on the fly for .gz (never whole in memory)."""
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _sniff_failure(path: Path, compressed: bool) -> str | None:
    """Why a file without a suffix is not read as text (None: it is text). Raises OSError."""
    try:
        with _open_binary(path, compressed) as stream:
            head = stream.read(_SNIFF_TEXT_BYTES)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        return f"corrupt gzip file ({exc}), skipped"
    whole = len(head) < _SNIFF_TEXT_BYTES
    return None if _head_is_text(head, whole) else "looks binary (no suffix, and not UTF-8 text), skipped"


def _read_whole(target: _Target, settings: LoaderSettings) -> bytes:
    """All bytes of a file read whole; a .gz is decompressed only up to loader.max_file_mb, so a
    small archive of a huge (or hostile) file cannot fill the memory."""
    if not target.kind.compressed:
        return target.path.read_bytes()
    limit = int(settings.max_file_mb * 1024 * 1024)
    with gzip.open(target.path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        over = f"over loader.max_file_mb ({settings.max_file_mb:g} MB) decompressed"
        raise DocumentError(f"{printable_path(target.path)}: {over}, skipped")
    return data


# -- single-document formats ---------------------------------------------------------------------

_Parse = Callable[[bytes, _Target], Document]


def _title_from_text(text: str, fallback: str) -> str:
    """The first line with a letter or digit, "#" marks removed: a line of "====" is no title."""
    return title_line(text, strip_hashes=True) or fallback


def _text_document(data: bytes, target: _Target) -> Document:
    text = decode_text(data, target.path)
    title = _title_from_text(text, target.fallback_title)
    return Document(id=target.source, source=target.source, title=title, text=text)


def _markup_reader(render: Callable[[str], Rendered]) -> _Parse:
    """A reader for a markup language: the rendered text, its title, front-matter metadata."""

    def parse(data: bytes, target: _Target) -> Document:
        rendered = render(decode_text(data, target.path))
        return Document(
            id=target.source,
            source=target.source,
            title=rendered.title or target.fallback_title,
            text=rendered.text,
            metadata=rendered.metadata,
        )

    return parse


def _html_document(data: bytes, target: _Target) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data, target.path), "html.parser")
    drop_html_noise(soup)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    text = soup_text(soup.body or soup)
    title = title or _title_from_text(text, target.fallback_title)
    return Document(id=target.source, source=target.source, title=title, text=text)


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


def _pdf_document(data: bytes, target: _Target) -> Document:
    from pypdf import PdfReader

    path, source = target.path, target.source
    reader = None
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (OSError, MemoryError):
        raise  # the file itself, not its content: read_documents words these
    except Exception as exc:  # pypdf raises far more than PyPdfError on hostile input
        raise _pdf_failure(path, reader, exc) from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise DocumentError(f"{printable_path(path)}: PDF has no extractable text (scanned?)")
    title = str(meta_title) or _title_from_text(text, target.fallback_title)
    return Document(id=source, source=source, title=title, text=text)


_PARSERS: dict[str, _Parse] = {
    "text": _text_document,
    "markdown": _markup_reader(markdown_to_text),
    "rst": _markup_reader(rst_to_text),
    "html": _html_document,
    "pdf": _pdf_document,
}


def _one_document(target: _Target, settings: LoaderSettings, on_problem: Problem) -> Iterator[Document]:
    if not target.kind.inner:  # no suffix: refuse a binary before reading it whole
        failure = _sniff_failure(target.path, target.kind.compressed)
        if failure:
            raise DocumentError(f"{printable_path(target.path)}: {failure}")
    doc = _PARSERS[target.fmt](_read_whole(target, settings), target)
    if not doc.text.strip():
        on_problem(f"{printable_path(target.path)}: empty document, skipped")
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


def _jsonl_records(path: Path, compressed: bool, on_problem: Problem) -> Iterator[_Record]:
    """One parsed line at a time; a line that is not JSON is reported and skipped."""
    name = printable_path(path)
    with _open_binary(path, compressed) as stream:
        encoding = _sniff_encoding(stream, path)
        lines: Iterable[tuple[int, str | None]]
        if encoding != "utf-8-sig":  # UTF-16 or a detected legacy encoding (GBK, Big5...)
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


def _csv_records(path: Path, compressed: bool) -> Iterator[_Record]:
    """Rows through csv.DictReader over a text stream; `where` is the row's last physical line."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    name = printable_path(path)
    with _open_binary(path, compressed) as raw:
        encoding = _sniff_encoding(raw, path)
        with io.TextIOWrapper(raw, encoding=encoding, newline="") as stream:
            reader = csv.DictReader(stream, restkey="_extra")  # surplus cells kept, never a None key
            for ordinal, row in enumerate(reader, start=1):
                yield f"{name}:{reader.line_num}", ordinal, row


def _json_records(target: _Target, settings: LoaderSettings) -> Iterator[_Record]:
    """A .json file is one JSON value (a list of records or one record): it cannot be streamed."""
    path = target.path
    name = printable_path(path)
    try:
        loaded = json.loads(decode_text(_read_whole(target, settings), path))
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


def _raw_records(target: _Target, settings: LoaderSettings, on_problem: Problem) -> Iterator[_Record]:
    if target.fmt == "csv":
        return _csv_records(target.path, target.kind.compressed)
    if target.fmt == "json":
        return _json_records(target, settings)
    return _jsonl_records(target.path, target.kind.compressed, on_problem)


def iter_records(
    path: Path, source: str, settings: LoaderSettings, on_problem: Problem | None = None
) -> Iterator[Document]:
    """JSONL, JSON (a list of objects) or CSV, gzip-compressed or not: one Document per good record."""
    problem = on_problem or _log_problem
    kind = _kind_of(path)
    fmt = kind.inner[1:] if kind.inner in RECORD_SUFFIXES else "jsonl"
    records = _raw_records(_Target(path, source, fmt, kind), settings, problem)
    return _records_to_documents(records, source, settings, problem)


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
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # EOFError: a truncated .gz
        raise DocumentError(f"{name}: corrupt gzip file ({exc}), skipped") from None
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


def _checked_source(path: Path, settings: LoaderSettings) -> _Target:
    """What can be refused before reading a byte: name, type, existence, size (on disk; a .gz read
    whole is held to max_file_mb as it is decompressed)."""
    name = printable_path(path)
    if not has_utf8_name(path):
        raise DocumentError(f"{name}: file name is not valid UTF-8, skipped; rename it")
    kind = _kind_of(path)
    fmt = _format_of(kind, settings)
    if fmt is None:
        raise DocumentError(f"{name}: unsupported file type '{kind.label}', skipped")
    try:
        size = path.stat().st_size
        source = str(path.resolve())
    except FileNotFoundError:
        raise DocumentError(f"{name}: no longer exists, skipped") from None
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except RuntimeError as exc:  # Python 3.11 resolve() on a symlink loop
        raise DocumentError(f"{name}: cannot resolve ({exc})") from None
    streamed = kind.inner in STREAMED_SUFFIXES and fmt != "text"
    if size > settings.max_file_mb * 1024 * 1024 and not streamed and not kind.compressed:
        raise DocumentError(f"{name}: {size / 1e6:.0f} MB is over loader.max_file_mb, skipped")
    return _Target(path, source, fmt, kind)


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
    - Text, Markdown, reStructuredText, HTML and PDF files yield one Document; one with no text
      yields nothing and reports "<path>: empty document, skipped". Markdown and reST are rendered
      to plain text (front matter, roles, directives, comments gone; titles from headings).
    - A file without a suffix is read as text if its first 8 KB are (else: binary), a `.gz` file
      through gzip with the format of its inner suffix, a suffix in loader.text_suffixes as text.
    - A file-level failure (unreadable, too large, unsupported, binary, not UTF-8, corrupt or
      encrypted PDF, gone since it was listed) raises DocumentError whose message starts with the
      path, also when it happens after documents were already yielded. Nothing else escapes for
      a bad file, except KeyboardInterrupt and MemoryError.
    """
    target = _checked_source(path, settings)
    if target.fmt in _PARSERS:
        documents = _one_document(target, settings, on_problem)
    else:
        records = _raw_records(target, settings, on_problem)
        documents = _records_to_documents(records, target.source, settings, on_problem)
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


def _type_skip_reason(path: Path, settings: LoaderSettings) -> str | None:
    """Why a file's type keeps it out (no reader, or no suffix and not text), or None."""
    kind = _kind_of(path)
    if _format_of(kind, settings) is None:
        return f"unsupported file type '{kind.label}'"
    return _sniff_failure(path, kind.compressed) if not kind.inner else None


def _skip_reason(path: Path, settings: LoaderSettings) -> str | None:
    """Why a listed path cannot be indexed (_VANISHED if it is gone), or None for a file to read."""
    if not has_utf8_name(path):
        return "file name is not valid UTF-8, skipped; rename it"
    try:
        if path.is_file():
            return _type_skip_reason(path, settings)
        if path.is_symlink():
            return "broken symbolic link or symlink loop, skipped"
        if os.path.lexists(path):
            return "not a regular file, skipped"
    except FileNotFoundError:  # gone between the listing and the sniff
        return _VANISHED
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc}), skipped"
    return _VANISHED


def discover_files(root: Path, settings: LoaderSettings, on_skip: SkipHandler) -> list[Path]:
    """Files under `root` (or `root` itself) that the loaders read, filtered by the globs.

    Paths that cannot be indexed (unsupported type, binary file without a suffix, broken symlink,
    non-UTF-8 name, unlistable folder) go to `on_skip`; files that vanish during the walk are left
    out silently. Pass `SkipSummary().add` as `on_skip` to report them in one line."""
    if root.is_file():
        reason = _skip_reason(root, settings)
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
            reason = _skip_reason(path, settings)
            if reason:
                on_skip(path, reason)
            elif reason is None:
                found.append(path)
    return sorted(found)


# -- one line for all skipped files --------------------------------------------------------------

UNSUPPORTED = "unsupported type"
# (kind, words of the reasons above that mean it): the first match wins, so the narrow come first.
_SKIP_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bad file name", ("file name is not valid UTF-8",)),
    (UNSUPPORTED, ("unsupported file type",)),
    ("binary", ("binary",)),
    ("too large", ("max_file_mb",)),
    ("not UTF-8", ("not valid UTF-8", "not valid UTF-16")),
    ("encrypted", ("encrypted",)),
    ("empty", ("empty document", "no extractable text")),
    ("broken link", ("symbolic link",)),
    ("gone", ("no longer exists",)),
    ("corrupt", ("corrupt", "invalid JSON", "invalid CSV", "unreadable PDF", "top-level JSON")),
    ("not a file", ("not a regular file",)),
    ("unreadable", ("cannot read", "cannot be read", "cannot list folder", "cannot resolve")),
)
SKIP_KINDS = tuple(kind for kind, _ in _SKIP_KINDS) + ("other",)


def skip_kind(reason: str) -> str:
    """The kind of a skip reason (an `on_skip` reason or a DocumentError message), one of
    SKIP_KINDS; a kind passes through as it is."""
    if reason in SKIP_KINDS:
        return reason
    for kind, words in _SKIP_KINDS:
        if any(word in reason for word in words):
            return kind
    return "other"


def _counted(counts: Counter[str], limit: int | None = None) -> list[tuple[str, int]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked if limit is None else ranked[:limit]


class SkipSummary:
    """Skipped files counted by kind, so a run on a real folder ends with one line instead of a
    hundred: "skipped 12 files: 7 unsupported type (.png 5, .zip 2), 3 binary, 2 too large".

    `add` fits `discover_files`' `on_skip` and also takes a DocumentError's message:

        summary = SkipSummary()
        files = discover_files(root, settings, summary.add)
        ...  # except DocumentError as exc: summary.add(path, str(exc))
        if summary:
            print(summary.line())

    A path added twice counts once, with its latest reason.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._types: dict[str, str] = {}  # unsupported files only: their type label

    def add(self, path: Path | str, reason: str) -> None:
        key = printable_path(path)
        kind = skip_kind(reason.removeprefix(f"{key}: "))  # the path itself may say "binary"
        self._kinds[key] = kind
        if kind == UNSUPPORTED:
            self._types[key] = _kind_of(Path(path)).label
        else:
            self._types.pop(key, None)

    def __len__(self) -> int:
        return len(self._kinds)

    def counts(self) -> dict[str, int]:
        """Files per kind, most first."""
        return dict(_counted(Counter(self._kinds.values())))

    def types(self) -> dict[str, int]:
        """Unsupported files per type (".png", "(none)"), most first."""
        return dict(_counted(Counter(self._types.values())))

    def line(self, max_types: int = 5) -> str:
        """One line for people; at most `max_types` unsupported types are named, the rest summed."""
        total = len(self)
        head = f"skipped {total} file{'' if total == 1 else 's'}"
        parts = []
        for kind, count in self.counts().items():
            detail = self._types_detail(max_types) if kind == UNSUPPORTED else ""
            parts.append(f"{count} {kind}{detail}")
        return f"{head}: {', '.join(parts)}" if parts else head

    def _types_detail(self, max_types: int) -> str:
        ranked = _counted(Counter(self._types.values()))
        named = [f"{label} {count}" for label, count in ranked[:max_types]]
        rest = sum(count for _, count in ranked[max_types:])
        if rest:
            named.append(f"other types {rest}")
        return f" ({', '.join(named)})"
