"""Embedders side by side on the same corpus, in one run: indexing throughput and query latency.

    python -m benchmarks.embedders CORPUS [--models A,B] [--limit N] [--queries FILE] [-n 100]
                                          [--threads N]

For each model: build a fresh index of the same documents with `Indexer.rebuild` (chunked to
that model's own token limit, so chunk counts differ: documents/s is the like-for-like figure),
then embed `-n` queries one at a time as the query service does. CORPUS is a folder or a
JSONL/CSV record file; `--limit` keeps the first N records of a JSONL file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from itertools import islice
from pathlib import Path

from benchmarks.query_latency import p50_p95, read_queries


def first_records(corpus: Path, limit: int, folder: Path) -> Path:
    """A JSONL file of the first `limit` lines of `corpus` (or `corpus` itself when no limit)."""
    if not limit or corpus.suffix != ".jsonl":
        return corpus
    sample = folder / corpus.name
    with corpus.open(encoding="utf-8") as source:
        sample.write_text("".join(islice(source, limit)), encoding="utf-8")
    return sample


def measure(model: str, corpus: Path, queries: list[str], threads: int, folder: Path) -> dict[str, float]:
    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from indexer.pipeline import Indexer

    settings = load_settings(None, {"index_dir": str(folder / model.replace("/", "_")), "model.name": model})
    started = time.perf_counter()
    embedder = create_embedder(settings.model, threads)
    embedder.embed_queries(["warm up"])  # some backends load their weights lazily
    load_s = time.perf_counter() - started
    report = Indexer(settings, embedder).rebuild([corpus])
    latencies = []
    for text in queries:
        started = time.perf_counter()
        embedder.embed_queries([text])
        latencies.append(time.perf_counter() - started)
    p50, p95 = p50_p95(latencies)
    return {
        "load_s": load_s,
        "documents": report.documents,
        "chunks": report.chunks,
        "index_s": report.seconds,
        "chunks_per_s": report.chunks / report.seconds,
        "documents_per_s": report.documents / report.seconds,
        "query_p50_ms": p50 * 1000,
        "query_p95_ms": p95 * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--models", default="all-MiniLM-L6-v2,multilingual-e5-small")
    parser.add_argument("--limit", type=int, default=0, help="first N records of a JSONL corpus")
    parser.add_argument("--queries", type=Path, help="queries.jsonl or .txt (default: examples/queries.txt)")
    parser.add_argument("-n", type=int, default=100, help="queries to embed per model")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from indexer.runtime import configure_threads

    threads = configure_threads(args.threads)
    queries = read_queries(args.queries, args.n)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = first_records(args.corpus, args.limit, Path(tmp))
        for model in args.models.split(","):
            results[model] = measure(model.strip(), corpus, queries, threads, Path(tmp))

    print(f"corpus {args.corpus}" + (f" (first {args.limit} records)" if args.limit else ""))
    print(f"threads {threads}, {len(queries)} queries embedded one at a time")
    header = f"{'model':<24} {'load s':>7} {'docs':>6} {'chunks':>7} {'index s':>8} {'chunks/s':>9}"
    print(header + f" {'docs/s':>7} {'query p50 ms':>13} {'p95 ms':>7}")
    for model, r in results.items():
        print(
            f"{model:<24} {r['load_s']:7.1f} {r['documents']:6.0f} {r['chunks']:7.0f} {r['index_s']:8.1f} "
            f"{r['chunks_per_s']:9.1f} {r['documents_per_s']:7.2f} {r['query_p50_ms']:13.1f} "
            f"{r['query_p95_ms']:7.1f}"
        )


if __name__ == "__main__":
    main()
