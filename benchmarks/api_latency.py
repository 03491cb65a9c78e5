"""HTTP latency of GET /api/search on a real server, beside the bare query-embedding time.

    python -m benchmarks.api_latency --index-dir DIR [--queries FILE] [--model NAME] [-n 200]
                                     [--clients 1,4,16] [--windows 2,0]

Starts `semsearch serve` as a separate process on a free 127.0.0.1 port (once per batch
window in --windows) and measures, client side over loopback with keep-alive:
- sequential: n distinct queries one after another (every one pays for its embedding);
- cached: the same n queries again (the LRU cache answers the embedding);
- concurrent: n other distinct queries from each count of --clients threads at once (p50, p95,
  p99 and queries/s), which is where micro-batching (server.batch_window_ms) can pay;
and, in this process before any server starts, `embedder.embed_queries([q])` alone for the
same queries. FILE is one query a line or a BEIR queries.jsonl; when it holds fewer than 2n
queries, phrases cut from the index's own chunks make up the rest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.query_latency import p50_p95, read_queries


def percentiles(samples: Sequence[float]) -> str:
    p50, p95 = p50_p95(list(samples))
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"


def index_phrases(index_dir: Path, count: int, seed: int = 7) -> list[str]:
    """Distinct 3-7 word phrases (4-12 characters where there are no spaces, as in Chinese) cut
    from the index's own chunks: query-sized, realistic, and never in the cache."""
    from indexer.snapshot import IndexSnapshot

    index = IndexSnapshot.open(index_dir)
    try:
        texts = [text for _id, _title, text in index.store.iter_chunk_texts(index.generation)]
    finally:
        index.close()
    rng = random.Random(seed)
    phrases: dict[str, None] = {}
    for _ in range(count * 50):
        text = rng.choice(texts)
        size = rng.randint(3, 7)
        words = text.split()
        start = rng.randrange(0, max(1, len(words) - size))
        phrase = " ".join(words[start : start + size])
        if len(phrase) > 60:
            size = rng.randint(4, 12)
            start = rng.randrange(0, max(1, len(text) - size))
            phrase = text[start : start + size].strip()
        if phrase:
            phrases[phrase] = None
        if len(phrases) >= count:
            break
    return list(phrases)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_argv(config: Path, index_dir: Path, model: str | None) -> list[str]:
    """The `semsearch` command line of a fresh process with these global options; the
    benchmarks that drive the real CLI (server, crasher, hostile files) all start from it."""
    argv = [sys.executable, "-m", "semsearch", "--config", str(config), "--index-dir", str(index_dir)]
    return [*argv, "--model", model] if model else argv


@contextmanager
def server(index_dir: Path, model: str | None, window_ms: float) -> Iterator[int]:
    """`semsearch serve` in a subprocess with server.batch_window_ms = window_ms; its port."""
    with serving(index_dir, model, window_ms) as (port, _pid):
        yield port


@contextmanager
def serving(index_dir: Path, model: str | None, window_ms: float) -> Iterator[tuple[int, int]]:
    """As `server`, yielding (port, process id)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(json.dumps({"server": {"batch_window_ms": window_ms}}))  # JSON is YAML
        command = [*cli_argv(config, index_dir, model), "serve", "--host", "127.0.0.1", "--port", str(port)]
        # The log goes to a file: a pipe nobody reads fills up (one line per request) and the
        # server blocks writing to it.
        log = open(Path(tmp) / "server.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"server exited: {log.read()[-2000:]}")
                try:
                    if get(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not become ready in 120 s")
                time.sleep(0.2)
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(30)
            log.close()


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def search_path(query: str) -> str:
    return "/api/search?" + urlencode({"q": query, "k": 10})


def sequential(port: int, queries: Sequence[str]) -> tuple[list[float], list[float]]:
    """(client wall times, server took_ms) per query, one connection, one at a time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    walls, took = [], []
    for query in queries:
        started = time.perf_counter()
        status, body = get(conn, search_path(query))
        walls.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"HTTP {status} for {query!r}: {body[:200]!r}")
        took.append(json.loads(body)["took_ms"] / 1000)
    conn.close()
    return walls, took


