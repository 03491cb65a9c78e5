"""Embedders side by side, in one run.

Backends of the default model (torch sentence-transformers, onnx fp32, onnx int8):

    python -m benchmarks.embedders [--docs 300] [--queries 100] [--rounds 3] [--cache DIR]
    python -m benchmarks.embedders --recipes [--docs N] [--queries N]

On the first N SciFact documents (../shared/data/scifact, BEIR layout; the examples/ corpus
when absent), chunked to the model's token limit: one-query latency p50/p95 at 1 and 2
threads, document throughput at the indexing batch size (best of --rounds, backends
interleaved so a noisy neighbour hits them alike), ratios to torch, cosine of each chunk and
query vector to torch's, top-10 overlap of exact dense retrieval against torch, and the
import + load + first query time of each backend in a fresh process. The onnx export is timed
too (a fresh temporary cache unless --cache). `--recipes` compares the fp32 graphs (plain
export, fused) and the int8 quantization recipes of indexer/onnx_export.py instead.

Models, each indexed through the pipeline (chunk counts differ: documents/s is like for like):

    python -m benchmarks.embedders CORPUS [--models A,B] [--limit N] [--queries FILE] [-n 100]
                                          [--threads N]

CORPUS is a folder or a JSONL/CSV record file; `--limit` keeps the first N records of a JSONL file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from benchmarks.query_latency import p50_p95, read_queries

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact"
BACKENDS = {  # label: settings overrides
    "torch": {"model.backend": "sentence-transformers", "model.device": "cpu"},
    "onnx fp32": {"model.backend": "onnx", "model.onnx_precision": "fp32"},
    "onnx int8": {"model.backend": "onnx", "model.onnx_precision": "int8"},
}
LOAD_CHILD = """
import sys, time
started = time.perf_counter()
from indexer.runtime import configure_threads
threads = configure_threads(1, serving_queries=True)
ready = time.perf_counter()
from indexer.config import load_settings
from indexer.embedders import create_embedder
embedder = create_embedder(load_settings(None, dict(zip(sys.argv[1::2], sys.argv[2::2]))).model, threads)
embedder.embed_queries(["warm up"])
print(time.perf_counter() - ready, time.perf_counter() - started, "torch" in sys.modules)
"""


# --- backends of one model -------------------------------------------------------------------


def corpus_texts(docs: int, queries: int) -> tuple[list[tuple[str, str]], list[str], str]:
    """((title, text) of the first `docs` documents, the first `queries` queries, where from)."""
    if (SCIFACT / "corpus.jsonl").exists():
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
            records = [json.loads(line) for line in islice(handle, docs)]
        pairs = [(r.get("title", ""), r["text"]) for r in records]
        where = f"SciFact first {len(pairs)} documents"
        return pairs, read_queries(SCIFACT / "queries.jsonl", queries), where
    examples = REPO / "examples" / "corpus"
    with (examples / "records" / "articles.jsonl").open(encoding="utf-8") as handle:
        pairs = [(r["title"], r["text"]) for r in map(json.loads, handle)]
    for path in sorted(examples.glob("text/*.txt")):
        pairs.append((path.stem.replace("_", " "), path.read_text(encoding="utf-8")))
    return pairs[:docs], read_queries(None, queries), f"examples/ corpus ({len(pairs[:docs])} documents)"


def chunked(pairs: Sequence[tuple[str, str]], embedder: Any) -> list[str]:
    """Chunks as the indexer embeds them: the model's token limit, title in front of each."""
    from indexer.chunking import chunk_text

    chunks = []
    for title, text in pairs:
        budget = embedder.max_tokens - (embedder.count_tokens([title])[0] if title else 0)
        pieces = chunk_text(text, embedder.count_tokens, budget, 32)
        chunks += [f"{title}\n{c.text}" if title else c.text for c in pieces]
    return chunks


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def query_latencies(embedders: dict[str, Any], queries: list[str]) -> dict[str, list[float]]:
    """One query at a time, backends interleaved per query."""
    for embedder in embedders.values():
        for query in queries[:5]:
            embedder.embed_queries([query])
    times: dict[str, list[float]] = {label: [] for label in embedders}
    for query in queries:
        for label, embedder in embedders.items():
            times[label].append(timed(lambda e=embedder, q=query: e.embed_queries([q])))
    return times


