"""`semsearch eval`: index a BEIR dataset, run its judged queries, report quality and speed.

The queries go through the same Searcher the CLI and the API use (batched `search_many`,
documents collapsed to their best chunk, depth 100), so the numbers are what a user gets.

Where the index lives: `--index-dir` when given (it must be empty or hold this same dataset,
so eval never overwrites someone's real index), else `<index_dir>/../eval-indexes/
<dataset>-<model>`. An index built from the same corpus file with the same chunking is reused
(indexing is incremental, so an unchanged corpus costs nothing); different chunking rebuilds it.
When the configured ANN type differs from the one on disk (e.g. `index.type: hnsw` over an
index built flat), the configured index is built in memory from the stored vectors: the
vectors are the same, so there is no need to embed the corpus again.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from indexer import ann
from indexer.config import Settings
from indexer.embedders import Embedder
from indexer.errors import SemsearchError
from indexer.layout import IndexLayout
from indexer.pipeline import Indexer, IndexReport
from indexer.progress import ProgressLines
from indexer.snapshot import IndexSnapshot
from search.beir import Dataset, count_records, load_dataset
from search.ir_metrics import evaluate
from search.searcher import Mode, Searcher, SearchRequest

Warn = Callable[[str], None]
DEPTH = 100  # documents retrieved per query: enough for Recall@100
BATCH = 64  # queries embedded together, as a busy server would
LATENCY_PROBES = 50  # single queries embedded one by one for the embedding latency


def model_slug(model_id: str) -> str:
    """'sentence-transformers/all-MiniLM-L6-v2' -> 'all-minilm-l6-v2'."""
    return re.sub(r"[^a-z0-9]+", "-", model_id.rsplit("/", 1)[-1].lower()).strip("-")


def default_index_dir(settings: Settings, dataset: str, embedder: Embedder) -> Path:
    return Path(settings.index_dir).parent / "eval-indexes" / f"{dataset}-{model_slug(embedder.model_id)}"


def _eval_settings(settings: Settings, index_dir: Path, dataset: Dataset) -> Settings:
    """The user's settings, with room for depth-100 runs and the dataset's longest query."""
    longest = max((len(q) for q in dataset.queries.values()), default=0)
    search = settings.search.model_copy(
        update={
            "max_k": max(settings.search.max_k, DEPTH),
            "max_query_chars": max(settings.search.max_query_chars, longest),
        }
    )
    return settings.model_copy(update={"index_dir": index_dir, "search": search})


def _prepare_index(
    settings: Settings, embedder: Embedder, dataset: Dataset, explicit: bool, warn: Warn, progress: bool
) -> tuple[IndexReport, str]:
    """Index the corpus into settings.index_dir; (report, "built" | "updated" | "reused")."""
    indexer = Indexer(settings, embedder, warn=warn, progress=ProgressLines(warn) if progress else None)
    layout = IndexLayout(settings.index_dir)
    wanted_chunking = indexer.chunking_info()
    if layout.current_name() is None:
        return indexer.rebuild([dataset.corpus]), "built"
    manifest = layout.current()
    if list(manifest.roots) != [str(Path(dataset.corpus).resolve())]:
        if explicit:
            raise SemsearchError(
                f"{settings.index_dir} holds an index of other files; give eval an empty "
                "--index-dir (or leave it out to use a per-dataset one)"
            )
        warn(f"{settings.index_dir} was built from other files: rebuilding it")
        return indexer.rebuild([dataset.corpus]), "built"
    if manifest.chunking != wanted_chunking:
        warn(f"chunking changed ({manifest.chunking} -> {wanted_chunking}): rebuilding")
        return indexer.rebuild([dataset.corpus]), "built"
    report = indexer.index([dataset.corpus])
    return report, ("updated" if report.published else "reused")


def _with_configured_ann(index: IndexSnapshot, settings: Settings, warn: Warn) -> tuple[IndexSnapshot, str]:
    """The index with the ANN type the settings ask for (one segment built in memory if the
    segments on disk are of another kind)."""
    kinds = {segment.kind for segment in index.manifest.segments}
    wanted = ann.choose_index_type(index.vectors.count(), settings.index)
    if kinds == {wanted}:
        return index, wanted
    warn(f"the index on disk is {', '.join(sorted(kinds)) or 'empty'}; building {wanted} in memory")
    return _with_ann(index, wanted), wanted


def _with_ann(index: IndexSnapshot, kind: str) -> IndexSnapshot:
    return replace(index, vectors=index.vectors.rebuilt_as(kind))


def _run_queries(
    searcher: Searcher, dataset: Dataset, mode: Mode, progress: bool
) -> tuple[dict[str, list[str]], list[float]]:
    """(query id -> ranked doc ids, per-query latency in ms)."""
    items = [(q, text) for q, text in dataset.queries.items() if text.strip()]
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="query", desc=f"{mode} queries", leave=False)
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        requests = [SearchRequest(text, k=DEPTH, mode=mode, collapse=True) for _, text in batch]
        for (query_id, _), result in zip(batch, searcher.search_many(requests), strict=True):
            run[query_id] = [hit.doc_id for hit in result.hits]
            latencies.append(result.took_ms)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return run, latencies


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "mean": round(statistics.fmean(ordered), 2),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
    }


def _embedding_latency(embedder: Embedder, queries: Sequence[str]) -> dict[str, float]:
    """One query at a time, as an interactive user sends them (no batching to hide behind)."""
    timings = []
    for text in queries[:LATENCY_PROBES]:
        started = time.perf_counter()
        embedder.embed_queries([text])
        timings.append((time.perf_counter() - started) * 1000)
    return _summary(timings)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}


def run_evaluation(
    settings: Settings,
    embedder: Embedder,
    dataset_dir: Path,
    mode: str = "hybrid",
    split: str = "test",
    max_queries: int = 0,
    exact_baseline: bool = False,
    warn: Warn = lambda _m: None,
    progress: bool = False,
    index_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate one mode on one dataset; `index_dir` None picks the per-dataset default."""
    dataset = load_dataset(dataset_dir, split).limited(max_queries)
    if dataset.missing_queries:
        warn(f"{len(dataset.missing_queries)} judged queries are not in queries.jsonl; skipped")
    if not dataset.queries:
        raise SemsearchError(f"{dataset_dir}: no judged queries in qrels/{split}.tsv")
    target = Path(index_dir) if index_dir else default_index_dir(settings, dataset.name, embedder)
    settings = _eval_settings(settings, target, dataset)
    index_report, index_state = _prepare_index(
        settings, embedder, dataset, index_dir is not None, warn, progress
    )

    index = IndexSnapshot.open(settings.index_dir, settings.index, settings.search)
    try:
        records = count_records(dataset.corpus)
        _check_coverage(index.manifest.documents, records, dataset.corpus, warn)
        index, index_type = _with_configured_ann(index, settings, warn)
        searcher = Searcher(index, embedder, settings)
        run, latencies = _run_queries(searcher, dataset, mode, progress)  # type: ignore[arg-type]
        metrics = _rounded(evaluate(run, dataset.qrels))
        report: dict[str, Any] = {
            "dataset": dataset.name,
            "split": split,
            "mode": mode,
            **metrics,
            "queries": len(dataset.qrels),
            "documents": index.manifest.documents,
            "corpus_records": records,
            "chunks": index.vectors.count(),
            "model": embedder.model_id,
            "backend": embedder.backend,
            "index_type": index_type,
            "fusion": settings.search.fusion if mode == "hybrid" else None,
            "index_dir": str(settings.index_dir),
            "indexing": _indexing(index_report, index_state),
            "latency_ms": _summary(latencies),
            "query_embedding_ms": (
                _embedding_latency(embedder, list(dataset.queries.values())) if mode != "keyword" else None
            ),
        }
        if exact_baseline:
            report["exact"] = _exact(index, embedder, settings, dataset, mode, metrics, index_type)
    finally:
        index.close()
    return report


