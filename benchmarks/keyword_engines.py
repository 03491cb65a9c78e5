"""Keyword engines side by side on the same chunks, terms and queries: latency and nDCG@10.

    python -m benchmarks.keyword_engines --dataset ../shared/data/scifact --index-dir IDX

IDX is an index of the dataset (e.g. the one `semsearch eval` built). Every engine indexes the
chunks of that index as *our analyser* produced their terms (folded, stemmed words; CJK
unigrams + bigrams), title and text, and answers the same OR-of-terms queries, so the figures
compare the engines, not their tokenisers:
- semsearch: BM25 over the segments' postings (the index as it is on disk);
- SQLite FTS5 (what semsearch used before), an in-memory table, `bm25()` with title weight 1;
- tantivy (Rust, via tantivy-py) and bm25s (numpy/scipy sparse), when installed
  (`pip install tantivy bm25s`: benchmark-only, never runtime dependencies).
Latency is one query at a time, one thread, the engine's own search call only (chunk ids back),
p50 / p95 over all test queries; nDCG@10 collapses chunks to documents by best chunk.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from indexer.runtime import configure_threads

Search = Callable[[list[str], int], list[int]]  # (query terms, limit) -> chunk ids best first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--depth", type=int, default=400, help="chunks asked of each engine per query")
    args = parser.parse_args()
    configure_threads(1, serving_queries=True)

    from indexer.analysis import index_terms, search_terms
    from indexer.config import Settings
    from indexer.keyword_index import Bm25KeywordIndex
    from indexer.snapshot import IndexSnapshot
    from indexer.store import visible
    from search.beir import load_dataset
    from search.ir_metrics import evaluate

    dataset = load_dataset(args.dataset)
    settings = Settings(index_dir=args.index_dir)
    index = IndexSnapshot.open(settings.index_dir, settings.index, settings.search)
    index.warm()
    rows = index.store.execute(
        "SELECT c.id, d.id, d.title, c.text FROM chunks c JOIN documents d ON d.key = c.doc_key "
        f"WHERE {visible(index.generation)} ORDER BY c.id"
    ).fetchall()
    doc_of = {chunk_id: doc_id for chunk_id, doc_id, _, _ in rows}
    analysed = [(cid, index_terms(title), index_terms(text)) for cid, _, title, text in rows]
    queries = [(qid, search_terms(text)) for qid, text in dataset.queries.items()]
    print(f"{dataset.name}: {len(rows)} chunks, {len(queries)} queries, depth {args.depth}")

    keywords = index.keywords
    assert isinstance(keywords, Bm25KeywordIndex)

    def ours(terms: list[str], limit: int) -> list[int]:
        return [cid for cid, _ in keywords.search_terms(terms, limit)]

    engines: dict[str, Search] = {"semsearch (segments)": ours}
    engines["SQLite FTS5"] = _fts5(analysed)
    for name, build in (("tantivy", _tantivy), ("bm25s", _bm25s)):
        try:
            engines[name] = build(analysed, settings.search)
        except ImportError:
            print(f"  {name}: not installed (pip install {name}), skipped")

    print(f"  {'engine':<22} {'p50 ms':>8} {'p95 ms':>8} {'nDCG@10':>8}")
    baseline = None
    for name, search in engines.items():
        latencies, run = [], {}
        for qid, terms in queries:
            started = time.perf_counter()
            chunk_ids = search(terms, args.depth) if terms else []
            latencies.append((time.perf_counter() - started) * 1000)
            seen: dict[str, None] = {}
            for cid in chunk_ids:
                seen.setdefault(doc_of[cid], None)
            run[qid] = list(seen)[:100]
        ordered = sorted(latencies)
        p50, p95 = statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]
        baseline = baseline or p50
        ndcg = evaluate(run, dataset.qrels)["ndcg@10"]
        print(f"  {name:<22} {p50:8.2f} {p95:8.2f} {ndcg:8.4f}   ({p50 / baseline:.1f}x semsearch's p50)")
    index.close()


def _fts5(analysed: list[tuple[int, list[str], list[str]]]) -> Search:
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(title, body, tokenize='unicode61 remove_diacritics 0')")
    db.executemany(
        "INSERT INTO f(rowid, title, body) VALUES (?, ?, ?)",
        ((cid, " ".join(title), " ".join(body)) for cid, title, body in analysed),
    )

    def search(terms: list[str], limit: int) -> list[int]:
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f, 1.0, 1.0) LIMIT ?"
        return [r[0] for r in db.execute(sql, [match, limit])]

    return search


def _tantivy(analysed: list[tuple[int, list[str], list[str]]], _settings: object) -> Search:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("chunk", stored=True, fast=True)
    builder.add_text_field("title", tokenizer_name="whitespace")
    builder.add_text_field("body", tokenizer_name="whitespace")
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for cid, title, body in analysed:
        writer.add_document(tantivy.Document(chunk=cid, title=" ".join(title), body=" ".join(body)))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()

    def search(terms: list[str], limit: int) -> list[int]:
        query = index.parse_query(" ".join(terms), ["title", "body"])
        hits = searcher.search(query, limit).hits
        return [searcher.doc(address)["chunk"][0] for _, address in hits]

    return search


def _bm25s(analysed: list[tuple[int, list[str], list[str]]], settings: object) -> Search:
    import bm25s

    ids = [cid for cid, _, _ in analysed]
    retriever = bm25s.BM25(k1=settings.bm25_k1, b=settings.bm25_b)  # type: ignore[attr-defined]
    retriever.index([title + body for _, title, body in analysed], show_progress=False)
    vocabulary = retriever.vocab_dict

    def search(terms: list[str], limit: int) -> list[int]:
        known = [t for t in terms if t in vocabulary]
        if not known:
            return []
        docs, scores = retriever.retrieve([known], k=min(limit, len(ids)), show_progress=False, n_threads=1)
        return [ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    return search


if __name__ == "__main__":
    main()
