from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.config import LoaderSettings
from indexer.documents import discover_files, read_file
from indexer.errors import DocumentError
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
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "UTF-8"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", "PDF"),
        ("bad.jsonl", b'{"id": 1, "text": "ok"}\n{not json', "line 2"),
        ("notext.jsonl", b'{"id": 1, "body_missing": "x"}', "no 'text'"),
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
