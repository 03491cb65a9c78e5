"""Scale-out figures: a rebuild with and without Ray, and query latency on FAISS vs Milvus.

    python -m benchmarks.scale_out rebuild --dataset ../shared/data/scifact --index-dir IDX \
        --engine local|ray [--limit N] [--model hashing]
    python -m benchmarks.scale_out query --dataset ../shared/data/scifact --index-dir IDX [-n 300]

`rebuild` times `Indexer.rebuild` of the dataset's corpus.jsonl (the first N records with
--limit) with the default model, Ray included (its start, the actors' model loads). `query`
copies the FAISS-built index's live generation into a Milvus Lite file and into a Milvus
standalone server it starts (PyPI `milvus`, a temp dir), then times the same semantic queries
(vectors embedded beforehand: the figure is the search, not the model) on the three stores,
with recall@10 against exact search. Ray and the Milvus server bind every interface: run both
inside a network namespace with only loopback, as README's commands do.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np


def _settings(index_dir: Path, **extra: Any) -> Any:
    from indexer.config import load_settings

    return load_settings(None, {"index_dir": str(index_dir), **extra})


def rebuild(dataset: Path, index_dir: Path, engine_kind: str, limit: int, model: str) -> dict[str, Any]:
    from indexer.embedders import create_embedder
    from indexer.pipeline import Indexer

    corpus = dataset / "corpus.jsonl"
    if limit:
        subset = Path(tempfile.mkdtemp(prefix="scale-")) / "corpus.jsonl"
        with corpus.open(encoding="utf-8") as source:
            subset.write_text("".join(islice(source, limit)), encoding="utf-8")
        corpus = subset
    settings = _settings(index_dir, **{"engine.kind": engine_kind, "model.name": model})
    messages: list[str] = []
    started = time.perf_counter()
    embedder = create_embedder(settings.model)
    engine = None
    if engine_kind == "ray":
        from indexer.ray_engine import RayEngine

        engine = RayEngine(settings, embedder, warn=messages.append)
    indexer = Indexer(settings, embedder, warn=messages.append, engine=engine)
    try:
        report = indexer.rebuild([corpus])
    finally:
        indexer.engine.close()
    seconds = time.perf_counter() - started
    from indexer.layout import IndexLayout

    layout = IndexLayout(index_dir)
    live = layout.current()
    per_chunk = max(report.chunks, 1)
    return {
        "catalog_bytes_per_chunk": round(layout.catalog_path(live).stat().st_size / per_chunk),
        "index_bytes_per_chunk": round(layout.size_on_disk(live) / per_chunk),
        "engine": engine_kind,
        "documents": report.documents,
        "chunks": report.chunks,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(report.chunks / seconds, 1),
        "messages": messages,
    }


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _time_store(settings: Any, queries: list[str], vectors: np.ndarray, embedder: Any) -> dict[str, Any]:
    from indexer.snapshot import IndexSnapshot
    from search.searcher import Searcher, SearchRequest

    index = IndexSnapshot.open(settings.index_dir, settings.index, settings.search)
    try:
        index.warm()
        exact = index.vectors.rebuilt_as("flat")
        ann, full = [], []
        found = []
        for vector in vectors:
            started = time.perf_counter()
            hits = index.vectors.search(vector[None, :], 40)  # the Searcher's pool for k=10
            ann.append(time.perf_counter() - started)
            found.append(hits.ids[0][:10])
        truth = exact.search(vectors, 10).ids
        recall = np.mean(
            [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
        )
        searcher = Searcher(index, embedder, settings)
        searcher.embed_queries(queries)  # cached: the timings below are search only
        for query in queries:
            started = time.perf_counter()
            searcher.search(SearchRequest(query, k=10, mode="semantic"))
            full.append(time.perf_counter() - started)
        return {
            "store": index.vectors.describe(),
            "ann_p50_ms": _p50(ann),
            "semantic_search_p50_ms": _p50(full),
            "recall_at_10": round(float(recall), 4),
        }
    finally:
        index.close()


def query(dataset: Path, index_dir: Path, n: int) -> dict[str, Any]:
    from milvus import default_server

    from indexer.embedders import create_embedder
    from indexer.layout import IndexLayout
    from indexer.milvus_sync import MilvusMirror
    from indexer.runtime import configure_threads
    from indexer.segments import SegmentSet

    configure_threads(1, serving_queries=True)
    lines = (dataset / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["text"] for line in lines if line.strip()][:n]
    settings = _settings(index_dir)
    embedder = create_embedder(settings.model, 1)
    vectors = embedder.embed_queries(queries)
    results = [_time_store(settings, queries, vectors, embedder)]
    home = Path(tempfile.mkdtemp(prefix="milvus-"))
    default_server.set_base_dir(str(home / "server"))
    default_server.start()
    try:
        stores = [str(home / "lite.db"), f"milvus://127.0.0.1:{default_server.listen_port}/bench"]
        layout = IndexLayout(index_dir)
        live = layout.current()
        for store in stores:
            milvus = _settings(index_dir, **{"index.vector_store": store})
            segments = SegmentSet.open(layout.segments, live.segments, live.embedder.dim, milvus.index)
            mirror = MilvusMirror(milvus.index, layout, live)
            started = time.perf_counter()
            mirror.sync(live, segments)
            loaded = time.perf_counter() - started
            mirror.close()
            for level in ("Strong", "Bounded") if store.startswith("milvus://") else ("Strong",):
                at_level = _settings(
                    index_dir, **{"index.vector_store": store, "index.milvus_consistency": level}
                )
                result = _time_store(at_level, queries, vectors, embedder)
                result |= {"load_s": round(loaded, 1), "consistency": level}
                results.append(result)
    finally:
        default_server.stop()
    return {"queries": len(queries), "chunks": live.chunks, "stores": results}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("rebuild", "query"))
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--limit", type=int, default=0, help="rebuild only the first N records")
    parser.add_argument("-n", type=int, default=300, help="queries to time")
    parser.add_argument(
        "--model", default="all-MiniLM-L6-v2", help="rebuild: the embedder (hashing: the writer alone)"
    )
    args = parser.parse_args()
    if args.what == "rebuild":
        print(json.dumps(rebuild(args.dataset, args.index_dir, args.engine, args.limit, args.model)))
    else:
        print(json.dumps(query(args.dataset, args.index_dir, args.n)))


if __name__ == "__main__":
    main()
