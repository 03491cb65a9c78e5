"""The hostile-file corpus (benchmarks/hostile.py), small: one real `semsearch index` over every
kind of bad file; each is reported by name (and line) and skipped, the rest is indexed and found."""

from __future__ import annotations

from pathlib import Path

from benchmarks.hostile import run_hostile


def test_every_hostile_file_is_reported_or_indexed_and_the_run_goes_on(tmp_path: Path) -> None:
    outcomes, _seconds, _peak = run_hostile(tmp_path, big_mb=3, line_mb=1.5, nested=100_000, max_file_mb=2)
    failed = [f"{o.expected.name}: {o.detail}" for o in outcomes if not o.ok]
    assert failed == []
    assert len(outcomes) >= 20
