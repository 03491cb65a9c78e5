from __future__ import annotations

import base64
import errno
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.config import LoaderSettings, load_settings
from indexer.documents import SkipSummary, discover_files, read_documents, read_file, skip_kind
from indexer.errors import ConfigError, DocumentError
from tests.conftest import REPO, write_corpus

LOADER = LoaderSettings()


def test_text_and_markdown_titles(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"a.txt": "\n\nFirst line\nbody", "b.md": "# Heading\n\ntext"})
    (doc,) = read_file(tmp_path / "a.txt", LOADER)
    assert doc.title == "First line" and "body" in doc.text
    (md,) = read_file(tmp_path / "b.md", LOADER)
    assert md.title == "Heading"
    assert doc.id == str((tmp_path / "a.txt").resolve())


def test_html_drops_scripts_and_styles(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "p.html": "<html><head><title>T</title><style>.x{color:red}</style>"
            "<script>var tracking = 1;</script></head><body><p>Hello <b>world</b></p>"
            "<noscript>nojs</noscript></body></html>"
        },
    )
    (doc,) = read_file(tmp_path / "p.html", LOADER)
    assert doc.title == "T"
    assert "Hello" in doc.text and "world" in doc.text
    for dropped in ("tracking", "color", "nojs"):
        assert dropped not in doc.text


def test_records_jsonl_csv_json_with_metadata(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "r.jsonl": "\n".join(
                json.dumps(r)
                for r in [
                    {"_id": "d1", "title": "One", "text": "first", "metadata": {"year": 2020}},
                    {"id": "d2", "title": "Two", "text": "second", "lang": "en"},
                ]
            ),
            "r.csv": 'id,title,text,category\nc1,"A, title","some ""quoted"" text",news\n',
            "r.json": json.dumps([{"id": "j1", "text": "json body"}]),
        },
    )
    docs = read_file(tmp_path / "r.jsonl", LOADER)
    assert [d.id for d in docs] == ["d1", "d2"]
    assert docs[0].metadata == {"year": 2020} and docs[1].metadata == {"lang": "en"}
    assert docs[0].source.endswith("r.jsonl#d1")
    (csv_doc,) = read_file(tmp_path / "r.csv", LOADER)
    assert csv_doc.title == "A, title" and csv_doc.text == 'some "quoted" text'
    assert csv_doc.metadata == {"category": "news"}
    (json_doc,) = read_file(tmp_path / "r.json", LOADER)
    assert json_doc.id == "j1"


def test_configurable_record_fields(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"r.jsonl": json.dumps({"key": "k1", "headline": "H", "body_text": "B"})})
    loader = LoaderSettings(id_field="key", title_field="headline", text_field="body_text")
    (doc,) = read_file(tmp_path / "r.jsonl", loader)
    assert (doc.id, doc.title, doc.text) == ("k1", "H", "B")


def test_beir_corpus_indexes_as_is() -> None:
    corpus = REPO.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
    if not corpus.exists():
        pytest.skip("shared SciFact data not present")
    docs = read_file(corpus, LOADER)
    assert len(docs) == 5183
    assert docs[0].id == "4983" and docs[0].title.startswith("Microstructural")


def test_pdf_text_is_extracted() -> None:
    pdfs = sorted((REPO / "examples" / "corpus").rglob("*.pdf"))
    assert pdfs, "the sample corpus ships a PDF"
    (doc,) = read_file(pdfs[0], LOADER)
    assert "rainbow" in doc.text.lower()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bin.txt", b"\x00\x01\x02binary", "binary"),
        ("damaged.txt", "naïve café crème brûlée déjà vu".encode() + b"\xff" + "où".encode(), "UTF-8"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", "PDF"),
        ("bin.jsonl", b'{"id": 1, "text": "ok"}\x00\x00', "binary"),
        ("bin.csv", b"id,text\n1,\x00\x00", "binary"),
        ("bad.json", b'[{"id": 1, "text": "ok"}', "invalid JSON"),
        ("scalar.json", b"42", "top-level JSON is int"),
        ("notes.xyz", b"text", "unsupported"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason) as info:
        read_file(path, LOADER)
    assert name in str(info.value)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("héllo wörld".encode("utf-16"))
    assert read_file(path, LOADER)[0].text == "héllo wörld"


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 3_000_000, encoding="utf-8")
    with pytest.raises(DocumentError, match="max_file_mb"):
        read_file(path, LoaderSettings(max_file_mb=1))


def test_discovery_walks_recursively_with_globs(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "a.txt": "a",
            "sub/b.md": "b",
            "sub/deep/c.html": "<p>c</p>",
            "x.bin": b"\x00",
            ".git/objects/o.txt": "git",
            "skip/d.txt": "d",
        },
    )
    skipped: list[str] = []
    loader = LoaderSettings(exclude=("**/.git/**", "skip/**"))
    found = discover_files(tmp_path, loader, lambda p, why: skipped.append(p.name))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.txt", "sub/b.md", "sub/deep/c.html"]
    assert skipped == ["x.bin"]
    only_md = discover_files(tmp_path, LoaderSettings(include=("**/*.md",)), lambda p, why: None)
    assert [p.name for p in only_md] == ["b.md"]
    with pytest.raises(DocumentError, match="no such"):
        discover_files(tmp_path / "absent", loader, lambda p, why: None)


# -- bad records are skipped, the rest of the file is read ------------------------------------