def _check_coverage(documents: int, records: int, corpus: Path, warn: Warn) -> None:
    """Scores over a partial index are not the dataset's scores: fail on none, warn on fewer."""
    if documents == 0:
        raise SemsearchError(
            f"the index built from {corpus} holds 0 of its {records} records: nothing to evaluate "
            "(see the skipped-record warnings above)"
        )
    if documents < records:
        warn(
            f"WARNING: the index holds {documents} of the corpus's {records} records "
            f"({records - documents} skipped): these scores are not comparable with published ones"
        )


def _indexing(report: IndexReport, state: str) -> dict[str, Any]:
    rate = report.chunks_embedded / report.embed_seconds if report.embed_seconds else None
    return {
        "state": state,
        "seconds": round(report.seconds, 1),
        "chunks_embedded": report.chunks_embedded,
        "embed_seconds": round(report.embed_seconds, 1),
        "chunks_per_second": round(rate, 1) if rate else None,
    }


def _exact(
    index: IndexSnapshot,
    embedder: Embedder,
    settings: Settings,
    dataset: Dataset,
    mode: str,
    ann_metrics: dict[str, float],
    index_type: str,
) -> dict[str, Any]:
    """The same run over exact (flat) search; the gap is what the ANN index costs."""
    flat = index if index_type == "flat" else _with_ann(index, "flat")
    run, _ = _run_queries(Searcher(flat, embedder, settings), dataset, mode, progress=False)  # type: ignore[arg-type]
    metrics = _rounded(evaluate(run, dataset.qrels))
    return {
        **metrics,
        "recall@100_gap": round(metrics["recall@100"] - ann_metrics["recall@100"], 4),
        "ndcg@10_gap": round(metrics["ndcg@10"] - ann_metrics["ndcg@10"], 4),
    }


