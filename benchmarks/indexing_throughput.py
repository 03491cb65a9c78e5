"""Indexing throughput vs the bare model encode of the same chunks, in one run.

    python -m benchmarks.indexing_throughput PATH [--model NAME] [--batch-size N] [--threads N]

Builds a fresh index of PATH with `Indexer.rebuild` (read, chunk, embed, SQLite, FAISS, fsync,
publish), then encodes exactly the same chunk texts with the embedder alone. The ratio is the
engine's overhead over the model; both figures come from the same process and minute.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from indexer.runtime import configure_threads

    threads = configure_threads(args.threads)
    from indexer.config import load_settings
    from indexer.documents import discover_files, read_file
    from indexer.embedders import create_embedder
    from indexer.pipeline import Indexer

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {
            "index_dir": str(Path(tmp) / "idx"),
            "model.name": args.model,
            "model.batch_size": args.batch_size,
        }
        settings = load_settings(None, overrides)
        started = time.perf_counter()
        embedder = create_embedder(settings.model, threads)
        load_s = time.perf_counter() - started

        indexer = Indexer(settings, embedder)
        report = indexer.rebuild([args.path])
        files = discover_files(args.path, settings.loader, lambda _p, _why: None)
        documents = [doc for path in files for doc in read_file(path, settings.loader) if doc.text.strip()]
        texts = [text for doc in documents for text in indexer.prepare(doc)[1]]
        assert len(texts) == report.chunks, (len(texts), report.chunks)

        started = time.perf_counter()
        embedder.embed_documents(texts)
        bare_s = time.perf_counter() - started

    n = report.chunks
    print(f"corpus           {args.path}  ({report.documents} documents, {n} chunks)")
    print(
        f"model            {embedder.model_id} [{embedder.backend}], batch {settings.model.batch_size}, "
        f"threads {threads}, load {load_s:.1f} s"
    )
    print(
        f"semsearch index  {report.seconds:8.1f} s  {n / report.seconds:8.1f} chunks/s "
        f"(embedding {report.embed_seconds:.1f} s of it)"
    )
    print(f"bare encode      {bare_s:8.1f} s  {n / bare_s:8.1f} chunks/s")
    print(f"ratio            {report.seconds / bare_s:8.2f} x the bare encode")


if __name__ == "__main__":
    main()