def problems_of(path: Path, loader: LoaderSettings = LOADER) -> tuple[list[str], list[str]]:
    """(ids of the documents read, problem lines reported) for one file."""
    problems: list[str] = []
    ids = [doc.id for doc in read_documents(path, loader, problems.append)]
    return ids, problems


def assert_reported(problems: list[str], path: Path, expected: dict[int, str]) -> None:
    """One problem per bad record, each "<path>:<line>: <reason>" with the right line."""
    assert len(problems) == len(expected), problems
    for line, (number, reason) in zip(problems, expected.items(), strict=True):
        assert line.startswith(f"{path}:{number}: "), line
        assert re.search(reason, line), (reason, line)


def test_jsonl_bad_records_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"_id": "a", "text": "alpha"}),  # 1
        json.dumps({"_id": "b", "text": ""}),  # 2 empty text
        '{"_id": "c", "text": ',  # 3 not JSON
        "[1, 2]",  # 4 not an object
        json.dumps({"_id": "a", "text": "alpha again"}),  # 5 duplicate id
        "",  # 6 blank: ignored, still counted
        json.dumps({"_id": "d", "text": "delta"}),  # 7
        json.dumps({"_id": "e", "title": "no text at all"}),  # 8 missing text
        json.dumps({"_id": "f", "text": "   "}),  # 9 whitespace-only text
        json.dumps({"_id": "g", "text": "gamma"}),  # 10
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))  # a BOM on line 1
    ids, problems = problems_of(path)
    assert ids == ["a", "d", "g"]
    assert_reported(
        problems,
        path,
        {
            2: "empty 'text'",
            3: "not JSON",
            4: "not an object",
            5: "duplicate id 'a'",
            8: "no 'text' field",
            9: "empty 'text'",
        },
    )
    assert all(line.endswith("skipped") for line in problems)
    assert [d.id for d in read_file(path, LOADER)] == ids, "read_file keeps the good records too"


def test_jsonl_line_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    """A UTF-8 file with one damaged line: that line is reported, the rest read as UTF-8."""
    path = tmp_path / "damaged.jsonl"
    good = "".join(
        json.dumps({"_id": f"g{n}", "text": "crème brûlée à la carte"}, ensure_ascii=False) + "\n"
        for n in range(3)
    )
    path.write_bytes(good.encode() + b'{"_id": "b", "text": "caf\xe9"}\n' + good.replace("g", "h").encode())
    ids, problems = problems_of(path)
    assert ids == ["g0", "g1", "g2", "h0", "h1", "h2"]
    assert_reported(problems, path, {4: "not valid UTF-8"})


