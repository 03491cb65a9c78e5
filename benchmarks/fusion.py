"""Hybrid fusion methods side by side on one index: nDCG@10 of every method, and of each side.

    python -m benchmarks.fusion --dataset ../shared/data/scifact --index-dir IDX [--model NAME]

The index is one `semsearch eval` built (same dataset, same model). Each query's dense and
keyword lists (`search.candidates` documents each, as the Searcher fuses them; `--depths
100,200,400` compares several) are computed once per depth; every fusion method in
search/fusion.py then fuses the same lists, so the comparison isolates the fusion.
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
    parser.add_argument(
        "--depths", default="", help="comma-separated search.candidates to compare (default: the config's)"
    )
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
    ids, texts = list(dataset.queries), list(dataset.queries.values())
    vectors = Searcher(index, embedder, settings).embed_queries(texts)
    print(f"{dataset.name}: {len(ids)} queries, model {embedder.model_id}")

    def ndcg(run: dict[str, list[str]]) -> float:
        return evaluate(run, dataset.qrels)["ndcg@10"]

    depths = [int(d) for d in args.depths.split(",") if d] or [settings.search.candidates]
    for depth in depths:
        search = settings.search.model_copy(update={"candidates": depth})
        searcher = Searcher(index, embedder, settings.model_copy(update={"search": search}))
        lists = []
        for text in texts:
            dense, keyword, complete = searcher.candidates(
                SearchRequest(text, k=10, mode="hybrid"), vectors[text]
            )
            lists.append(([(r.key, r.score) for r in dense], [(r.key, r.score) for r in keyword], complete))
        semantic = ndcg({q: [d for d, _ in lists[i][0]] for i, q in enumerate(ids)})
        keyword = ndcg({q: [d for d, _ in lists[i][1]] for i, q in enumerate(ids)})
        better = max(semantic, keyword)
        print(f"  candidates {depth}: semantic {semantic:.4f}   keyword {keyword:.4f}")
        for name in FUSIONS:
            run = {
                q: fuse(name, *lists[i][:2], searcher.dense_weight(text), search, lists[i][2])[:100]
                for i, (q, text) in enumerate(zip(ids, texts, strict=True))
            }
            value = ndcg(run)
            flag = "" if value >= better - 1e-4 else f"  below the better side by {better - value:.4f}"
            default = "  (default)" if name == search.fusion else ""
            print(f"    {name:<12} {value:.4f}{flag}{default}")
    index.close()


if __name__ == "__main__":
    main()
