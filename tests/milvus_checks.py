"""One walk through every operation on a Milvus store, shared by the Milvus Lite tests (in
process) and the Milvus server scenario (in a network namespace). Returns what it measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from indexer.config import Settings, load_settings
from indexer.embedders import Embedder
from indexer.maintenance import delete_documents
from indexer.milvus_index import MilvusVectorIndex, connect
from indexer.pipeline import Indexer
from indexer.snapshot import IndexSnapshot
from search.filters import parse_filters
from search.searcher import Searcher, SearchRequest
from search.service import index_stats

WORDS = "cell gene tumour immune virus heart ocean carbon river forest market bank star galaxy".split()
TOPICS = ("bio", "earth", "money", "space")


def write_records(path: Path, n_docs: int, seed: int = 3, changed: dict[int, str] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_docs):
        text = " ".join(rng.choice(WORDS, int(rng.integers(6, 30)))) + f" item{i}"
        text = (changed or {}).get(i, text)
        lines.append(
            json.dumps({"_id": f"r{i}", "title": f"record {i}", "text": text, "topic": TOPICS[i % 4]})
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    hits = [
        len(set(g[g >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, int((t >= 0).sum()))
        for g, t in zip(got, truth, strict=True)
    ]
    return float(np.mean(hits))


def milvus_count(index: IndexSnapshot) -> int:
    vectors = index.vectors
    assert isinstance(vectors, MilvusVectorIndex)
    rows = vectors.client.query(
        vectors.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
    )
    return int(rows[0]["count(*)"])


def exercise_store(out: Path, store: str, embedder: Embedder, n_docs: int) -> dict[str, Any]:
    corpus = write_records(out / "docs" / "records.jsonl", n_docs)
    settings: Settings = load_settings(None, {"index_dir": str(out / "index"), "index.vector_store": store})
    result: dict[str, Any] = {}
    Indexer(settings, embedder).index([corpus])
    queries = embedder.embed_queries([" ".join(np.random.default_rng(q).choice(WORDS, 4)) for q in range(40)])
    index = IndexSnapshot.open(settings.index_dir, settings.index)
    exact = index.vectors.rebuilt_as("flat")
    result["recall_at_10"] = recall(index.vectors.search(queries, 10).ids, exact.search(queries, 10).ids)
    allowed = index.store.chunk_ids_where(
        "json_extract(d.metadata, '$.topic') = ?", ["bio"], index.generation
    )
    filtered = index.vectors.search(queries, 10, allowed)
    result["filtered_recall_at_10"] = recall(filtered.ids, exact.search(queries, 10, allowed).ids)
    result["filtered_all_allowed"] = bool(np.isin(filtered.ids, allowed).all())
    result["filtered_hits"] = int((filtered.ids >= 0).sum(axis=1).min())
    result["count"], result["milvus_count"] = index.vectors.count(), milvus_count(index)
    searcher = Searcher(index, embedder, settings)
    request = SearchRequest(
        "gene tumour", k=10, mode="semantic", filters=parse_filters({"topic": "money"}, ["topic"])
    )
    hits = searcher.search(request).hits
    result["searcher_filtered_hits"] = len(hits)
    top = searcher.search(SearchRequest("gene tumour", k=5, mode="semantic")).hits
    victim = top[0].doc_id
    index.close()

    delete_documents(settings, [victim], None)
    index = IndexSnapshot.open(settings.index_dir, settings.index)
    after = (
        Searcher(index, embedder, settings).search(SearchRequest("gene tumour", k=20, mode="semantic")).hits
    )
    result["deleted_gone"] = victim not in {h.doc_id for h in after}
    result["count_after_delete"], result["milvus_after_delete"] = index.vectors.count(), milvus_count(index)
    index.close()

    write_records(corpus, n_docs + 1, changed={5: "zebraquark galaxy"})  # one changed, one new
    report = Indexer(settings, embedder).index([corpus])
    result["incremental"] = {"added": report.added, "updated": report.updated, "removed": report.removed}
    old_reader = IndexSnapshot.open(settings.index_dir, settings.index)
    top = (
        Searcher(old_reader, embedder, settings)
        .search(SearchRequest("zebraquark", k=1, mode="semantic"))
        .hits
    )
    result["changed_found"] = bool(top) and top[0].doc_id == "r5"
    result["count_after_update"], result["milvus_after_update"] = (
        old_reader.vectors.count(),
        milvus_count(old_reader),
    )

    Indexer(settings, embedder).rebuild([corpus])  # a new collection, then the alias moves
    new = IndexSnapshot.open(settings.index_dir, settings.index)
    assert isinstance(new.vectors, MilvusVectorIndex) and isinstance(old_reader.vectors, MilvusVectorIndex)
    result["rebuild_new_collection"] = new.vectors.collection != old_reader.vectors.collection
    still = old_reader.vectors.search(queries, 10)
    result["old_reader_recall"] = recall(
        still.ids, old_reader.vectors.rebuilt_as("flat").search(queries, 10).ids
    )
    result["new_recall"] = recall(
        new.vectors.search(queries, 10).ids, new.vectors.rebuilt_as("flat").search(queries, 10).ids
    )
    client = new.vectors.client
    result["alias_target"] = client.list_aliases(new.vectors.collection).get("aliases", [])
    result["new_collection"] = new.vectors.collection
    result["stats_index_type"] = index_stats(settings.index_dir, settings.index)["index_type"]
    old_reader.close()
    new.close()
    probe = connect(new.vectors.target)
    result["collections"] = sorted(probe.list_collections())
    probe.close()
    return result