def fresh_process_load(overrides: dict[str, str], cache: Path) -> tuple[float, float, bool]:
    """(import + build + first query s, the same from interpreter start s, torch imported)."""
    args = [str(x) for pair in overrides.items() for x in pair]
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_CHILD, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SEMSEARCH_CACHE": str(cache), "PYTHONPATH": str(REPO)},
    )
    load_s, total_s, torch = proc.stdout.split()
    return float(load_s), float(total_s), torch == "True"


def cosine_rows(a: Any, b: Any) -> Any:
    return (a * b).sum(axis=1)


def top_overlap(queries_a: Any, docs_a: Any, queries_b: Any, docs_b: Any, k: int = 10) -> float:
    """Mean share of the exact top-k chunks (by inner product) two backends agree on."""
    import numpy as np

    k = min(k, docs_a.shape[0])
    top_a = np.argsort(-(queries_a @ docs_a.T), axis=1)[:, :k]
    top_b = np.argsort(-(queries_b @ docs_b.T), axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)]))


def build(overrides: dict[str, str], threads: int, cache: Path) -> Any:
    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from indexer.onnx_embedder import OnnxEmbedder

    settings = load_settings(None, dict(overrides)).model
    if settings.backend == "onnx":
        return OnnxEmbedder(settings, threads, cache_root=cache)
    return create_embedder(settings, threads)


