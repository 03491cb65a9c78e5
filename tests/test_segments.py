"""The growing index: segments, tombstones, merging, resumable streaming, snapshots."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.embedders import HashingEmbedder
from indexer.errors import ChunkingChanged, NotFound
from indexer.layout import IndexLayout
from indexer.maintenance import delete_documents
from indexer.manifest import SegmentInfo
from indexer.merge_policy import plan_full_compaction, plan_merges
from indexer.pipeline import Indexer
from indexer.snapshot import IndexSnapshot
from indexer.store import visible
from indexer.writer import embed_buffer_chunks
from search.service import SearchService
from tests.conftest import REPO

WORDS = "river mountain glacier forest desert ocean valley canyon meadow island volcano lagoon".split()


class CountingEmbedder(HashingEmbedder):
    """The hashing fake, counting the chunks it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        return super().embed_documents(texts, progress)


def write_records(path: Path, start: int, count: int, tag: str = "") -> Path:
    """JSONL records with distinct, overlapping vocabularies (ranking tests mean something)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for i in range(start, start + count):
            words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(6)] + [f"w{i}", tag]
            record = {"_id": f"d{i}", "title": f"note {i}", "text": " ".join(words), "n": i}
            handle.write(json.dumps(record) + "\n")
    return path


def snapshot_state(index_dir: Path) -> dict[str, tuple[str, list[str], bytes]]:
    """doc id -> (content hash, chunk texts, vector bytes): what must not depend on history."""
    index = IndexSnapshot.open(index_dir)
    try:
        rows = index.store.execute(
            "SELECT d.id, d.content_hash, c.id, c.text FROM documents d JOIN chunks c ON c.doc_key = d.key "
            f"WHERE {visible(index.generation)} ORDER BY d.id, c.ordinal"
        ).fetchall()
        out: dict[str, tuple[str, list[str], bytes]] = {}
        for doc_id, digest, chunk_id, text in rows:
            vector = index.vectors.vectors(np.array([chunk_id])).round(6).tobytes()
            _, texts, vectors = out.get(doc_id, (digest, [], b""))
            out[doc_id] = (digest, [*texts, text], vectors + vector)
        assert len(out) == index.manifest.documents == index.store.count_documents(index.generation)
        assert index.vectors.count() == index.manifest.chunks
        return out
    finally:
        index.close()


def rankings(settings, embedder, queries: Sequence[str], mode: str) -> list[list[str]]:
    service = SearchService.open(settings, embedder)
    try:
        return [[h.doc_id for h in service.search_text(q, k=10, mode=mode).hits] for q in queries]
    finally:
        service.close()


QUERIES = ["river glacier", "desert canyon w17", "ocean island lagoon", "volcano meadow forest"]


def test_updates_add_segments_and_tombstones_not_copies(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    embedder = CountingEmbedder()
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 300)
    Indexer(settings, embedder).index([corpus])
    layout = IndexLayout(settings.index_dir)
    first = layout.current()
    (segment,) = first.segments

    write_records(corpus / "b.jsonl", 300, 5)
    embedder.embedded = 0
    report = Indexer(settings, embedder).index([corpus])
    second = layout.current()
    assert report.added == 5 and embedder.embedded == 5, "only the new file was read and embedded"
    assert second.catalog == first.catalog
    assert [s.id for s in second.segments] == [segment.id, second.segments[1].id]
    assert second.segments[0] == segment, "the first segment is untouched"

    lines = (corpus / "a.jsonl").read_text().splitlines()
    (corpus / "a.jsonl").write_text("\n".join(lines[:-3]) + "\n")  # three records deleted
    report = Indexer(settings, embedder).index([corpus])
    third = layout.current()
    assert report.removed == 3 and third.documents == 302
    assert third.segments[0].deleted == 3 and third.segments[0].deletes.startswith("deletes-")
    held = IndexSnapshot.open(settings.index_dir)
    hits = held.vectors.search(HashingEmbedder().embed_queries(["w299"]), 400)
    stored = held.store.chunk_documents(hits.ids[0][hits.ids[0] >= 0].tolist(), held.generation)
    assert "d299" not in stored.values() and len(stored) == 302 - 0
    held.close()


def test_incremental_history_equals_a_rebuild(make_settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    # keep_versions 0: deleted versions are purged at once, so BM25 statistics match a rebuild's
    # (with older generations kept, their rows count in document frequencies until purged).
    incremental = make_settings(index_dir=str(tmp_path / "inc"), index__keep_versions=0)
    embedder = HashingEmbedder()
    write_records(corpus / "a.jsonl", 0, 120)
    Indexer(incremental, embedder).index([corpus])
    for step in range(4):  # additions, an edit, a deletion: one new segment each
        write_records(corpus / f"add{step}.jsonl", 200 + 10 * step, 10, tag=f"step{step}")
        Indexer(incremental, embedder).index([corpus])
    edited = (corpus / "a.jsonl").read_text().replace('"d5"', '"d5x"')
    (corpus / "a.jsonl").write_text(edited)
    (corpus / "add1.jsonl").unlink()
    Indexer(incremental, embedder).index([corpus])
    assert len(IndexLayout(incremental.index_dir).current().segments) > 1

    fresh = make_settings(index_dir=str(tmp_path / "fresh"))
    Indexer(fresh, embedder).rebuild([corpus])
    assert snapshot_state(incremental.index_dir) == snapshot_state(fresh.index_dir)
    for mode in ("semantic", "keyword", "hybrid"):
        assert rankings(incremental, embedder, QUERIES, mode) == rankings(fresh, embedder, QUERIES, mode), (
            mode
        )


def test_merge_policy_bounds_segments(make_settings, tmp_path: Path) -> None:
    settings = make_settings(index__max_segments=3, index__merge_factor=2)
    embedder = HashingEmbedder()
    corpus = tmp_path / "docs"
    for step in range(7):
        write_records(corpus / f"f{step}.jsonl", step * 20, 20)
        report = Indexer(settings, embedder).index([corpus])
        assert report.segments <= 3
    assert report.merged > 0
    manifest = IndexLayout(settings.index_dir).current()
    assert manifest.documents == 140 and sum(s.live for s in manifest.segments) == manifest.chunks
    assert len(rankings(settings, embedder, ["w33"], "semantic")[0]) == 10


def test_plan_merges_picks_the_cheapest_adjacent_window() -> None:
    sizes = [1000, 900, 50, 40, 30, 20]
    infos = [SegmentInfo(f"s{i}", n, i * 10, i * 10 + 9, "flat") for i, n in enumerate(sizes)]
    assert plan_merges(infos, 4, 3, 10_000, 0.5) == [[3, 4, 5]]
    assert plan_merges(infos, 10, 3, 10_000, 0.5) == []
    assert plan_merges(infos, 4, 3, 80, 0.5) == [[4, 5]] or plan_merges(infos, 4, 3, 80, 0.5) == []
    deleted = [SegmentInfo("a", 100, 0, 99, "flat", deleted=60), SegmentInfo("b", 100, 100, 199, "flat")]
    assert plan_merges(deleted, 8, 4, 10_000, 0.5) == [[0]]
    assert plan_full_compaction(infos, 1950) == [[0, 1, 2], [3, 4, 5]]


def test_compact_merges_everything_and_purges_deleted_rows(make_settings, tmp_path: Path) -> None:
    settings = make_settings(index__keep_versions=0)
    embedder = HashingEmbedder()
    corpus = tmp_path / "docs"
    for step in range(3):
        write_records(corpus / f"f{step}.jsonl", step * 30, 30)
        Indexer(settings, embedder).index([corpus])
    (corpus / "f1.jsonl").unlink()
    Indexer(settings, embedder).index([corpus])
    before = rankings(settings, embedder, QUERIES, "hybrid")
    report = Indexer(settings, embedder).compact()
    manifest = IndexLayout(settings.index_dir).current()
    assert report.published and len(manifest.segments) == 1 and manifest.segments[0].deleted == 0
    assert manifest.documents == 60
    index = IndexSnapshot.open(settings.index_dir)
    assert index.store.execute("SELECT count(*) FROM documents").fetchone()[0] == 60, "deleted rows purged"
    assert index.segments.segments[0].postings.n_rows == manifest.chunks, "postings rewritten too"
    index.close()
    assert rankings(settings, embedder, QUERIES, "hybrid") == before
    segment_dirs = list((Path(settings.index_dir) / "segments").iterdir())
    assert [p.name for p in segment_dirs] == [manifest.segments[0].id], "merged-away segments deleted"


def test_a_reader_keeps_its_snapshot_while_updates_publish(make_settings, tmp_path: Path) -> None:
    settings = make_settings(index__keep_versions=3)
    embedder = HashingEmbedder()
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 50)
    Indexer(settings, embedder).index([corpus])
    reader = IndexSnapshot.open(settings.index_dir)
    before = snapshot_state(settings.index_dir)
    write_records(corpus / "b.jsonl", 50, 20)
    (corpus / "a.jsonl").write_text((corpus / "a.jsonl").read_text().replace("d3", "d3x"))
    Indexer(settings, embedder).index([corpus])
    Indexer(settings, embedder).compact()
    gen = reader.generation
    assert reader.store.count_documents(gen) == 50
    assert reader.store.document("d3", gen) is not None and reader.store.document("d50", gen) is None
    hits = reader.keywords.search("w60", 10)
    assert not hits, "a later generation's chunks are invisible to this reader"
    assert len(reader.keywords.search("w3", 10)) == 1
    assert reader.vectors.count() == sum(len(v[1]) for v in before.values())
    reader.close()
    assert "d50" in snapshot_state(settings.index_dir)


def test_changed_chunking_is_refused_with_a_way_out(make_settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 10)
    Indexer(make_settings(), HashingEmbedder()).index([corpus])
    changed = make_settings(chunking__max_tokens=16, chunking__overlap_tokens=4)
    with pytest.raises(ChunkingChanged, match="semsearch rebuild"):
        Indexer(changed, HashingEmbedder()).index([corpus])
    report = Indexer(changed, HashingEmbedder()).rebuild([corpus])
    assert report.published and IndexLayout(changed.index_dir).current().chunking.max_tokens == 16
    Indexer(changed, HashingEmbedder()).index([corpus])  # now consistent: accepted


def test_bad_records_are_reported_and_the_rest_indexed(make_settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "mixed.jsonl").write_text(
        '{"_id":"g1","text":"first good record about whales"}\n{"_id":"e1","text":""}\n{"_id": broken\n'
        '{"_id":"g2","text":"second good record about owls"}\n[1, 2]\n'
        '{"_id":"g3","text":"third good record about bees"}\n',
        encoding="utf-8",
    )
    warnings: list[str] = []
    report = Indexer(make_settings(), HashingEmbedder(), warn=warnings.append).index([corpus])
    assert report.added == 3
    for line in (2, 3, 5):
        assert any(f"mixed.jsonl:{line}:" in w for w in warnings), (line, warnings)


# A model batch this small makes the writer stage 64 chunks at a time (embed_buffer_chunks), so
# a few hundred records are several staged batches (KILL_AFTER_BATCHES uses it too).
SMALL_BATCH = 2

KILL_AFTER_BATCHES = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from indexer.config import load_settings
    from indexer.embedders import HashingEmbedder
    from indexer.pipeline import Indexer

    index_dir, corpus, command, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seen = []
    def kill(stage):
        if stage == "embedded-batch":
            seen.append(stage)
            if len(seen) == batches:
                os.kill(os.getpid(), signal.SIGKILL)
    settings = load_settings(None, {"index_dir": index_dir, "model.batch_size": SMALL_BATCH})
    indexer = Indexer(settings, HashingEmbedder(), hook=kill)
    getattr(indexer, command)([Path(corpus)])
    """
).replace("SMALL_BATCH", str(SMALL_BATCH))  # the child process's batch size is the tests'


