"""Hybrid fusion methods side by side on one index: nDCG@10 of every method, and of each side.

    python -m benchmarks.fusion --dataset ../shared/data/scifact --index-dir IDX [--model NAME]

The index is one `semsearch eval` built (same dataset, same model). Each query's dense and
keyword lists (100 documents each, as the Searcher fuses them) are computed once; every fusion
method in search/fusion.py then fuses the same lists, so the comparison isolates the fusion.
"Never below the better side" is checked per dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from indexer.runtime import configure_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--model", default=None, help="default: the index's own model")
    parser.add_argument("--config", type=Path, default=None, help="settings to fuse under (search.bm25_*)")
    args = parser.parse_args()
    configure_threads(1, serving_queries=True)

    from indexer.config import load_settings
    from indexer.embedders import embedder_for
    from indexer.snapshot import IndexSnapshot
    from search.beir import load_dataset
    from search.fusion import FUSIONS, fuse
    from search.ir_metrics import evaluate
    from search.searcher import Searcher, SearchRequest

    dataset = load_dataset(args.dataset)
    settings = load_settings(args.config, {"index_dir": str(args.index_dir), "model.name": args.model})
    embedder = embedder_for(settings, 1, bool(args.model))
    index = IndexSnapshot.open(settings.index_dir, settings.index, settings.search)
    searcher = Searcher(index, embedder, settings)
    texts = list(dataset.queries.values())
    vectors = searcher.embed_queries(texts)
    sides: dict[str, list[list[tuple[str, float]]]] = {"semantic": [], "keyword": []}
    for text in texts:
        dense, keyword = searcher.candidates(SearchRequest(text, k=100, mode="hybrid"), vectors[text])
        sides["semantic"].append([(r.key, r.score) for r in dense])
        sides["keyword"].append([(r.key, r.score) for r in keyword])
    ids = list(dataset.queries)

    def ndcg(run: dict[str, list[str]]) -> float:
        return evaluate(run, dataset.qrels)["ndcg@10"]

    scores = {
        mode: ndcg({q: [d for d, _ in lists[i]] for i, q in enumerate(ids)}) for mode, lists in sides.items()
    }
    print(f"{dataset.name}: {len(ids)} queries, model {embedder.model_id}")
    print(f"  semantic {scores['semantic']:.4f}   keyword {scores['keyword']:.4f}")
    better = max(scores.values())
    for name in FUSIONS:
        run = {}
        for i, (q, text) in enumerate(zip(ids, texts, strict=True)):
            fused = fuse(
                name,
                sides["semantic"][i],
                sides["keyword"][i],
                searcher.dense_weight(text),
                settings.search,
            )
            run[q] = fused[:100]
        value = ndcg(run)
        flag = "" if value >= better - 1e-4 else f"  below the better side by {better - value:.4f}"
        print(f"  {name:<12} {value:.4f}{flag}")
    index.close()


if __name__ == "__main__":
    main()