def concurrent(port: int, queries: Sequence[str], clients: int) -> tuple[list[float], float]:
    """(per-request wall times, total seconds) with `clients` threads sharing the queries."""
    walls: list[float] = []
    lock = threading.Lock()
    shares = [queries[i::clients] for i in range(clients)]
    start_gate = threading.Barrier(clients + 1)

    def client(share: Sequence[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start_gate.wait()
        for query in share:
            started = time.perf_counter()
            status, _body = get(conn, search_path(query))
            elapsed = time.perf_counter() - started
            if status != 200:
                raise SystemExit(f"HTTP {status}")
            with lock:
                walls.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start_gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return walls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path)
    parser.add_argument("--model", default=None, help="default: the configured model (config.yaml)")
    parser.add_argument("-n", type=int, default=200, help="queries per run")
    parser.add_argument("--clients", default="1,4,16", help="concurrent client counts, comma-separated")
    parser.add_argument("--windows", default="2,0", help="batch windows (ms) to compare, comma-separated")
    args = parser.parse_args()

    from indexer.config import load_settings
    from indexer.runtime import configure_threads

    settings = load_settings(
        Path("config.yaml") if Path("config.yaml").exists() else None,
        {"index_dir": str(args.index_dir), "model.name": args.model},
    )
    threads = configure_threads(settings.runtime.query_threads, serving_queries=True)
    from indexer.embedders import embedder_for

    queries = read_queries(args.queries, 2 * args.n) if args.queries else []
    if len(queries) < 2 * args.n:
        queries += [p for p in index_phrases(args.index_dir, 4 * args.n) if p not in queries]
    queries = queries[: 2 * args.n]
    sequential_set, concurrent_set = queries[: args.n], queries[args.n :]

    embedder = embedder_for(settings, threads, bool(args.model))  # the model the server will use
    embedder.embed_queries(["warm up"])
    bare = []
    for query in sequential_set:
        started = time.perf_counter()
        embedder.embed_queries([query])
        bare.append(time.perf_counter() - started)
    clients = [int(c) for c in args.clients.split(",")]
    widest = max(clients)
    batches = []  # what micro-batching buys at best: `widest` queries in one call
    for start in range(0, len(concurrent_set), widest):
        started = time.perf_counter()
        embedder.embed_queries(concurrent_set[start : start + widest])
        batches.append(time.perf_counter() - started)
    model_id = embedder.model_id
    del embedder

    print(
        f"index        {args.index_dir}; model {model_id}; query threads {threads}; "
        f"{os.cpu_count()} cores; load avg {os.getloadavg()[0]:.2f}"
    )
    print(f"embed        {percentiles(bare)}   (embed_queries([q]) in-process, {len(bare)} queries)")
    print(f"embed batch  {percentiles(batches)}   ({widest} at once, {len(batches)} calls)")
    bare_p50 = p50_p95(bare)[0]
    for window in (float(w) for w in args.windows.split(",")):
        with server(args.index_dir, args.model, window) as port:
            get(http.client.HTTPConnection("127.0.0.1", port), search_path("warm up"))
            walls, took = sequential(port, sequential_set)
            cached, _ = sequential(port, sequential_set)
            runs = [(count, *concurrent(port, concurrent_set, count)) for count in clients]
        label = f"window {window:g} ms"
        print(f"{label:<13}sequential  {percentiles(walls)}   (server took_ms {percentiles(took)})")
        overhead = (p50_p95(walls)[0] - bare_p50) * 1000
        print(f"{'':<13}            HTTP p50 - bare embedding p50 = {overhead:.1f} ms")
        print(f"{'':<13}cached      {percentiles(cached)}")
        for count, together, seconds in runs:
            rate = len(together) / seconds
            print(f"{'':<13}{count:>2} clients  {percentiles(together)}   {rate:6.1f} queries/s")


if __name__ == "__main__":
    main()
