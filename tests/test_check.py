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
