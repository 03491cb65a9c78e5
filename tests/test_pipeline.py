from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.embedders import HashingEmbedder
from indexer.errors import IndexBusy, IndexNotFound, ModelMismatch
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from indexer.snapshot import IndexSnapshot
from indexer.store import visible
from search.service import SearchService
from tests.conftest import REPO, write_corpus


def chunk_ids_by_doc(index_dir: Path) -> dict[str, list[int]]:
    index = IndexSnapshot.open(index_dir)
    try:
        rows = index.store.execute(
            "SELECT d.id, c.id FROM chunks c JOIN documents d ON d.key = c.doc_key "
            f"WHERE {visible(index.generation)} ORDER BY c.id"
        ).fetchall()
    finally:
        index.close()
    out: dict[str, list[int]] = {}
    for doc_id, chunk_id in rows:
        out.setdefault(doc_id, []).append(chunk_id)
    return out


def test_first_index_publishes_a_complete_version(fake_index) -> None:
    settings, _embedder, corpus = fake_index
    index = IndexSnapshot.open(settings.index_dir)
    gen = index.generation
    assert index.store.count_documents(gen) == index.manifest.documents == 5
    assert index.vectors.count() == index.store.count_chunks(gen) == index.manifest.chunks
    assert index.manifest.embedder.backend == "hashing"
    assert index.manifest.roots == (str(corpus.resolve()),)
    (segment,) = index.vectors.segments
    assert np.allclose(np.linalg.norm(segment.vectors, axis=1), 1.0, atol=1e-5)
    html = index.store.document(str((corpus / "sub/bank.html").resolve()), gen)
    assert html is not None and html.title == "Stocks" and "tracking" not in html.text
    index.close()


def test_incremental_index_touches_only_what_changed(fake_index) -> None:
    settings, embedder, corpus = fake_index
    before = chunk_ids_by_doc(settings.index_dir)
    cats, food, space = (str((corpus / n).resolve()) for n in ("cats.txt", "food.md", "space.txt"))

    (corpus / "cats.txt").write_text("The cat sleeps all afternoon on the warm sofa.\n", "utf-8")
    (corpus / "food.md").unlink()
    (corpus / "new.txt").write_text("Volcanoes erupt molten rock.\n", "utf-8")
    report = Indexer(settings, embedder).index([corpus])

    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 3)
    assert report.chunks_embedded == 2  # only the new and the changed file were embedded
    after = chunk_ids_by_doc(settings.index_dir)
    assert food not in after and cats in after
    assert after[space] == before[space], "untouched documents keep their chunk ids"
    assert set(after[cats]).isdisjoint(before[cats])
    service = SearchService.open(settings, embedder)
    hit = service.search_text("sofa afternoon", k=1, mode="semantic").hits[0]
    assert hit.doc_id == cats and "sofa" in hit.snippet


def test_reindexing_unchanged_files_publishes_nothing(fake_index) -> None:
    settings, embedder, corpus = fake_index
    layout = IndexLayout(settings.index_dir)
    live = layout.current_name()
    report = Indexer(settings, embedder).index([corpus])
    assert not report.published and report.unchanged == 5
    assert layout.current_name() == live


def test_touched_but_identical_file_is_not_reembedded(fake_index) -> None:
    settings, embedder, corpus = fake_index
    path = corpus / "cats.txt"
    os.utime(path, (time.time() + 10, time.time() + 10))
    report = Indexer(settings, embedder).index([corpus])
    assert report.chunks_embedded == 0 and not report.changed


def test_indexing_a_subfolder_keeps_documents_outside_it(fake_index) -> None:
    settings, embedder, corpus = fake_index
    (corpus / "sub" / "river.txt").unlink()
    report = Indexer(settings, embedder).index([corpus / "sub"])
    assert report.removed == 1
    assert len(chunk_ids_by_doc(settings.index_dir)) == 4


def test_file_that_becomes_unreadable_keeps_its_old_document(fake_index) -> None:
    settings, embedder, corpus = fake_index
    # UTF-8 with damaged bytes (a Latin-1 file would now be detected and read as Latin-1)
    (corpus / "cats.txt").write_bytes("naïve café crème brûlée ".encode() * 3 + b"\xff\xfe")
    warnings: list[str] = []
    report = Indexer(settings, embedder, warn=warnings.append).index([corpus])
    assert report.removed == 0 and any("skipped 1 file: 1 not UTF-8" in w for w in warnings), warnings
    assert any("cats.txt" in line and "UTF-8" in line for line in report.skipped)
    assert str((corpus / "cats.txt").resolve()) in chunk_ids_by_doc(settings.index_dir)


def test_empty_and_huge_documents(make_settings, fake_embedder, tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path / "d",
        {
            "empty.txt": "",
            "blank.md": "   \n\n  ",
            "ok.txt": "fine text",
            "huge.txt": "A sentence about rivers and lakes. " * 20000,
        },
    )
    settings = make_settings()
    warnings: list[str] = []
    report = Indexer(settings, fake_embedder, warn=warnings.append).index([corpus])
    assert report.added == 2 and sum("empty document" in w for w in warnings) == 2
    assert report.chunks > 100  # the huge one was chunked, not truncated


def test_model_mismatch_is_a_clear_error(fake_index) -> None:
    settings, _embedder, corpus = fake_index
    other = HashingEmbedder(dim=128)
    with pytest.raises(ModelMismatch, match="hashing-256"):
        Indexer(settings, other).index([corpus])
    with pytest.raises(ModelMismatch, match="built with hashing-256"):
        SearchService.open(settings, other)


