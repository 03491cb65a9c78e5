"""Milvus Lite as the vector store: every operation, and the errors a person can act on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install '.[milvus]')")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed (pip install '.[milvus]')")

from indexer.config import load_settings  # noqa: E402
from indexer.embedders import HashingEmbedder  # noqa: E402
from indexer.errors import ConfigError, IndexNotFound  # noqa: E402
from indexer.maintenance import compact_index  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402
from indexer.snapshot import IndexSnapshot  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.milvus_checks import exercise_store, milvus_count, recall, write_records  # noqa: E402


def test_every_operation_on_milvus_lite(tmp_path: Path) -> None:
    result = exercise_store(tmp_path, "milvus.db", HashingEmbedder(dim=64), n_docs=600)
    assert result["recall_at_10"] >= 0.9
    assert result["filtered_all_allowed"] and result["filtered_hits"] == 10
    assert result["filtered_recall_at_10"] >= 0.9
    assert result["count"] == result["milvus_count"] == 600
    assert result["searcher_filtered_hits"] == 10
    assert result["deleted_gone"] and result["count_after_delete"] == result["milvus_after_delete"] == 599
    assert result["incremental"]["updated"] == 1 and result["changed_found"]
    assert result["count_after_update"] == result["milvus_after_update"] == 601
    assert result["rebuild_new_collection"] and result["alias_target"] == ["semsearch"]
    assert result["old_reader_recall"] >= 0.9 and result["new_recall"] >= 0.9  # no downtime
    assert "Milvus Lite HNSW" in result["stats_index_type"]
    assert result["new_collection"] in result["collections"] and len(result["collections"]) == 2


def test_a_merge_writes_nothing_to_milvus_and_loses_nothing(tmp_path: Path) -> None:
    settings = load_settings(None, {"index_dir": str(tmp_path / "index"), "index.vector_store": "milvus.db"})
    embedder = HashingEmbedder(dim=64)
    for n in (50, 100, 150):  # three runs, 50 new records each: three segments
        Indexer(settings, embedder).index([write_records(tmp_path / "docs" / "r.jsonl", n)])
    compact_index(settings)
    index = IndexSnapshot.open(settings.index_dir, settings.index)
    try:
        assert len(index.manifest.segments) == 1
        assert index.vectors.count() == milvus_count(index) == 150
        queries = embedder.embed_queries(["gene tumour", "ocean carbon", "market bank"])
        exact = index.vectors.rebuilt_as("flat").search(queries, 5).ids
        assert recall(index.vectors.search(queries, 5).ids, exact) >= 0.9
    finally:
        index.close()


def test_a_second_process_on_a_lite_file_gets_one_clear_line(tmp_path: Path) -> None:
    settings = load_settings(None, {"index_dir": str(tmp_path / "index"), "index.vector_store": "milvus.db"})
    Indexer(settings, HashingEmbedder()).index([write_records(tmp_path / "docs" / "r.jsonl", 20)])
    index = IndexSnapshot.open(settings.index_dir, settings.index)  # this process holds the file
    try:
        config = tmp_path / "config.yaml"
        config.write_text(f"index_dir: {settings.index_dir}\nindex:\n  vector_store: milvus.db\n", "utf-8")
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "semsearch", "--config", str(config), "stats"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert run.returncode == 1
        assert "another process has it open" in run.stderr and "Traceback" not in run.stderr
        assert time.perf_counter() - started < 100
    finally:
        index.close()


def test_an_index_built_on_faiss_opened_on_milvus_says_rebuild(tmp_path: Path) -> None:
    faiss_settings = load_settings(None, {"index_dir": str(tmp_path / "index")})
    Indexer(faiss_settings, HashingEmbedder()).index([write_records(tmp_path / "docs" / "r.jsonl", 10)])
    milvus = load_settings(None, {"index_dir": str(tmp_path / "index"), "index.vector_store": "m.db"})
    with pytest.raises(IndexNotFound, match="semsearch rebuild"):
        IndexSnapshot.open(milvus.index_dir, milvus.index)


@pytest.mark.parametrize("store", ["foo", "milvus://nohost", "milvus://h:1/bad-name"])
def test_bad_store_uris_fail_at_load(store: str, tmp_path: Path) -> None:
    if store.endswith("bad-name"):  # a valid URI whose collection name Milvus would refuse
        from indexer.milvus_index import VectorStoreError, target_for

        with pytest.raises(VectorStoreError, match="collection name"):
            target_for(store, tmp_path)
        return
    with pytest.raises(ConfigError, match="vector_store"):
        load_settings(None, {"index.vector_store": store})


def test_an_index_run_moves_a_faiss_index_onto_milvus(tmp_path: Path) -> None:
    """Switching stores needs no re-embedding: `index` with nothing new fills the collection."""
    corpus = write_records(tmp_path / "docs" / "r.jsonl", 40)
    Indexer(load_settings(None, {"index_dir": str(tmp_path / "index")}), HashingEmbedder()).index([corpus])
    milvus = load_settings(None, {"index_dir": str(tmp_path / "index"), "index.vector_store": "m.db"})
    report = Indexer(milvus, HashingEmbedder()).index([corpus])
    assert report.chunks_embedded == 0 and report.unchanged == 40
    index = IndexSnapshot.open(milvus.index_dir, milvus.index)
    try:
        assert milvus_count(index) == index.vectors.count() == 40
        assert "Milvus Lite" in index.vectors.describe()
    finally:
        index.close()