def compare_backends(args: argparse.Namespace, cache: Path) -> None:
    import numpy as np
    import torch

    load_before = os.getloadavg()[0]
    pairs, queries, source = corpus_texts(args.docs, args.queries)
    exports: dict[str, str] = {}
    by_threads: dict[int, dict[str, Any]] = {1: {}, 2: {}}
    for label, overrides in BACKENDS.items():
        record = cache_dir_of(cache) / f"model-{overrides.get('model.onnx_precision')}.json"
        how = "from the cache" if record.exists() else "export" if "fp32" in label else "quantize"
        for threads in (1, 2):
            started = time.perf_counter()
            by_threads[threads][label] = build(overrides, threads, cache)
            if threads == 1 and label != "torch":
                exports[label] = f"{label} {time.perf_counter() - started:.1f} s ({how})"
    chunks = chunked(pairs, by_threads[2]["torch"])
    latencies = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)  # torch's pool is per process, not per embedder
        latencies[threads] = query_latencies(by_threads[threads], queries)
    torch.set_num_threads(2)
    indexing = by_threads[2]
    for embedder in indexing.values():
        embedder.embed_documents(chunks[:64])
    best = {label: float("inf") for label in indexing}
    for _ in range(args.rounds):
        for label, embedder in indexing.items():
            best[label] = min(best[label], timed(lambda e=embedder: e.embed_documents(chunks)))
    vectors = {label: (e.embed_documents(chunks), e.embed_queries(queries)) for label, e in indexing.items()}
    loads = {label: fresh_process_load(overrides, cache) for label, overrides in BACKENDS.items()}

    ref_docs, ref_queries = vectors["torch"]
    print(
        f"{source}: {len(chunks)} chunks (batch {indexing['torch'].batch_size}), {len(queries)} queries; "
        f"load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )
    print(
        f"{'backend':<10} {'q p50 1t':>8} {'p95':>6} {'q p50 2t':>8} {'p95':>6} {'chunks/s':>8} "
        f"{'x torch':>7} {'q x torch':>9} {'cos mean':>8} {'cos min':>8} {'top10':>6} {'load s':>6} "
        f"{'start s':>7} {'torch?':>6}"
    )
    torch_p50 = p50_p95(latencies[1]["torch"])[0]
    for label in BACKENDS:
        q1, q2 = p50_p95(latencies[1][label]), p50_p95(latencies[2][label])
        docs, qs = vectors[label]
        cosines = np.concatenate([cosine_rows(docs, ref_docs), cosine_rows(qs, ref_queries)])
        load_s, start_s, torch_loaded = loads[label]
        print(
            f"{label:<10} {q1[0] * 1000:8.2f} {q1[1] * 1000:6.2f} {q2[0] * 1000:8.2f} {q2[1] * 1000:6.2f} "
            f"{len(chunks) / best[label]:8.1f} {best['torch'] / best[label]:7.2f} {torch_p50 / q1[0]:9.2f} "
            f"{cosines.mean():8.5f} {cosines.min():8.5f} {top_overlap(qs, docs, ref_queries, ref_docs):6.3f} "
            f"{load_s:6.2f} {start_s:7.2f} {str(torch_loaded):>6}"
        )
    print("built in this run: " + ", ".join(exports.values()) + "; export and quantize include their checks")
    print(
        "x torch: chunks/s over torch's; q x torch: torch's 1-thread query p50 over this one's; "
        "load s: import + build + first query in a fresh process; start s: the same from interpreter start"
    )


def compare_recipes(args: argparse.Namespace, cache: Path) -> None:
    """fp32 plain vs fused graph, then each int8 recipe on the graph the backend keeps."""
    import numpy as np

    from indexer import onnx_export
    from indexer.onnx_embedder import OnnxModel

    pairs, queries, source = corpus_texts(args.docs, args.queries)
    torch_embedder = build(BACKENDS["torch"], 2, cache)
    fp32 = build(BACKENDS["onnx fp32"], 2, cache)
    directory = cache_dir_of(cache)
    chunks = chunked(pairs, torch_embedder)
    ref = np.concatenate([torch_embedder.embed_documents(chunks), torch_embedder.embed_queries(queries)])
    meta = fp32._model.meta
    files: dict[str, Path] = {}
    st = onnx_export._load_sentence_transformer(_model_path(), eager=True)
    sample = st.tokenizer(["a first text", "a second, longer text"], padding=True, return_tensors="pt")
    with tempfile.TemporaryDirectory() as tmp:
        files["fp32 plain"] = Path(tmp) / "plain.onnx"
        onnx_export.trace(st, meta["inputs"], sample, files["fp32 plain"], meta["model_id"])
        files["fp32 fused"] = Path(tmp) / "fused.onnx"
        onnx_export.fuse(files["fp32 plain"], files["fp32 fused"], st[0].auto_model.config)
        from onnxruntime.quantization import quantize_dynamic

        for graph in ("fused", "plain"):
            for name, options in onnx_export.INT8_RECIPES.items():
                if graph == "plain" and name not in ("default", onnx_export.INT8_RECIPE):
                    continue
                files[f"int8 {name} ({graph})"] = path = Path(tmp) / f"int8-{graph}-{name}.onnx"
                with onnx_export._quiet():
                    quantize_dynamic(
                        files[f"fp32 {graph}"], path, **options, extra_options={"DefaultTensorType": 1}
                    )
        print(
            f"{source}: {len(chunks)} chunks, {len(queries)} queries; cosine to torch; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"{'variant':<58} {'cos mean':>8} {'cos min':>8} {'top10':>6} {'chunks/s 2t':>11} "
            f"{'q p50 1t ms':>11} {'MB':>5}"
        )
        for label, path in files.items():
            two, one = (OnnxModel(path, directory / "tokenizer.json", meta, t) for t in (2, 1))
            ordered = sorted(chunks, key=len, reverse=True)
            batches = [ordered[i : i + 32] for i in range(0, len(ordered), 32)]
            encode_all = lambda m=two, bs=batches: [m.encode(b) for b in bs]  # noqa: E731
            seconds = min(timed(encode_all) for _ in range(args.rounds))
            for q in queries[:5]:
                one.encode([q])
            p50 = p50_p95([timed(lambda m=one, q=q: m.encode([q])) for q in queries])[0]
            got = np.concatenate([two.encode(chunks), two.encode(queries)])
            cosines = cosine_rows(got, ref)
            n = len(chunks)
            overlap = top_overlap(got[n:], got[:n], ref[n:], ref[:n])
            print(
                f"{label:<58} {cosines.mean():8.5f} {cosines.min():8.5f} {overlap:6.3f} "
                f"{len(chunks) / seconds:11.1f} {p50 * 1000:11.2f} {path.stat().st_size / 1e6:5.1f}"
            )


def _model_path() -> str:
    from indexer.embedders import resolve_model_path

    return resolve_model_path("all-MiniLM-L6-v2")[0]


def cache_dir_of(cache: Path) -> Path:
    from indexer.onnx_embedder import cache_folder, model_folder, weights_checksum

    folder, model_id = model_folder("all-MiniLM-L6-v2")
    assert folder is not None
    return cache_folder(cache, model_id, weights_checksum(folder, cache / "onnx" / "checksums"))


# --- models through the pipeline --------------------------------------------------------------


def first_records(corpus: Path, limit: int, folder: Path) -> Path:
    """A JSONL file of the first `limit` lines of `corpus` (or `corpus` itself when no limit)."""
    if not limit or corpus.suffix != ".jsonl":
        return corpus
    sample = folder / corpus.name
    with corpus.open(encoding="utf-8") as source:
        sample.write_text("".join(islice(source, limit)), encoding="utf-8")
    return sample


def measure(model: str, corpus: Path, queries: list[str], threads: int, folder: Path) -> dict[str, float]:
    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from indexer.pipeline import Indexer

    settings = load_settings(None, {"index_dir": str(folder / model.replace("/", "_")), "model.name": model})
    started = time.perf_counter()
    embedder = create_embedder(settings.model, threads)
    embedder.embed_queries(["warm up"])  # some backends load their weights lazily
    load_s = time.perf_counter() - started
    report = Indexer(settings, embedder).rebuild([corpus])
    latencies = []
    for text in queries:
        started = time.perf_counter()
        embedder.embed_queries([text])
        latencies.append(time.perf_counter() - started)
    p50, p95 = p50_p95(latencies)
    return {
        "load_s": load_s,
        "documents": report.documents,
        "chunks": report.chunks,
        "index_s": report.seconds,
        "chunks_per_s": report.chunks / report.seconds,
        "documents_per_s": report.documents / report.seconds,
        "query_p50_ms": p50 * 1000,
        "query_p95_ms": p95 * 1000,
    }


def compare_models(args: argparse.Namespace) -> None:
    from indexer.runtime import configure_threads

    threads = configure_threads(args.threads)
    queries_file = args.queries if isinstance(args.queries, Path) else None
    queries = read_queries(queries_file, args.queries if isinstance(args.queries, int) else args.n)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = first_records(args.corpus, args.limit, Path(tmp))
        for model in args.models.split(","):
            results[model] = measure(model.strip(), corpus, queries, threads, Path(tmp))

    print(f"corpus {args.corpus}" + (f" (first {args.limit} records)" if args.limit else ""))
    print(f"threads {threads}, {len(queries)} queries embedded one at a time")
    header = f"{'model':<24} {'load s':>7} {'docs':>6} {'chunks':>7} {'index s':>8} {'chunks/s':>9}"
    print(header + f" {'docs/s':>7} {'query p50 ms':>13} {'p95 ms':>7}")
    for model, r in results.items():
        print(
            f"{model:<24} {r['load_s']:7.1f} {r['documents']:6.0f} {r['chunks']:7.0f} {r['index_s']:8.1f} "
            f"{r['chunks_per_s']:9.1f} {r['documents_per_s']:7.2f} {r['query_p50_ms']:13.1f} "
            f"{r['query_p95_ms']:7.1f}"
        )


def count_or_file(value: str) -> int | Path:
    """`--queries`: how many (backends) or a queries file (models)."""
    return int(value) if value.isdigit() else Path(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, nargs="?", help="compare models on this corpus instead")
    parser.add_argument("--docs", type=int, default=300, help="backends: first N SciFact documents")
    parser.add_argument("--queries", type=count_or_file, help="backends: N queries; models: queries file")
    parser.add_argument("--rounds", type=int, default=3, help="backends: throughput rounds (best kept)")
    parser.add_argument("--cache", type=Path, help="backends: onnx cache root (default: a fresh temp dir)")
    parser.add_argument("--recipes", action="store_true", help="compare onnx graphs and int8 recipes")
    parser.add_argument("--models", default="all-MiniLM-L6-v2,multilingual-e5-small")
    parser.add_argument("--limit", type=int, default=0, help="models: first N records of a JSONL corpus")
    parser.add_argument("-n", type=int, default=100, help="models: queries to embed per model")
    parser.add_argument("--threads", type=int, default=0, help="models: threads")
    args = parser.parse_args()
    if args.corpus is not None:
        compare_models(args)
        return
    if isinstance(args.queries, Path):
        parser.error("--queries takes a number when comparing backends")
    args.queries = args.queries or 100

    from indexer.runtime import configure_threads

    configure_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        (compare_recipes if args.recipes else compare_backends)(args, cache)


if __name__ == "__main__":
    main()