def test_rebuild_defaults_to_recorded_roots_and_swaps(fake_index) -> None:
    settings, embedder, _corpus = fake_index
    layout = IndexLayout(settings.index_dir)
    before = layout.current_name()
    report = Indexer(settings, embedder).rebuild()
    assert report.published and report.documents == 5
    assert layout.current_name() != before


def test_rebuild_without_index_or_paths_says_what_to_do(make_settings, fake_embedder) -> None:
    with pytest.raises(IndexNotFound, match="give the paths"):
        Indexer(make_settings(), fake_embedder).rebuild()


@pytest.mark.parametrize("stage", ["embedded-batch", "before-publish"])
def test_failure_at_any_stage_leaves_the_old_index_serving(fake_index, stage: str) -> None:
    settings, embedder, corpus = fake_index
    service = SearchService.open(settings, embedder)
    live = service.layout.current_name()
    expected = service.search_text("cat mouse barn", k=1).hits[0].doc_id

    def crash(at: str) -> None:
        if at == stage:
            raise RuntimeError(f"simulated crash at {at}")

    with pytest.raises(RuntimeError, match="simulated"):
        Indexer(settings, embedder, hook=crash).rebuild([corpus])
    assert service.layout.current_name() == live
    assert service.search_text("cat mouse barn", k=1).hits[0].doc_id == expected
    assert service.layout.draft() is not None, "the unfinished rebuild is kept to be resumed"
    report = Indexer(settings, embedder).rebuild([corpus])
    assert report.published and service.layout.draft() is None


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from indexer.config import load_settings
    from indexer.embedders import HashingEmbedder
    from indexer.pipeline import Indexer

    stage = sys.argv[2]
    def kill(at):
        if at == stage:
            os.kill(os.getpid(), signal.SIGKILL)
    settings = load_settings(None, {"index_dir": sys.argv[1]})
    Indexer(settings, HashingEmbedder(), hook=kill).rebuild([Path(sys.argv[3])])
""")


@pytest.mark.parametrize("stage", ["embedded-batch", "before-publish"])
def test_sigkill_mid_rebuild_leaves_the_previous_index_whole(fake_index, stage: str) -> None:
    settings, embedder, corpus = fake_index
    layout = IndexLayout(settings.index_dir)
    live = layout.current_name()
    (corpus / "extra.txt").write_text("An extra document about glaciers.\n", "utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(settings.index_dir), stage, str(corpus)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    assert layout.current_name() == live
    service = SearchService.open(settings, embedder)
    assert service.searcher().index.manifest.documents == 5
    assert service.search_text("cat mouse", k=1).hits
    # The next writer succeeds, and the debris is collected.
    report = Indexer(settings, embedder).index([corpus])
    assert report.added == 1
    assert len(list((Path(settings.index_dir) / "manifests").iterdir())) <= 4


def test_second_writer_is_refused_while_one_runs(fake_index) -> None:
    settings, embedder, corpus = fake_index
    layout = IndexLayout(settings.index_dir)
    with layout.writer_lock(), pytest.raises(IndexBusy):
        Indexer(settings, embedder).index([corpus])


def test_server_side_searcher_follows_a_new_version(fake_index) -> None:
    settings, embedder, corpus = fake_index
    service = SearchService.open(settings, embedder)
    with service.using() as old_searcher:  # a request in flight on the old generation
        (corpus / "glacier.txt").write_text("Glaciers carve valleys over thousands of years.\n", "utf-8")
        Indexer(settings, embedder).index([corpus])
        hit = service.search_text("glaciers valleys", k=1, mode="keyword").hits[0]
        assert hit.doc_id.endswith("glacier.txt")
        # ... can still finish on it, and does not see the new document.
        assert old_searcher.search(service.request("cat", k=1)).hits
        old = old_searcher.search(service.request("glaciers valleys", k=5, mode="keyword"))
        assert not any(h.doc_id.endswith("glacier.txt") for h in old.hits)
    with pytest.raises(Exception, match="closed"):  # released with its last request
        old_searcher.index.store.execute("SELECT 1")


def test_progress_lines_are_written_without_a_terminal(make_settings, fake_embedder, small_corpus) -> None:
    from indexer.progress import ProgressLines

    lines: list[str] = []
    Indexer(make_settings(), fake_embedder, progress=ProgressLines(lines.append, every=0)).index(
        [small_corpus]
    )
    assert lines and lines[-1].startswith("indexing: file 5 of 5, 5 documents new or changed, 5 chunks")
    assert any("left (by files)" in line for line in lines)


@pytest.mark.parametrize("command", ["index", "rebuild"])
def test_a_run_stopped_after_sealing_part_of_a_file_indexes_the_rest_next_time(
    make_settings, fake_embedder, tmp_path: Path, command: str
) -> None:
    """Found by the crasher: a big record file sealed in part, then a kill. Its published
    documents carried the file's current time and size, so the next run took the file for
    done and the rest of it was never indexed."""
    from tests.test_segments import write_records

    settings = make_settings(model__batch_size=8, index__segment_max_vectors=1000)
    corpus = tmp_path / "docs"
    write_records(corpus / "small.jsonl", 0, 10)
    Indexer(settings, fake_embedder).index([corpus])
    write_records(corpus / "big.jsonl", 100, 2500)  # more than two segments' worth
    published = []

    def stop_at_second_publish(stage: str) -> None:
        if stage == "before-publish":
            published.append(stage)
            if len(published) == 2:
                raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        getattr(Indexer(settings, fake_embedder, hook=stop_at_second_publish), command)([corpus])
    getattr(Indexer(settings, fake_embedder), command)([corpus])
    held = chunk_ids_by_doc(settings.index_dir)
    assert len(held) == 2510, f"{2510 - len(held)} documents of big.jsonl were never indexed"
