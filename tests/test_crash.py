"""SIGKILL a real writer at random moments; after each kill the index must be whole and the next
run must finish the job (a reduced form of the crasher in the reliability issue)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from indexer.check import check_index
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer
from indexer.snapshot import IndexSnapshot
from tests.conftest import REPO
from tests.test_segments import CountingEmbedder, snapshot_state, write_records

WRITER = """
import sys
from pathlib import Path
from indexer.config import load_settings
from indexer.embedders import HashingEmbedder
from indexer.pipeline import Indexer
settings = load_settings(None, {"index_dir": sys.argv[1], "model.batch_size": 8,
                                "index.segment_max_vectors": 1000, "index.max_segments": 3})
getattr(Indexer(settings, HashingEmbedder()), sys.argv[3])([Path(sys.argv[2])])
"""


def check_invariants(index_dir: Path) -> None:
    """The live generation opens and its parts agree with each other (`semsearch check`)."""
    if IndexLayout(index_dir).current_or_none() is None:
        return
    report = check_index(index_dir)
    assert report.ok, report.problems
    IndexSnapshot.open(index_dir).close()


def test_random_kills_during_index_and_rebuild(make_settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    for part in range(6):
        write_records(corpus / f"p{part}.jsonl", part * 400, 400)
    settings = make_settings(model__batch_size=8, index__segment_max_vectors=1000, index__max_segments=3)
    # Kill times scale with this machine's speed: a fraction of one uninterrupted build.
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path / "timing"), str(corpus), "index"], cwd=REPO, check=True
    )
    full = time.perf_counter() - started
    rng = random.Random(11)
    survived = 0
    for round_ in range(8):
        command = "rebuild" if round_ % 3 == 2 else "index"
        if round_ % 2:  # the files change between kills: edits, additions, deletions
            write_records(corpus / f"new{round_}.jsonl", 10_000 + round_ * 50, 50)
            (corpus / f"p{round_ % 6}.jsonl").write_text("")
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(settings.index_dir), str(corpus), command], cwd=REPO
        )
        time.sleep(rng.uniform(0.1, 0.9) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        survived += proc.returncode == -signal.SIGKILL
        check_invariants(settings.index_dir)
    assert survived >= 3, f"only {survived} of 8 runs were killed mid-way (a full build takes {full:.1f} s)"

    embedder = CountingEmbedder()
    Indexer(settings, embedder).index([corpus])
    check_invariants(settings.index_dir)
    clean = make_settings(index_dir=str(tmp_path / "clean"), model__batch_size=8)
    Indexer(clean, CountingEmbedder()).index([corpus])
    assert snapshot_state(settings.index_dir) == snapshot_state(clean.index_dir)
    leftovers = list((Path(settings.index_dir)).rglob("*.tmp"))
    assert leftovers == []