@pytest.mark.parametrize(
    ("encoding", "name", "text"),
    [
        ("gbk", "gbk.txt", "央行再次提高了利率，以抑制通货膨胀。冰川在数千年间雕刻出山谷。"),
        ("big5", "big5.txt", "央行再次提高了利率，以抑制通貨膨脹。冰川在數千年間雕刻出山谷。"),
        ("utf-16-le", "utf16.txt", "Glaciers carve valleys over thousands of years. 冰川雕刻山谷。"),
        (
            "latin-1",
            "latin1.txt",
            "Les glaciers creusent des vallées depuis des milliers d'années, été comme hiver.",
        ),
    ],
)
def test_text_in_other_encodings_is_detected_and_read(
    tmp_path: Path, encoding: str, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_bytes((text + "\n").encode(encoding) * 3)
    (doc,) = read_file(path, LOADER)
    assert doc.text.strip().startswith(text)


def test_a_jsonl_file_in_gbk_is_read_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "zh.jsonl"
    lines = [
        json.dumps(
            {"_id": f"z{n}", "text": f"第{n}条：央行再次提高了利率，以抑制通货膨胀。"}, ensure_ascii=False
        )
        for n in range(20)
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    ids, problems = problems_of(path)
    assert ids == [f"z{n}" for n in range(20)] and problems == []


def test_csv_and_json_bad_records_name_their_place(tmp_path: Path) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text('id,text\nc1,one\nc2,\n"c3","multi\nline"\nc1,dup\n', encoding="utf-8")
    ids, problems = problems_of(csv_path)
    assert ids == ["c1", "c3"]
    assert_reported(problems, csv_path, {3: "empty 'text'", 6: "duplicate id 'c1'"})
    json_path = tmp_path / "r.json"
    json_path.write_text(json.dumps([{"id": "j1", "text": "x"}, "oops", {"id": "j2"}]), encoding="utf-8")
    ids, problems = problems_of(json_path)
    assert ids == ["j1"]
    assert problems == [
        f"{json_path}: record 2: record is not an object (str), skipped",
        f"{json_path}: record 3: no 'text' field, skipped",
    ]


def test_record_ids_without_an_id_field_keep_their_numbers(tmp_path: Path) -> None:
    """The fallback id counts records, bad ones too, so a line going bad renames no other record."""
    path = tmp_path / "anon.jsonl"
    path.write_text('{"text": "one"}\n{broken\n\n{"text": "three"}\n', encoding="utf-8")
    source = str(path.resolve())
    assert problems_of(path)[0] == [f"{source}#1", f"{source}#3"]


def test_csv_with_a_10_mb_field_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big = "word " * 2_000_000
    path.write_text(f'id,text\nbig,"{big}"\nsmall,tiny\n', encoding="utf-8")
    docs = list(read_documents(path, LOADER, pytest.fail))
    assert [d.id for d in docs] == ["big", "small"]
    assert len(docs[0].text) == 10_000_000


def test_jsonl_is_streamed_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "large.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(20_000):
            out.write(json.dumps({"_id": f"d{n}", "text": f"document number {n} " * 5}) + "\n")
        out.write("{broken tail\n")
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read the whole file"))
    problems: list[str] = []
    documents = read_documents(path, LOADER, problems.append)
    assert iter(documents) is documents
    assert next(documents).id == "d0"
    assert problems == [], "the broken tail was parsed before it was needed"
    assert sum(1 for _ in documents) == 19_999
    assert_reported(problems, path, {20_001: "not JSON"})


class _FailingStream(io.BytesIO):
    """A file whose disk fails after the first line."""

    def __next__(self) -> bytes:
        if self.tell() > 0:
            raise OSError(errno.EIO, "Input/output error")
        return super().__next__()


def test_an_error_mid_file_surfaces_as_document_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "flaky.jsonl"
    data = b'{"_id": "a", "text": "one"}\n{"_id": "b", "text": "two"}\n'
    path.write_bytes(data)
    monkeypatch.setattr(Path, "open", lambda self, *args, **kwargs: _FailingStream(data))
    documents = read_documents(path, LOADER, pytest.fail)
    assert next(documents).id == "a"
    with pytest.raises(DocumentError, match=r"cannot read \(Input/output error\)") as info:
        next(documents)
    assert str(info.value).startswith(str(path))


def test_csv_with_bad_bytes_mid_file_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    rows = "".join(f"r{n},fine\n" for n in range(12_000)).encode("utf-8")  # past the sniffed head
    path.write_bytes(b"id,text\n" + rows + b"last,caf\xe9\n")
    documents = read_documents(path, LOADER, pytest.fail)
    assert next(documents).id == "r0"
    with pytest.raises(DocumentError, match="latin.csv: not valid UTF-8 text"):
        list(documents)


def test_empty_text_file_yields_nothing_and_says_so(tmp_path: Path) -> None:
    write_corpus(
        tmp_path, {"blank.md": "  \n\n ", "empty.txt": "", "bare.html": "<html><body> </body></html>"}
    )
    for name in ("blank.md", "empty.txt", "bare.html"):
        path = tmp_path / name
        assert problems_of(path) == ([], [f"{path}: empty document, skipped"])
        assert read_file(path, LOADER) == []


# -- file-level failures: DocumentError naming the file, nothing else -------------------------

# A one-page PDF encrypted with AES-256 (R6), user password "pw", made with pypdf + cryptography:
# without `cryptography` pypdf raises DependencyError opening it; with it, FileNotDecryptedError.
AES256_PDF = (
    "eNqNk81O3DAQx+95Cl/2WGJ7PP6QVkgUdqWqRax2Wy4VB3+MYSvYoBAq6Ev20DdoX6SThW5X0EOjJLLHM38nv/l7sjiZv1EH0Ex+/vr+"
    "o1FCii59aabTpl30XbnP1IupwapSlZp8SjZGdLnqbIL3yRlFiiKHlS3Zlej4pZKRWIGsBFLFWThsDg8b2pRRWe/t8PHxlkS7iJd017TH"
    "3f1mEKpp36/LnfgsDCcuxcVeKbwqPY5DvO4umycNMWov9wrMP/dq2iXddfd95gpe4fT2lMo6vu0eeFt5ILeP0+N9MUr3xB/2Uhv3tM8F"
    "sqiwTfuBNpfDldDI44UwOphgnQ66aefr64FZtqshbkrsS9OeiSlmIqmgJhuCK5xcY5QpJJOLz1gIA0YoEmqWMliMWTJeraQPykSZow5Y"
    "a7UhF0wRdNY+uggeDNlqrC78a5/ElHWzURqq0VSwIDgZlZPFZEJtnApBI2L0knvrAKNVGIorznB3k1Q2ajn206ZC2mNWLFHBJMVuwEpg"
    "eJfj+YiSf648j47uh6vZ1xFce9Lls1vajEmnoj2arc5hBwr0iHRswWq4mYsngXHS/52czcQ0O88QQgmQSmZU6JJCkpLQSpO0JfDFemYn"
    "ZdIoQ/S2KlsTueSr92EEMRt5Z0khQWWnpuiCcRq8VYqcTdq76KoHlY3MgbxxBWTJOXGiZcqaKbDMgvob9k2sPheFTrFCZhJalqAqnxMD"
    "EL0L+5Z/6Kk2ku0hd5ewiICiil1MsaG2K5tdTCl4HWNTvoxprV7FYL926OP6mvqtV1frbzQ6ddl1g4Ctqdt3m9oJ9Tw+4UMwRZ+NjaZq"
    "CIXxJTIpsXFqcM5XgHT4Pyl8eGab3D/eDgL/nJ67IfbDFoi3vplMZmfz5jfnXC51"
)


def _rc4_pdf() -> bytes:
    """RC4-128 encryption needs no crypto library: pypdf writes it natively."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    writer.encrypt("pw", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_encrypted_pdf_is_a_clear_document_error(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / f"secret-{algorithm}.pdf"
    path.write_bytes(zlib.decompress(base64.b64decode(AES256_PDF)) if algorithm == "AES-256" else _rc4_pdf())
    with pytest.raises(DocumentError, match="encrypted PDF, skipped") as info:
        list(read_documents(path, LOADER, pytest.fail))
    assert str(info.value).startswith(str(path))
    with pytest.raises(DocumentError, match="encrypted"):
        read_file(path, LOADER)


def test_pdf_library_surprises_become_document_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    (pdf,) = sorted((REPO / "examples" / "corpus").rglob("*.pdf"))[:1]

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("deep inside a parser")

    monkeypatch.setattr(pypdf, "PdfReader", explode)
    with pytest.raises(DocumentError, match="unreadable PDF.*ZeroDivisionError") as info:
        read_file(pdf, LOADER)
    assert str(info.value).startswith(str(pdf))

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(pypdf, "PdfReader", out_of_memory)
    with pytest.raises(MemoryError):
        read_file(pdf, LOADER)


def test_parser_surprises_in_records_become_document_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"_id": "a", "text": "one"}\n', encoding="utf-8")

    def explode(line: str) -> object:
        raise LookupError("codec trouble")

    monkeypatch.setattr(json, "loads", explode)
    with pytest.raises(DocumentError, match=r"cannot be read \(LookupError: codec trouble\)"):
        list(read_documents(path, LOADER, pytest.fail))

    def interrupted(line: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "loads", interrupted)
    with pytest.raises(KeyboardInterrupt):
        list(read_documents(path, LOADER, pytest.fail))


def test_file_deleted_after_listing_is_a_document_error(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"gone.txt": "soon deleted", "late.jsonl": '{"_id": "a", "text": "x"}'})
    (gone, late) = sorted(discover_files(tmp_path, LOADER, pytest.fail))
    gone.unlink()
    with pytest.raises(DocumentError, match="gone.txt: no longer exists"):
        read_documents(gone, LOADER, pytest.fail)
    documents = read_documents(late, LOADER, pytest.fail)  # checked, then deleted before reading
    late.unlink()
    with pytest.raises(DocumentError, match="late.jsonl: no longer exists"):
        next(documents)
    with pytest.raises(DocumentError, match="no longer exists"):
        read_file(gone, LOADER)


# -- discovery never crashes on odd entries ---------------------------------------------------


def test_discovery_reports_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"ok.txt": "fine"})
    raw = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9.txt")
    os.close(os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644))
    skipped: list[tuple[Path, str]] = []
    found = discover_files(tmp_path, LOADER, lambda p, why: skipped.append((p, why)))
    assert [p.name for p in found] == ["ok.txt"]
    ((path, why),) = skipped
    assert os.fsencode(path) == raw and "not valid UTF-8" in why and "rename" in why
    with pytest.raises(DocumentError, match=r"caf\\xe9.txt: file name is not valid UTF-8"):
        read_file(path, LOADER)


def test_discovery_reports_broken_links_and_loops(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"ok.txt": "fine", "sub/deep.md": "# deep"})
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)  # a folder cycle
    skipped: dict[str, str] = {}
    found = discover_files(tmp_path, LOADER, lambda p, why: skipped.setdefault(p.name, why))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["ok.txt", "sub/deep.md"]
    assert set(skipped) == {"dangling.txt", "loop.txt"}
    assert all("symbolic link" in why for why in skipped.values())
    with pytest.raises(DocumentError, match="loop.txt"):
        read_file(tmp_path / "loop.txt", LOADER)


def test_discovery_survives_files_and_folders_vanishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path, {"a.txt": "a", "b.txt": "b", "sub/c.txt": "c"})
    real_walk = os.walk

    def walk_while_deleting(*args: object, **kwargs: object) -> Iterator[tuple[str, list[str], list[str]]]:
        for entry in real_walk(*args, **kwargs):  # type: ignore[call-overload]
            (tmp_path / "b.txt").unlink(missing_ok=True)  # listed, then gone
            (tmp_path / "sub" / "c.txt").unlink(missing_ok=True)
            if (tmp_path / "sub").exists():
                (tmp_path / "sub").rmdir()  # listed as a folder, gone before it is walked
            yield entry

    monkeypatch.setattr(os, "walk", walk_while_deleting)
    assert [p.name for p in discover_files(tmp_path, LOADER, pytest.fail)] == ["a.txt"]


def test_discovery_does_not_walk_excluded_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_corpus(tmp_path, {"a.txt": "a", "node_modules/pkg/x.txt": "x", ".git/HEAD": "ref"})
    walked: list[str] = []
    real_walk = os.walk

    def recording_walk(*args: object, **kwargs: object) -> Iterator[tuple[str, list[str], list[str]]]:
        for entry in real_walk(*args, **kwargs):  # type: ignore[call-overload]
            walked.append(Path(entry[0]).name)
            yield entry

    monkeypatch.setattr(os, "walk", recording_walk)
    assert [p.name for p in discover_files(tmp_path, LOADER, pytest.fail)] == ["a.txt"]
    assert walked == [tmp_path.name]


def test_streamed_record_files_have_no_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "y" * 1000}) + "\n"
    path.write_text(line * 1200, encoding="utf-8")  # 1.2 MB, over a 1 MB limit
    assert len(read_file(path, LoaderSettings(max_file_mb=1))) == 1200


# -- markup becomes the text a reader sees (issue 15) ------------------------------------------

MARKDOWN = """---
title: "Release Notes: Version 2"
date: 2024-03-01
draft: false
tags: [news, release]
---

<!-- an editor's note nobody should find -->

Ignored Setext Heading
======================

Some **bold** and _slanted_ words, `inline code`, a [link text](https://example.com/page) and
an image ![badge alt](https://img.example/badge.svg) in one wrapped
paragraph.

* first item with *stars*
* second item

1. step one
2. step two

```python
print("kept as code")
```

> A quoted [reference][ref] line.

[ref]: https://example.com/ref
"""

MARKUP_LEFTOVERS = ("**", "`", "](", "[ref]", "<!--", "-->", "---", "===", "_slanted_", "*stars*", "![")


def test_markdown_front_matter_markup_and_structure(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"notes.md": MARKDOWN})
    (doc,) = read_file(tmp_path / "notes.md", LOADER)
    assert doc.title == "Release Notes: Version 2"
    assert doc.metadata == {"date": "2024-03-01", "draft": False}, "scalars only; title not repeated"
    for leftover in MARKUP_LEFTOVERS + ("editor's note", "badge alt", "https://", "title:"):
        assert leftover not in doc.text, leftover
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0] == "Ignored Setext Heading", "a heading is its text on its own line"
    assert paragraphs[1] == (
        "Some bold and slanted words, inline code, a link text and an image in one wrapped paragraph."
    ), "a wrapped paragraph is one line: a line break would end a sentence for the chunker"
    assert "first item with stars\nsecond item" in paragraphs
    assert "1. step one\n2. step two" in paragraphs
    assert 'print("kept as code")' in paragraphs
    assert "A quoted reference line." in paragraphs
    assert doc.id == str((tmp_path / "notes.md").resolve())


@pytest.mark.parametrize(
    ("source", "title"),
    [
        ("# ATX *Title* #\n\ntext", "ATX Title"),
        ("Setext `Title`\n=============\n\ntext", "Setext Title"),
        ("Second Level\n------------\n\ntext", "Second Level"),
        ("---\nlayout: page\n---\n\n## From [the](x) heading\n", "From the heading"),
        ("---\ntitle: broken: yaml: here\n---\n\ntext\n", "broken: yaml: here"),
        ("+++\ntitle = 'From TOML'\n+++\n\ntext\n", "From TOML"),
        ("<!-- c -->\n\n**First line** of text\nmore\n", "First line of text more"),
        ("---\n\nA rule first, then text.\n", "A rule first, then text."),
    ],
)
def test_markdown_titles(tmp_path: Path, source: str, title: str) -> None:
    write_corpus(tmp_path, {"t.markdown": source})
    (doc,) = read_file(tmp_path / "t.markdown", LOADER)
    assert doc.title == title
    assert "---" not in doc.text and "+++" not in doc.text and "layout" not in doc.text


def test_markdown_html_blocks_and_chinese_wrapping(tmp_path: Path) -> None:
    source = (
        '<div align="center">\n<!-- hidden -->\n<p>Centered <b>words</b></p>\n</div>\n\n'
        "第一行文字\n第二行文字\n\n| Name | Value |\n|------|-------|\n| a    | 1     |\n"
    )
    write_corpus(tmp_path, {"zh.md": source})
    (doc,) = read_file(tmp_path / "zh.md", LOADER)
    assert doc.text == "Centered words\n\n第一行文字第二行文字\n\nName | Value\na | 1"
    assert doc.title == "Centered words"


def test_markdown_myst_roles_directives_and_targets(tmp_path: Path) -> None:
    """Sphinx projects write MyST Markdown (pip's docs do): its roles and directives are markup too."""
    source = (
        "(pip-wheel)=\n\n# pip wheel\n\nSee {ref}`the guide <guide>`, {pep}`517` and {doc}`install`.\n\n"
        "```{note}\n:class: small\n\nA **note** with a [link](https://x.org).\n```\n\n"
        "```{versionadded} 21.0\nAdded `--foo`.\n```\n\n"
        "```{code-block} python\nprint(1)\n```\n\n"
        "```{toctree}\n:hidden:\n\nsecret-page\n```\n\n"
        "```{eval-rst}\n.. note:: From :ref:`reST <x>`.\n```\n"
    )
    write_corpus(tmp_path, {"wheel.md": source})
    (doc,) = read_file(tmp_path / "wheel.md", LOADER)
    assert doc.title == "pip wheel"
    assert doc.text == (
        "pip wheel\n\nSee the guide, PEP 517 and install.\n\nA note with a link.\n\n21.0\n\nAdded --foo."
        "\n\nprint(1)\n\nFrom reST."
    )


RST = """:orphan:
:tocdepth: 2

.. _pip wheel:

=========
pip wheel
=========

.. contents:: On this page
   :local:

Usage
=====

.. tab:: Unix/macOS

   .. code-block:: shell

      python -m pip wheel [options] <requirement specifier>

Description
-----------

Build archives for your requirements. See :ref:`the build interface <build-interface>`,
:doc:`installing`, :pep:`517` and the ``--no-deps`` option, *emphasis*, **strong**,
`Python <https://www.python.org>`_ and a footnote [#f1]_ |project|.

.. note::

   Wheels are built in a temporary folder.

   They are kept with :option:`--wheel-dir`.

.. This comment is
   not part of the page.

..
   Neither is this one.

.. toctree::
   :maxdepth: 1

   secret-toc-entry

Example::

    $ pip wheel --wheel-dir=/tmp/wheelhouse SomePackage

- a bullet with :func:`~pip._internal.main`
- another bullet

.. |project| replace:: the pip project
.. [#f1] The footnote text.
"""

RST_LEFTOVERS = (
    ":orphan:",
    "tocdepth",
    ".. ",
    ":ref:",
    ":doc:",
    ":pep:",
    ":option:",
    ":func:",
    "``",
    "`",
    "::",
    "_pip",
    "===",
    "---",
    "|project|",
    "[#f1]",
    "*emphasis*",
    "**",
    "comment",
    "Neither",
    "secret-toc",
    ":local:",
    "On this page",
    "<build-interface>",
    "https://www.python.org",
)


def test_rst_markup_is_stripped_and_bodies_kept(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"wheel.rst": RST})
    (doc,) = read_file(tmp_path / "wheel.rst", LOADER)
    assert doc.title == "pip wheel"
    for leftover in RST_LEFTOVERS:
        assert leftover not in doc.text, leftover
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[:3] == ["pip wheel", "Usage", "Unix/macOS"]
    assert "python -m pip wheel [options] <requirement specifier>" in paragraphs, "code is kept"
    assert (
        "Build archives for your requirements. See the build interface, installing, PEP 517 and the "
        "--no-deps option, emphasis, strong, Python and a footnote the pip project."
    ) in paragraphs
    assert "Wheels are built in a temporary folder." in paragraphs, "a note's body is text"
    assert "They are kept with --wheel-dir." in paragraphs
    assert "Example:" in paragraphs and "$ pip wheel --wheel-dir=/tmp/wheelhouse SomePackage" in paragraphs
    assert "a bullet with main\nanother bullet" in paragraphs
    assert "The footnote text." in paragraphs


@pytest.mark.parametrize(
    ("source", "title"),
    [
        (":orphan:\n\n.. _label:\n\nTitle\n=====\n\ntext\n", "Title"),
        ("####################\n  Inset ``Overline``\n####################\n\ntext\n", "Inset Overline"),
        (".. comment\n\nTilde\n~~~~~\n\nSub\n---\n", "Tilde"),
        ("Short\n^^^^\n", "Short"),  # shorter than its text but 4 long: still a title (docutils)
        ('Quote\n"""""\n\ntext\n', "Quote"),
        ("*Star* Title\n************\n", "Star Title"),
        (".. _a:\n.. _b:\n\nJust a paragraph\nwrapped.\n\n----\n\nMore.\n", "Just a paragraph wrapped."),
    ],
)
def test_rst_titles(tmp_path: Path, source: str, title: str) -> None:
    write_corpus(tmp_path, {"t.rst": source})
    (doc,) = read_file(tmp_path / "t.rst", LOADER)
    assert doc.title == title
    assert not re.search(r"^[=~^\"*#-]{4,}$", doc.text, re.M), "no adornment or transition left"


def test_rst_nesting_deeper_than_any_document_is_kept_as_it_is(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"art.rst": "\n\n".join(" " * depth + "- step" for depth in range(0, 3000, 2))})
    (doc,) = read_file(tmp_path / "art.rst", LOADER)
    assert doc.title == "step" and doc.text.count("step") == 1500


def test_rst_tables_and_field_lists(tmp_path: Path) -> None:
    source = (
        "Tables\n======\n\n:Author: Someone\n\n"
        "+-------+-------+\n| Name  | Value |\n+=======+=======+\n| ``a`` | 1     |\n+-------+-------+\n\n"
        "=====  =====\nKey    Meaning\n=====  =====\nx      *ex*\n=====  =====\n\n"
        "Body text.\n\n:param name: the *name*\n"
    )
    write_corpus(tmp_path, {"t.rst": source})
    (doc,) = read_file(tmp_path / "t.rst", LOADER)
    assert (
        doc.text
        == "Tables\n\nName | Value\na | 1\n\nKey | Meaning\nx | ex\n\nBody text.\n\nparam name: the name"
    )


def test_html_comments_are_dropped(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "c.html": "<!DOCTYPE html><html><body><!-- internal note --><p>Shown</p>"
            "<!--[if IE]>old<![endif]--></body></html>"
        },
    )
    (doc,) = read_file(tmp_path / "c.html", LOADER)
    assert doc.text == "Shown" and doc.title == "Shown"


def test_plain_text_is_unchanged(tmp_path: Path) -> None:
    content = "====\nNot *markup* here: `kept` **as** <!-- is --> [it](is)\n"
    write_corpus(tmp_path, {"plain.txt": content})
    (doc,) = read_file(tmp_path / "plain.txt", LOADER)
    assert doc.text == content
    assert doc.title == "Not *markup* here: `kept` **as** <!-- is --> [it](is)", "a rule is no title"


def test_every_sample_corpus_file_reads_with_a_real_title() -> None:
    files = discover_files(REPO / "examples" / "corpus", LOADER, pytest.fail)
    assert len(files) > 40
    for path in files:
        docs = read_file(path, LOADER, pytest.fail)
        assert docs, path
        for doc in docs:
            assert re.search(r"\w", doc.title), (path, doc.title)
            if path.suffix in (".md", ".html"):
                assert not re.search(r"\*\*|`|\]\(|<!--|^#", doc.text, re.M), path


# -- more files: no suffix, .gz, configured suffixes (issue 15) ---------------------------------


def test_files_without_a_suffix_are_sniffed(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "LICENSE": "MIT License\n\nPermission is hereby granted...\n",
            "COPYING": "\n   GNU GENERAL PUBLIC LICENSE\n",
            "README": "caf\u00e9 " * 3000,  # a character is cut at the 8 KB mark: still text
            "program": b"\x7fELF\x02\x01\x01\x00\x00\x00binary",
            "latin": "caf\u00e9".encode("latin-1"),
            ".env": "SECRET=1\n",
        },
    )
    skipped: dict[str, str] = {}
    found = discover_files(tmp_path, LOADER, lambda p, why: skipped.setdefault(p.name, why))
    assert [p.name for p in found] == ["COPYING", "LICENSE", "README"]
    assert skipped == {
        ".env": "unsupported file type '.env'",
        "latin": "looks binary (no suffix, and not UTF-8 text), skipped",
        "program": "looks binary (no suffix, and not UTF-8 text), skipped",
    }
    (license_doc,) = read_file(tmp_path / "LICENSE", LOADER)
    assert license_doc.title == "MIT License" and license_doc.text.startswith("MIT License")
    assert read_file(tmp_path / "COPYING", LOADER)[0].title == "GNU GENERAL PUBLIC LICENSE"
    with pytest.raises(DocumentError, match="program: looks binary"):
        read_file(tmp_path / "program", LOADER)
    off = LoaderSettings(sniff_extensionless=False)
    assert discover_files(tmp_path, off, lambda p, why: None) == []
    with pytest.raises(DocumentError, match=r"unsupported file type '\(none\)'"):
        read_file(tmp_path / "LICENSE", off)


def test_text_suffixes_are_configurable(tmp_path: Path) -> None:
    write_corpus(
        tmp_path, {"app.log": "started\nstopped\n", "setup.CFG": "[metadata]\nname = x\n", "a.md": "*x*"}
    )
    loader = LoaderSettings(text_suffixes=("LOG", ".cfg", "md"))
    assert loader.text_suffixes == (".log", ".cfg", ".md")
    assert [p.name for p in discover_files(tmp_path, loader, pytest.fail)] == ["a.md", "app.log", "setup.CFG"]
    assert read_file(tmp_path / "app.log", loader)[0].text == "started\nstopped\n"
    assert read_file(tmp_path / "setup.CFG", loader)[0].title == "[metadata]"
    assert read_file(tmp_path / "a.md", loader)[0].text == "*x*", (
        "a listed suffix wins over the built-in reader"
    )
    with pytest.raises(DocumentError, match="unsupported file type '.log'"):
        read_file(tmp_path / "app.log", LOADER)
    for bad in (".gz", "a b", "", ".tar.gz"):
        with pytest.raises(ValueError, match="text_suffixes"):
            LoaderSettings(text_suffixes=(bad,))
    config = tmp_path / "c.yaml"
    config.write_text("loader:\n  text_suffixes: [.Log]\n  sniff_extensionless: false\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.loader.text_suffixes == (".log",) and settings.loader.sniff_extensionless is False
    config.write_text("loader:\n  text_suffixes: [.gz]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="text_suffixes"):
        load_settings(config)


def _gzip(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


def test_gzip_files_are_read_by_their_inner_suffix(tmp_path: Path) -> None:
    _gzip(tmp_path / "notes.md.gz", b"---\ntitle: Zipped\n---\n\nSome **bold** text.\n")
    _gzip(tmp_path / "page.html.gz", b"<title>Page</title><p>Hi <!-- x --></p>")
    _gzip(tmp_path / "README.gz", b"Debian style readme\n")
    _gzip(tmp_path / "tool.gz", b"\x00\x01\x02")
    _gzip(tmp_path / "r.json.gz", json.dumps([{"id": "j1", "text": "in json"}]).encode())
    _gzip(tmp_path / "src.tar.gz", b"whatever")
    skipped: dict[str, str] = {}
    found = discover_files(tmp_path, LOADER, lambda p, why: skipped.setdefault(p.name, why))
    assert [p.name for p in found] == ["README.gz", "notes.md.gz", "page.html.gz", "r.json.gz"]
    assert skipped == {
        "src.tar.gz": "unsupported file type '.tar.gz'",
        "tool.gz": "looks binary (no suffix, and not UTF-8 text), skipped",
    }
    (md,) = read_file(tmp_path / "notes.md.gz", LOADER)
    assert (md.title, md.text) == ("Zipped", "Some bold text.")
    assert md.id == str((tmp_path / "notes.md.gz").resolve())
    assert read_file(tmp_path / "page.html.gz", LOADER)[0].text == "Hi"
    assert read_file(tmp_path / "README.gz", LOADER)[0].title == "Debian style readme"
    assert [d.id for d in read_file(tmp_path / "r.json.gz", LOADER)] == ["j1"]


def test_gzip_jsonl_is_streamed_and_csv_too(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"_id": f"d{n}", "text": f"record {n}"}) + "\n" for n in range(5000))
    path = _gzip(tmp_path / "data.jsonl.gz", (lines + "{broken tail\n").encode())
    problems: list[str] = []
    documents = read_documents(path, LoaderSettings(max_file_mb=0.01), problems.append)  # no size limit
    assert next(documents).id == "d0"
    assert problems == [], "the broken tail was parsed before it was needed"
    assert sum(1 for _ in documents) == 4999
    assert_reported(problems, path, {5001: "not JSON"})
    csv_path = _gzip(tmp_path / "rows.csv.gz", b"id,text\nc1,one\nc2,two\n")
    assert [d.id for d in read_file(csv_path, LOADER)] == ["c1", "c2"]


def test_gzip_size_limit_counts_decompressed_bytes(tmp_path: Path) -> None:
    path = _gzip(tmp_path / "big.txt.gz", b"x" * 3_000_000)
    assert path.stat().st_size < 100_000
    with pytest.raises(DocumentError, match=r"big.txt.gz: over loader.max_file_mb \(1 MB\) decompressed"):
        read_file(path, LoaderSettings(max_file_mb=1))
    assert len(read_file(path, LoaderSettings(max_file_mb=4))[0].text) == 3_000_000


_GZIPPED_LINES = gzip.compress("".join(f"line {n}\n" for n in range(5000)).encode())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("fake.md.gz", b"not gzip at all"),
        ("cut.md.gz", _GZIPPED_LINES[: len(_GZIPPED_LINES) // 2]),
        ("cut.jsonl.gz", gzip.compress(b"".join(b'{"text": "%d"}\n' % n for n in range(5000)))[:3000]),
    ],
)
def test_corrupt_gzip_is_a_document_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match="corrupt gzip file") as info:
        read_file(path, LOADER)
    assert str(info.value).startswith(str(path))


# -- one summary line for skipped files ----------------------------------------------------------


def test_skip_summary_line() -> None:
    summary = SkipSummary()
    assert summary.line() == "skipped 0 files" and not summary
    for n in range(5):
        summary.add(Path(f"img{n}.png"), "unsupported file type '.png'")
    summary.add(Path("a.zip"), "unsupported type")
    summary.add(Path("b.ZIP"), "unsupported file type '.zip'")
    summary.add(Path("tool"), "looks binary (no suffix, and not UTF-8 text), skipped")
    summary.add(Path("data.bin.txt"), "data.bin.txt: looks binary (NUL bytes), skipped")
    summary.add("binary/huge.txt", "binary/huge.txt: 300 MB is over loader.max_file_mb, skipped")
    summary.add("z.md.gz", "z.md.gz: over loader.max_file_mb (64 MB) decompressed, skipped")
    summary.add(Path("blob"), "binary")
    summary.add(Path("blob"), "binary")  # reported twice, counted once
    assert len(summary) == 12
    assert summary.line() == "skipped 12 files: 7 unsupported type (.png 5, .zip 2), 3 binary, 2 too large"
    assert summary.counts() == {"unsupported type": 7, "binary": 3, "too large": 2}
    assert summary.line(max_types=1) == (
        "skipped 12 files: 7 unsupported type (.png 5, other types 2), 3 binary, 2 too large"
    )


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("file name is not valid UTF-8, skipped; rename it", "bad file name"),
        ("x.txt: not valid UTF-8 text (invalid start byte at byte 3)", "not UTF-8"),
        ("broken symbolic link or symlink loop, skipped", "broken link"),
        ("x.pdf: encrypted PDF, skipped (FileNotDecryptedError: x)", "encrypted"),
        ("x.md: empty document, skipped", "empty"),
        ("x.json: invalid JSON (Expecting value at column 1)", "corrupt"),
        ("x.md.gz: corrupt gzip file (Not a gzipped file), skipped", "corrupt"),
        ("cannot list folder (Permission denied), skipped", "unreadable"),
        ("something new", "other"),
    ],
)
def test_skip_kinds(reason: str, kind: str) -> None:
    assert skip_kind(reason) == kind