@pytest.mark.parametrize("command", ["index", "rebuild"])
def test_a_killed_run_resumes_without_re_embedding(make_settings, tmp_path: Path, command: str) -> None:
    corpus = tmp_path / "docs"
    write_records(corpus / "big.jsonl", 0, 400)  # 400 chunks: staged 64 at a time (see SMALL_BATCH)
    settings = make_settings(model__batch_size=SMALL_BATCH)
    assert embed_buffer_chunks(settings) == 64
    if command == "rebuild":
        (tmp_path / "old").mkdir()
        write_records(tmp_path / "old" / "x.jsonl", 9000, 5)
        Indexer(settings, HashingEmbedder()).index([tmp_path / "old"])
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_BATCHES, str(settings.index_dir), str(corpus), command, "3"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    live = IndexLayout(settings.index_dir).current_or_none()
    if command == "rebuild":
        assert live is not None and live.documents == 5, "the old index still serves"

    embedder = CountingEmbedder()
    report = getattr(Indexer(settings, embedder), command)([corpus])
    assert report.reused == 3 * 64 and embedder.embedded == 400 - 3 * 64, "finished batches reused"
    assert report.added == 400
    clean = make_settings(index_dir=str(tmp_path / "clean"), model__batch_size=SMALL_BATCH)
    Indexer(clean, HashingEmbedder()).index([corpus])
    assert snapshot_state(settings.index_dir) == snapshot_state(clean.index_dir)
    assert rankings(settings, embedder, QUERIES, "hybrid") == rankings(clean, embedder, QUERIES, "hybrid")


