"""Indexing throughput vs the bare model encode of the same chunks, in one run.

    python -m benchmarks.indexing_throughput PATH [--model NAME] [--backend B] [--limit N]
                                             [--batch-size N] [--threads N] [--no-torch]

Builds a fresh index of PATH (the first N records of a .jsonl with --limit) with
`Indexer.rebuild` (read, chunk, embed, SQLite, segments, postings, fsync, publish), and encodes
exactly the same chunk texts with the same embedder alone just before and just after it, and with a bare
`SentenceTransformer.encode` (torch) of the same model unless --no-torch. The ratios are the
engine's overhead over its own backend, and its speed against the plain torch encode a user
would otherwise run; all figures come from the same process and minutes.
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
    parser.add_argument("--backend", default="auto", help="model.backend (auto: onnx on CPU)")
    parser.add_argument("--limit", type=int, default=0, help="index only the first N records of a .jsonl")
    parser.add_argument("--no-torch", action="store_true", help="skip the bare torch encode")
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
        path = args.path
        if args.limit:
            path = Path(tmp) / "corpus" / args.path.name
            path.parent.mkdir()
            with open(args.path, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as out:
                for _, line in zip(range(args.limit), source, strict=False):
                    out.write(line)
        overrides = {
            "index_dir": str(Path(tmp) / "idx"),
            "model.name": args.model,
            "model.backend": args.backend,
            "model.batch_size": args.batch_size,
        }
        settings = load_settings(None, overrides)
        started = time.perf_counter()
        embedder = create_embedder(settings.model, threads)
        load_s = time.perf_counter() - started

        indexer = Indexer(settings, embedder)
        files = discover_files(path, settings.loader, lambda _p, _why: None)
        documents = [doc for path in files for doc in read_file(path, settings.loader) if doc.text.strip()]
        texts = [text for doc in documents for text in indexer.prepare(doc)[1]]
        # The bare encode runs before and after the pipeline: on a shared machine the same calls
        # drift by several percent within minutes, and bracketing shows how much.
        bare_before = _bare_encode(embedder, texts)
        report = indexer.rebuild([path])
        bare_after = _bare_encode(embedder, texts)
        assert len(texts) == report.chunks, (len(texts), report.chunks)
        bare_s = (bare_before + bare_after) / 2
        batch = settings.model.batch_size
        torch_s = None if args.no_torch else _torch_encode(args.model, texts, batch, threads)

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
    print(
        f"bare encode      {bare_s:8.1f} s  {n / bare_s:8.1f} chunks/s  (same backend; mean of "
        f"{bare_before:.1f} s before and {bare_after:.1f} s after the pipeline)"
    )
    print(f"ratio            {report.seconds / bare_s:8.2f} x the time of its own backend's bare encode")
    if torch_s is not None:
        print(f"bare torch       {torch_s:8.1f} s  {n / torch_s:8.1f} chunks/s  (SentenceTransformer.encode)")
        print(f"speed-up         {torch_s / report.seconds:8.2f} x the bare torch encode's throughput")


def _bare_encode(embedder: object, texts: list[str]) -> float:
    """Seconds for the engine's own embedder to encode `texts` alone."""
    started = time.perf_counter()
    embedder.embed_documents(texts)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def _torch_encode(model: str, texts: list[str], batch_size: int, threads: int) -> float:
    """Seconds for a plain SentenceTransformer.encode of `texts` (what a user would write)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from indexer.embedders import resolve_model_path

    torch.set_num_threads(threads)
    encoder = SentenceTransformer(resolve_model_path(model)[0], device="cpu")
    encoder.encode(texts[:8], batch_size=batch_size)
    started = time.perf_counter()
    encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
