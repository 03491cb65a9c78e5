"""The load test (benchmarks/load.py), reduced: 16 clients for 8 s of mixed-mode, cached and
uncached searches against a real server on loopback; not one request may fail."""

from __future__ import annotations

from pathlib import Path

from benchmarks.load import run_load
from indexer.config import load_settings
from indexer.embedders import HashingEmbedder
from tests.test_segments import write_records
from tests.web_helpers import build_index


def test_sixteen_clients_for_eight_seconds_get_no_error(tmp_path: Path) -> None:
    settings = load_settings(None, {"index_dir": str(tmp_path / "index")})
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 400)
    build_index(settings, HashingEmbedder(384), corpus)  # as --model hashing-384
    report = run_load(Path(settings.index_dir), "hashing-384", clients=16, seconds=8)
    assert sum(report.errors.values()) == 0, report.lines()
    assert report.busy == 0, report.lines()  # 16 clients stay under the default cap of 64 in flight
    assert all(len(v) > 10 for v in report.latencies.values()), report.lines()
    assert report.rss_after_mb > 0
