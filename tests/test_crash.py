"""The crasher (benchmarks/crasher.py), reduced: for about a minute a real `semsearch` writer
(index with additions, edits and deletions, rebuild, compact, delete) is SIGKILLed at random
moments while a real server answers a polling client; after every run the index must be whole,
hold every acknowledged document, and the final state must equal a clean build."""

from __future__ import annotations

from pathlib import Path

from benchmarks.crasher import run_crasher


def test_kills_at_random_moments_lose_nothing_and_never_fail_a_search(tmp_path: Path) -> None:
    report = run_crasher(
        tmp_path, seconds=50, kill_probability=0.4, records=1200, seed=11, log=lambda _line: None
    )
    assert report.problems == []
    assert report.poll_failures == []
    assert report.kills >= 4, report.line()  # the test is only worth something if kills happen mid-run
    assert report.finished >= 4, report.line()
    assert report.polled >= 100, report.line()
    assert report.checks == report.runs, report.line()
