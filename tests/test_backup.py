"""`semsearch snapshot` / `restore`: a consistent copy of the live generation and its return."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from indexer.backup import SnapshotError, restore_snapshot, take_snapshot
from indexer.check import check_index
from indexer.embedders import HashingEmbedder
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from tests.test_segments import snapshot_state, write_records


@pytest.fixture
def settings(make_settings):
    return make_settings(index__flat_max_vectors=50)


@pytest.fixture
def built(settings, tmp_path: Path) -> Path:
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 80)
    Indexer(settings, HashingEmbedder()).index([corpus])
    write_records(corpus / "b.jsonl", 100, 10)
    (corpus / "a.jsonl").write_text("\n".join((corpus / "a.jsonl").read_text().splitlines()[3:]) + "\n")
    Indexer(settings, HashingEmbedder()).index([corpus])  # two segments, tombstones
    return Path(settings.index_dir)


def test_snapshot_is_a_checked_index_of_the_live_generation(built: Path, tmp_path: Path) -> None:
    report = take_snapshot(built, tmp_path / "snap")
    assert report.generation == IndexLayout(built).current_name()
    assert check_index(tmp_path / "snap").ok
    assert snapshot_state(tmp_path / "snap") == snapshot_state(built)
    assert not list(tmp_path.glob("snap.partial-*"))


def test_restore_brings_back_the_snapshot_as_a_new_generation(settings, built: Path, tmp_path: Path) -> None:
    expected = snapshot_state(built)
    take_snapshot(built, tmp_path / "snap")
    corpus = tmp_path / "docs"
    (corpus / "b.jsonl").unlink()
    write_records(corpus / "c.jsonl", 300, 5)
    Indexer(settings, HashingEmbedder()).index([corpus])
    assert snapshot_state(built) != expected
    generation = IndexLayout(built).current().generation
    restore_snapshot(tmp_path / "snap", built, keep_versions=2)
    assert IndexLayout(built).current().generation > generation
    assert snapshot_state(built) == expected and check_index(built).ok
    Indexer(settings, HashingEmbedder()).index([corpus])  # the next run works from the restored state
    state = snapshot_state(built)
    assert "d300" in state and "d100" not in state and check_index(built).ok


def test_restore_into_an_empty_directory(built: Path, tmp_path: Path) -> None:
    take_snapshot(built, tmp_path / "snap")
    restore_snapshot(tmp_path / "snap", tmp_path / "fresh", keep_versions=2)
    assert snapshot_state(tmp_path / "fresh") == snapshot_state(built)


def test_a_damaged_snapshot_is_refused_and_the_index_is_untouched(built: Path, tmp_path: Path) -> None:
    take_snapshot(built, tmp_path / "snap")
    recorded = json.loads((tmp_path / "snap" / "SNAPSHOT.json").read_text())["files"]
    victim = tmp_path / "snap" / next(name for name in recorded if name.endswith("vectors.npy"))
    data = bytearray(victim.read_bytes())
    data[-5] ^= 1
    victim.write_bytes(bytes(data))
    current = IndexLayout(built).current_name()
    with pytest.raises(SnapshotError, match="vectors.npy does not match its checksum"):
        restore_snapshot(tmp_path / "snap", built, keep_versions=2)
    assert IndexLayout(built).current_name() == current


@pytest.mark.parametrize("where", ["inside", "not-empty"])
def test_snapshot_refuses_a_bad_destination(built: Path, tmp_path: Path, where: str) -> None:
    dest = built / "snap" if where == "inside" else tmp_path / "full"
    if where == "not-empty":
        dest.mkdir()
        (dest / "x").write_text("x")
    with pytest.raises(SnapshotError):
        take_snapshot(built, dest)


def test_snapshots_taken_while_a_writer_publishes_are_consistent(
    settings, built: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "docs"
    done = threading.Event()

    def writer() -> None:
        for round_ in range(6):
            write_records(corpus / f"w{round_}.jsonl", 1000 + round_ * 20, 20)
            Indexer(settings, HashingEmbedder()).index([corpus])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    taken = 0
    while not done.is_set() and taken < 20:
        take_snapshot(built, tmp_path / f"snap{taken}")
        assert check_index(tmp_path / f"snap{taken}").ok  # every copy is one whole generation
        taken += 1
    thread.join()
    assert taken >= 1


def test_cli_snapshot_and_restore(built: Path, tmp_path: Path) -> None:
    from tests.test_cli import semsearch

    out = semsearch("--index-dir", str(built), "snapshot", str(tmp_path / "snap")).stdout
    assert "snapshot of gen-" in out
    out = semsearch("--index-dir", str(tmp_path / "other"), "restore", str(tmp_path / "snap")).stdout
    assert "restored" in out
    proc = semsearch("--index-dir", str(built), "snapshot", str(built / "x"), check=False)
    assert proc.returncode == 1 and "inside the index directory" in proc.stderr


def test_a_rebuild_killed_after_publishing_but_before_clearing_its_draft_loses_nothing(
    settings, built: Path, tmp_path: Path
) -> None:
    """Found by the crasher: DRAFT still named the rebuild it had just published; the next
    rebuild 'resumed' it, on the live catalog, and un-published every later change."""
    corpus = tmp_path / "docs"
    Indexer(settings, HashingEmbedder()).rebuild([corpus])
    layout = IndexLayout(built)
    (built / "DRAFT").write_text(layout.current_name() + "\n")  # the state a kill there leaves
    write_records(corpus / "later.jsonl", 500, 30)
    Indexer(settings, HashingEmbedder()).index([corpus])
    assert "d510" in snapshot_state(built)
    Indexer(settings, HashingEmbedder()).rebuild([corpus])
    state = snapshot_state(built)
    assert "d510" in state and "d100" in state and check_index(built).ok