def test_skip_summary_from_discovery_and_reading(tmp_path: Path) -> None:
    write_corpus(
        tmp_path,
        {
            "a.png": b"\x89PNG",
            "b.png": b"\x89PNG",
            "c.zip": b"PK",
            "tool": b"\x00\x01",
            "ok.txt": "fine",
            "big.txt": "x" * 2_000_000,
        },
    )
    summary = SkipSummary()
    loader = LoaderSettings(max_file_mb=1)
    files = discover_files(tmp_path, loader, summary.add)
    for path in files:
        try:
            read_file(path, loader)
        except DocumentError as exc:
            summary.add(path, str(exc))
    assert summary.line() == "skipped 5 files: 3 unsupported type (.png 2, .zip 1), 1 binary, 1 too large"


REAL_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Installing packages</title>
  <link rel="stylesheet" href="/_static/theme.css">
  <script>window.dataLayer = [];</script>
</head>
<body>
  <nav class="sidebar"><ul><li><a href="/">Home</a></li><li><a href="/guide/">Guide</a></li></ul></nav>
  <main>
    <h1>Installing packages</h1>
    <p>Use <code>pip install</code> to fetch a package from
       <a href="https://pypi.org/">the Python Package Index</a>; see the
       <em>requirements</em> section for <strong>pinned</strong> versions.</p>
    <p>A second paragraph<br>with a line break.</p>
    <pre>pip install requests
pip install "flask&gt;=3"</pre>
    <ul><li>Fast</li><li>Safe</li></ul>
  </main>
</body>
</html>
"""


def test_html_inline_tags_stay_in_their_line_and_blocks_break(tmp_path: Path) -> None:
    write_corpus(tmp_path, {"install.html": REAL_PAGE})
    (doc,) = read_file(tmp_path / "install.html", LOADER)
    assert doc.title == "Installing packages"
    paragraphs = doc.text.split("\n\n")
    assert (
        "Use pip install to fetch a package from the Python Package Index; see the requirements "
        "section for pinned versions."
    ) in paragraphs
    assert "A second paragraph\nwith a line break." in paragraphs
    assert 'pip install requests\npip install "flask>=3"' in doc.text  # <pre> keeps its lines
    assert "Home" in doc.text and "window.dataLayer" not in doc.text
    assert doc.text.count("Installing packages") == 1  # the <h1>; the <title> is the title only
