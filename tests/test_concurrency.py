"""Many readers, one writer, across processes: two `semsearch serve` processes on one index keep
answering while a third process indexes, both move to the new version, and a second writer
is refused at once with a message that says why."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import pytest

from benchmarks.api_latency import server
from indexer.config import load_settings
from indexer.embedders import HashingEmbedder
from tests.conftest import REPO
from tests.test_segments import write_records
from tests.web_helpers import build_index

HOLD_LOCK = """
import sys, time
from pathlib import Path
from indexer.layout import IndexLayout
with IndexLayout(Path(sys.argv[1])).writer_lock():
    print("holding", flush=True)
    time.sleep(60)
"""


def _search(port: int, query: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/search?" + urlencode({"q": query, "mode": "keyword", "k": 5}))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _semsearch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "semsearch", "--model", "hashing-384", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_servers_keep_answering_while_a_third_process_writes(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 300)
    build_index(load_settings(None, {"index_dir": str(index_dir)}), HashingEmbedder(384), corpus)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def poll(port: int) -> None:
        while not stop.is_set():
            status, body = _search(port, "w7 note")
            answered[0] += 1
            if status != 200:
                failures.append(f"{port}: HTTP {status} {body}")

    with ExitStack() as stack:
        ports = [stack.enter_context(server(index_dir, "hashing-384", 2.0)) for _ in range(2)]
        pollers = [threading.Thread(target=poll, args=(port,), daemon=True) for port in ports]
        for thread in pollers:
            thread.start()
        write_records(corpus / "b.jsonl", 5000, 200, tag="zebracorn")
        done = _semsearch("--index-dir", str(index_dir), "index", str(corpus))
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 60
        moved = set()
        while len(moved) < len(ports) and time.monotonic() < deadline:
            moved |= {port for port in ports if _search(port, "zebracorn")[1].get("results")}
            time.sleep(0.2)
        stop.set()
        for thread in pollers:
            thread.join(30)
    assert failures == []
    assert answered[0] > 10
    assert moved == set(ports), "a server did not move to the new version"


def test_a_second_writer_is_refused_at_once(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for command in (["index", str(corpus)], ["rebuild", str(corpus)], ["compact"]):
            refused = _semsearch("--index-dir", str(index_dir), *command)
            assert refused.returncode == 1, command
            assert "another process is writing the index" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
    finally:
        holder.kill()
        holder.wait(10)
    assert (
        _semsearch("--index-dir", str(index_dir), "index", str(corpus)).returncode == 0
    )  # the lock died with it


def _deleted_files_held(under: Path) -> set[str]:
    """Deleted files under `under` this process still holds open or memory-mapped (Linux /proc)."""
    held = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.endswith(" (deleted)"):
            held.add(target)
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(" (deleted)"):
            held.add(line.split(None, 5)[-1])
    return {path for path in held if path.startswith(str(under))}


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc to count open files")
def test_a_server_closes_the_versions_it_replaced(make_settings, tmp_path: Path) -> None:
    """Round 1 found a server holding 12 versions (24 handles to deleted files) after 30 swaps."""
    from indexer.pipeline import Indexer
    from search.service import SearchService

    settings = make_settings(index__keep_versions=0)
    corpus = tmp_path / "docs"
    write_records(corpus / "a.jsonl", 0, 50)
    Indexer(settings, HashingEmbedder()).index([corpus])
    service = SearchService.open(settings, HashingEmbedder())
    segments = Path(settings.index_dir) / "segments"
    seen: set[str] = set()
    try:
        for swap in range(30):
            write_records(corpus / f"s{swap}.jsonl", 1000 + swap * 10, 10)
            Indexer(settings, HashingEmbedder()).index([corpus])
            assert service.search_text(f"w{1000 + swap * 10}", k=3, mode="semantic").hits
            assert service.search_text(f"w{1000 + swap * 10}", k=3, mode="keyword").hits
            seen |= {p.name for p in segments.iterdir()}
        held = _deleted_files_held(Path(settings.index_dir))
    finally:
        service.close()
    gone = seen - {p.name for p in segments.iterdir()}
    assert len(gone) >= 10  # merges replaced segments: there were versions to let go of
    # Only the version being served may be open; every replaced one was closed, its files gone.
    assert len(held) <= 2, sorted(held)[:10]
