"""Embedding throughput by batch size, for choosing `model.batch_size` per embedder.

    python -m benchmarks.batch_size [--model NAME] [--corpus FILE.jsonl] [--n 512] [--threads N]

Encodes the same n passages (BEIR corpus.jsonl texts, or the sample corpus) at each batch size,
interleaving the sizes over two rounds so a noisy neighbour hits them alike; prints chunks/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SIZES = (1, 8, 16, 32, 64, 128)


def passages(corpus: Path | None, n: int) -> list[str]:
    if corpus is None:
        corpus = (
            Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
        )
    texts = []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(f"{record.get('title', '')}\n{record['text']}"[:1500])
            if len(texts) == n:
                break
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from indexer.runtime import configure_threads

    threads = configure_threads(args.threads)
    from indexer.config import load_settings
    from indexer.embedders import create_embedder

    texts = passages(args.corpus, args.n)
    results: dict[int, list[float]] = {size: [] for size in SIZES}
    embedders = {}
    for size in SIZES:
        settings = load_settings(None, {"model.name": args.model, "model.batch_size": size})
        embedders[size] = create_embedder(settings.model, threads)
    embedders[SIZES[-1]].embed_documents(texts[:32])  # warm up
    for _round in range(2):
        for size in SIZES:
            sample = texts if size > 1 else texts[: max(32, args.n // 8)]
            started = time.perf_counter()
            embedders[size].embed_documents(sample)
            results[size].append(len(sample) / (time.perf_counter() - started))
    model_id = embedders[SIZES[0]].model_id
    print(f"{model_id}, {len(texts)} passages, threads {threads}")
    for size in SIZES:
        print(f"batch {size:>4}: {max(results[size]):8.1f} chunks/s (best of 2)")


if __name__ == "__main__":
    main()