def format_report(report: dict[str, Any]) -> str:
    """A few aligned lines for people; --json gives the whole report."""
    indexing = report["indexing"]
    if indexing["state"] == "reused":
        built = "reused (nothing to embed)"
    else:
        rate = indexing["chunks_per_second"]
        built = (
            f"{indexing['state']} in {indexing['seconds']} s, {indexing['chunks_embedded']} chunks "
            f"embedded" + (f" at {rate} chunks/s" if rate else "")
        )
    latency = report["latency_ms"]
    lines = [
        f"dataset     {report['dataset']} ({report['split']}, {report['queries']} queries, "
        f"{report['documents']} documents, {report['chunks']} chunks)",
        f"mode        {report['mode']}" + (f" (fusion: {report['fusion']})" if report["fusion"] else ""),
        f"model       {report['model']} ({report['backend']}), index {report['index_type']}",
        f"nDCG@10     {report['ndcg@10']:.4f}",
        f"Recall@10   {report['recall@10']:.4f}",
        f"Recall@100  {report['recall@100']:.4f}",
        f"MRR@10      {report['mrr@10']:.4f}",
        f"indexing    {built}",
        f"latency     {latency['mean']} ms mean, {latency['p50']} p50, {latency['p95']} p95 per query "
        f"(batches of {BATCH})",
    ]
    if report.get("query_embedding_ms"):
        embed = report["query_embedding_ms"]
        lines.append(f"query embed {embed['mean']} ms mean, {embed['p50']} p50 (one query at a time)")
    if "exact" in report:
        exact = report["exact"]
        lines.append(
            f"exact       nDCG@10 {exact['ndcg@10']:.4f}, Recall@100 {exact['recall@100']:.4f}; "
            f"ANN Recall@100 gap {exact['recall@100_gap']:+.4f}"
        )
    lines.append(f"index dir   {report['index_dir']}")
    return "\n".join(lines)
