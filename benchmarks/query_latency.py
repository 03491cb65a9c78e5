"""Where a query's time goes: model load, query embedding, search; and us vs brute force.

    python -m benchmarks.query_latency --index-dir DIR [--queries FILE] [--model NAME] [-n 200]

FILE is a text file (one query a line) or a BEIR queries.jsonl. The index must exist (e.g.
`semsearch --index-dir DIR index PATH`). Every figure comes from the same process and minute:
- load: building the embedder; open: opening the index version;
- embed: one query embedded alone (the cost a fresh query pays);
- search: the rest of a query (ANN, exact re-rank, SQLite, snippets), measured with the query
  vector already cached, per mode;
- brute force: a numpy scan of every full-precision vector, for the same queries;
- CLI: the wall time of `semsearch search` as a new process (load included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def read_queries(path: Path | None, limit: int) -> list[str]:
    if path is None:
        path = Path(__file__).resolve().parent.parent / "examples" / "queries.txt"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        lines = [json.loads(line)["text"] for line in lines]
    return list(dict.fromkeys(lines))[:limit]


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def millis(samples: list[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("-n", type=int, default=200, help="queries to time")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from indexer.runtime import configure_threads

    threads = configure_threads(args.threads, serving_queries=True)
    import numpy as np

    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from search.service import SearchService

    settings = load_settings(None, {"index_dir": str(args.index_dir), "model.name": args.model})
    started = time.perf_counter()
    embedder = create_embedder(settings.model, threads)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    service = SearchService.open(settings, embedder)
    open_s = time.perf_counter() - started
    index = service.searcher().index
    queries = read_queries(args.queries, args.n)
    embedder.embed_queries(["warm up"])

    embed_times = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed_queries([query])
        embed_times.append(time.perf_counter() - started)

    print(f"index      {args.index_dir} ({index.vectors.count()} vectors, {index.vectors.describe()})")
    print(f"model      {embedder.model_id}, threads {threads}; {len(queries)} queries")
    print(f"load       {load_s * 1000:9.0f} ms (once per process)")
    print(f"open       {open_s * 1000:9.0f} ms (once per index version)")
    print(f"embed      {millis(embed_times)}   (one query, uncached)")
    vectors = service.searcher().embed_queries(queries)  # fills the cache: below is search alone
    for mode in ("semantic", "keyword", "hybrid"):
        times = []
        for query in queries:
            started = time.perf_counter()
            service.search_text(query, k=10, mode=mode)
            times.append(time.perf_counter() - started)
        print(f"search     {millis(times)}   ({mode}, query vector cached)")

    matrix = index.vectors.rebuilt_as("flat").segments[0].vectors
    brute = []
    for query in queries:
        started = time.perf_counter()
        scores = matrix @ vectors[query]
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        brute.append(time.perf_counter() - started)
    print(f"brute      {millis(brute)}   (numpy scan of all vectors, top-10 chunk ids only)")

    cli = []
    for query in queries[:5]:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "semsearch",
                "--index-dir",
                str(args.index_dir),
                "--model",
                args.model,
                "search",
                query,
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - started)
    print(f"cli        {millis(cli)}   (`semsearch search` as a new process, {len(cli)} runs)")


if __name__ == "__main__":
    main()
