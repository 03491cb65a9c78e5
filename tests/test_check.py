"""`semsearch check` passes a healthy index and names each kind of damage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.check import check_index
from indexer.embedders import HashingEmbedder
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from tests.test_segments import write_records


@pytest.fixture
def grown(make_settings, tmp_path: Path) -> Path:
    """An index of three segments with tombstones: the shape checks must cover."""
    settings = make_settings(index__flat_max_vectors=50)  # the 100-vector segment gets an HNSW
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 100)
    Indexer(settings, HashingEmbedder()).index([corpus])
    write_records(corpus / "b.jsonl", 200, 20)
    (corpus / "a.jsonl").write_text("\n".join((corpus / "a.jsonl").read_text().splitlines()[5:]) + "\n")
    Indexer(settings, HashingEmbedder()).index([corpus])
    return Path(settings.index_dir)


def test_a_healthy_index_passes(grown: Path) -> None:
    report = check_index(grown)
    assert report.ok, report.problems
    assert any("tombstoned" in line and "hnsw" in line for line in report.checked)


def _first_segment(index_dir: Path) -> Path:
    layout = IndexLayout(index_dir)
    return layout.segments / layout.current().segments[0].id


def _catalog(index_dir: Path) -> sqlite3.Connection:
    layout = IndexLayout(index_dir)
    return sqlite3.connect(layout.catalog_path(layout.current()), isolation_level=None)


def _lose_vectors(index_dir: Path) -> None:
    (_first_segment(index_dir) / "vectors.npy").unlink()


def _wrong_count(index_dir: Path) -> None:
    layout = IndexLayout(index_dir)
    path = layout.manifests / layout.current().name
    data = json.loads(path.read_text())
    data["documents"] += 1
    path.write_text(json.dumps(data))


def _truncate_postings(index_dir: Path) -> None:
    path = _first_segment(index_dir) / "body_len.npy"
    np.save(path, np.load(path)[:-3])


def _scramble_postings(index_dir: Path) -> None:
    path = _first_segment(index_dir) / "offsets.npy"
    offsets = np.load(path)
    offsets[1] = offsets[-1] + 5
    np.save(path, offsets)


def _unnormalised(index_dir: Path) -> None:
    path = _first_segment(index_dir) / "vectors.npy"
    vectors = np.load(path)
    np.save(path, vectors * 2)


def _orphan_chunks(index_dir: Path) -> None:
    _catalog(index_dir).execute(
        "UPDATE documents SET deleted_gen = 1 "
        "WHERE key IN (SELECT key FROM documents ORDER BY key DESC LIMIT 2)"
    )


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_lose_vectors, "cannot read its files"),
        (_wrong_count, "the manifest says"),
        (_truncate_postings, "postings cover"),
        (_scramble_postings, "keyword postings are malformed"),
        (_unnormalised, "not unit length"),
        (_orphan_chunks, "vectors belong to no chunk"),
        (lambda d: _flip_byte(_first_segment(d) / "vectors.npy"), "vectors.npy does not match its checksum"),
        (lambda d: _flip_byte(_hnsw_segment(d) / "ann.faiss"), "ann.faiss does not match its checksum"),
    ],
)
def test_damage_is_named(grown: Path, damage: Callable[[Path], None], named: str) -> None:
    damage(grown)
    report = check_index(grown)
    assert not report.ok and any(named in problem for problem in report.problems), report.problems


def test_cli_check_exit_code(grown: Path) -> None:
    from tests.test_cli import semsearch

    assert "all checks passed" in semsearch("--index-dir", str(grown), "check").stdout
    _truncate_postings(grown)
    proc = semsearch("--index-dir", str(grown), "check", check=False)
    assert proc.returncode == 1 and "PROBLEM" in proc.stdout


def _flip_byte(path: Path, offset: int = -9) -> None:
    """One bit flipped near the end: the file still parses, only its checksum can tell."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _hnsw_segment(index_dir: Path) -> Path:
    layout = IndexLayout(index_dir)
    info = next(s for s in layout.current().segments if s.kind != "flat")
    return layout.segments / info.id


def _search_ids(settings, query: str, mode: str) -> list[str]:
    from search.service import SearchService

    service = SearchService.open(settings, HashingEmbedder())
    try:
        return [hit.doc_id for hit in service.search_text(query, k=5, mode=mode).hits]
    finally:
        service.close()


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (_hnsw_segment(d) / "ann.faiss").write_bytes(b"not an index"),
        lambda d: (_hnsw_segment(d) / "ann.faiss").unlink(),
        _truncate_postings,
        _scramble_postings,
        lambda d: (_first_segment(d) / "terms.npy").unlink(),
        lambda d: (_first_segment(d) / "checksums.json").unlink(),
    ],
)
def test_repair_rebuilds_derived_files_and_search_answers_as_before(
    make_settings, grown: Path, damage: Callable[[Path], None]
) -> None:
    from indexer.repair import repair_index

    settings = make_settings(index__flat_max_vectors=50)
    before = {mode: _search_ids(settings, "w42 note 42", mode) for mode in ("semantic", "keyword")}
    generation = IndexLayout(grown).current().generation
    damage(grown)
    assert not check_index(grown).ok
    report = repair_index(settings)
    assert report.repaired and report.after.ok, report.after.problems
    assert IndexLayout(grown).current().generation > generation  # published, never edited in place
    after = {mode: _search_ids(settings, "w42 note 42", mode) for mode in ("semantic", "keyword")}
    assert after["keyword"] == before["keyword"]
    assert (
        after["semantic"][:3] == before["semantic"][:3]
    )  # a rebuilt HNSW graph may order the tail differently


def test_repair_refuses_damage_to_stored_vectors_and_writes_nothing(make_settings, grown: Path) -> None:
    from indexer.errors import SemsearchError
    from indexer.repair import repair_index

    settings = make_settings(index__flat_max_vectors=50)
    _flip_byte(_first_segment(grown) / "vectors.npy")
    current = IndexLayout(grown).current_name()
    with pytest.raises(SemsearchError, match="cannot repair without re-embedding.*rebuild"):
        repair_index(settings)
    assert IndexLayout(grown).current_name() == current


def test_cli_repair(grown: Path) -> None:
    from tests.test_cli import semsearch

    _scramble_postings(grown)
    out = semsearch("--index-dir", str(grown), "--model", "hashing-384", "check", "--repair").stdout
    assert "REPAIRED" in out and "all checks passed" in out