def test_a_killed_run_whose_files_changed_drops_stale_staging(make_settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    write_records(corpus / "big.jsonl", 0, 300)
    settings = make_settings(model__batch_size=SMALL_BATCH)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_BATCHES, str(settings.index_dir), str(corpus), "index", "2"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    (corpus / "big.jsonl").write_text((corpus / "big.jsonl").read_text().replace("w1", "v1"))
    report = Indexer(settings, HashingEmbedder()).index([corpus])
    assert report.added == 300 and 0 < report.reused < 128
    index = IndexSnapshot.open(settings.index_dir)
    total = index.store.execute("SELECT count(*) FROM documents").fetchone()[0]
    staged = index.store.execute("SELECT count(*) FROM staged_vectors").fetchone()[0]
    assert total == 300 and staged == 0, "stale staged versions were dropped"
    assert index.keywords.search("v1", 5) and not index.keywords.search("w1", 5)
    index.close()


def test_empty_first_run_still_publishes_a_searchable_index(make_settings, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    settings = make_settings()
    report = Indexer(settings, HashingEmbedder()).index([tmp_path / "empty"])
    assert report.documents == 0
    service = SearchService.open(settings, HashingEmbedder())
    assert service.search_text("anything").hits == []
    service.close()


def test_delete_removes_text_and_vectors_from_disk(make_settings, tmp_path: Path) -> None:
    settings = make_settings(index__keep_versions=3)
    embedder = HashingEmbedder()
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 40)
    secret = corpus / "secret.jsonl"
    secret.write_text(json.dumps({"_id": "s1", "text": "zanzibarsecret passphrase"}) + "\n", encoding="utf-8")
    Indexer(settings, embedder).index([corpus])
    write_records(corpus / "b.jsonl", 100, 5)
    Indexer(settings, embedder).index([corpus])  # a second generation still names the first segment
    index = IndexSnapshot.open(settings.index_dir)
    (chunk,) = index.store.chunks_of("s1", index.generation)
    index.close()

    report = delete_documents(settings, ["s1"])
    assert report.removed == 1 and report.documents == 45
    for path in Path(settings.index_dir).rglob("*"):
        if path.is_file():
            assert b"zanzibarsecret" not in path.read_bytes(), path
    layout = IndexLayout(settings.index_dir)
    assert [p.name for p in layout.manifests.iterdir()] == [layout.current_name()], "older generations gone"
    live = IndexSnapshot.open(settings.index_dir)
    assert all(chunk.id not in s.ids for s in live.vectors.segments) and live.vectors.count() == 45
    assert not live.keywords.search("zanzibarsecret", 5)
    live.close()
    with pytest.raises(NotFound, match="no document matches"):
        delete_documents(settings, ["s1"])
    assert delete_documents(settings, source_glob="*b.jsonl#*").removed == 5
