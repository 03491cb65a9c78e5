"""ANN structures at scale: build time, memory, disk, recall and single-thread QPS against exact.

    python -m benchmarks.ann [--sizes 100000,1000000] [--dim 384] [--queries 1000] [--work DIR]
                             [--vectors BASE.npy [--query-vectors QUERIES.npy] [--grow]]
                             [--types flat,hnsw,hnswsq,ivf,ivfsq,ivfpq,ivfpq:16] [--hnsw 32:200,16:200]
                             [--build-threads 0] [--qps-seconds 8]

Every structure is built by `indexer.ann.build_index` with the default settings of its type
(tuned efSearch / nprobe included), so the figures are those a segment of that size gets.
Vectors: `--vectors` (e.g. an index's segments/*/vectors.npy, or saved embeddings) with real
queries from `--query-vectors`, or held-out rows of the same file; with `--grow`, the base is
grown from them to each size (points between real neighbours: `grown`); otherwise SYNTHETIC: a
Gaussian mixture of 4*sqrt(n) clusters of skewed sizes grouped into topics, each spread
anisotropically along its own low-dimensional subspace, with a shared mean direction and
paraphrase pairs, normalised; queries lie near stored points, never at one (`MIXTURE`: its
neighbour cosines match MiniLM's, but its clusters line up with IVF's lists, which makes it far
easier for IVF than real embeddings: docs/ann.md). The output says which.
"ivfsq" (IVF with 8-bit codes) is built here for comparison with hnswsq; the index offers hnswsq.
Per structure:
- build s: wall time of build_index with --build-threads FAISS/BLAS threads (0: all cores),
  tuning included; `tune s` is the efSearch/nprobe tuning alone;
- RAM B/vec: private memory (RssAnon) a fresh process gains by reading ann.faiss normally, per
  vector; `mmap` the same when read memory-mapped (the default), where the file's pages are
  shared page cache instead; flat has no ann.faiss: its figure is the float vectors it scans;
- disk B/vec: ann.faiss per vector (vectors.npy, 4*dim bytes a vector, is there for every type);
- R@10: recall@10 against exact, straight from the structure (search 10) and after the
  Searcher's exact re-rank ("rr 40": search 40 candidates, re-rank on the float vectors, keep
  10; "rr 160": the same from 160 candidates, i.e. search.oversample 16);
- QPS: one query at a time on ONE thread, search 40 + re-rank (the Searcher's path), and the
  ratio to exact flat's QPS (exact: a FAISS IndexFlatIP scan of the same vectors for 10).
For HNSW types a calibration table follows: per efSearch, the tuning's own measure (recall@100
of pseudo-queries made from stored vectors, `ann.pseudo_queries`) next to the queries'
recall@100 and recall@10 and QPS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

KINDS = ("flat", "hnsw", "hnswsq", "ivf", "ivfsq", "ivfpq", "ivfpq:32", "ivfpq:16")
CANDIDATES = 40  # what the Searcher asks for at k=10 (search.oversample 4)
DEEP_CANDIDATES = 160  # the same with search.oversample 16: what compressed codes may want

LOAD_PROBE = """
import sys, faiss, numpy as np
def anon():
    for line in open('/proc/self/status'):
        if line.startswith('RssAnon'):
            return int(line.split()[1]) * 1024
faiss.omp_set_num_threads(1)
flag = faiss.IO_FLAG_MMAP_IFC if sys.argv[2] == 'mmap' else 0
before = anon()
index = faiss.read_index(sys.argv[1], flag)
print(anon() - before)
"""


def rss_anon_after_load(path: Path, mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE, str(path), mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


# The mixture's shape, fitted to MiniLM embeddings of 60,000 SciFact + NFCorpus sentences by
# their neighbour cosines and local intrinsic dimension (docs/ann.md).
MIXTURE = {
    "per_cluster": 0,  # points per cluster; 0: 4*sqrt(n) clusters
    "topics": 0.1,  # topics per cluster: clusters group into topics
    "topic_spread": 0.6,  # how far a cluster's centre strays from its topic's
    "mean": 0.5,  # a direction every embedding shares (random pairs are not orthogonal)
    "rank": 12,  # directions a cluster spreads along
    "spread": 1.8,
    "noise": 0.8,  # isotropic, on top
    "paraphrase": 0.3,  # share of points that paraphrase another point
    "paraphrase_noise": 0.9,  # how far a paraphrase lies from its point
    "query_noise": 0.9,  # how far a query lies from the stored point it was drawn near
}


def synthetic(n: int, dim: int, n_queries: int, seed: int = 0, **shape: float):
    """Base vectors and queries from one clustered, anisotropic mixture (see the module doc)."""
    import numpy as np

    shape = {**MIXTURE, **shape}
    rng = np.random.default_rng(seed)
    clusters = max(16, int(n / shape["per_cluster"]) if shape["per_cluster"] else int(4 * math.sqrt(n)))
    topics = max(4, int(shape["topics"] * clusters))
    rank = min(dim, int(shape["rank"]))

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    mean = unit(rng.normal(size=dim))
    spectrum = (1.0 + np.arange(dim)) ** -0.5  # topics differ more along some axes than others
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    topic_centres = unit((rng.normal(size=(topics, dim)) * spectrum) @ rotation)
    offsets = unit((rng.normal(size=(clusters, dim)) * spectrum) @ rotation)
    centres = unit(topic_centres[rng.integers(0, topics, clusters)] + shape["topic_spread"] * offsets)
    centres += shape["mean"] * mean
    weights = rng.lognormal(0.0, 1.0, clusters)
    scales = shape["spread"] * (1.0 + np.arange(rank)) ** -0.6 / math.sqrt(rank)
    bases = unit(rng.normal(size=(clusters, rank, dim)))
    stream = np.random.default_rng(seed + 1)

    def noise(count: int, size: float) -> np.ndarray:
        return stream.standard_normal((count, dim), dtype=np.float32) * np.float32(size / math.sqrt(dim))

    label = stream.choice(clusters, size=n, p=weights / weights.sum())
    base = np.empty((n, dim), dtype=np.float32)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(clusters + 1))
    for c in range(clusters):
        rows = order[bounds[c] : bounds[c + 1]]
        z = stream.standard_normal((len(rows), rank), dtype=np.float32) * scales.astype(np.float32)
        base[rows] = centres[c] + z @ bases[c]
    for start in range(0, n, 65536):
        block = slice(start, min(n, start + 65536))
        base[block] = unit(base[block] + noise(len(base[block]), shape["noise"]))
    copies = stream.permutation(n)[: 2 * int(shape["paraphrase"] * n / 2)].reshape(2, -1)
    base[copies[1]] = unit(base[copies[0]] + noise(copies.shape[1], shape["paraphrase_noise"]))
    near = stream.choice(n, size=n_queries, replace=False)  # near stored points, never at one
    queries = unit(base[near] + noise(n_queries, shape["query_noise"]))
    return base, queries


def grown(anchors, n: int, seed: int = 0, neighbours: int = 10, noise: float = 0.5):
    """n vectors grown from real ones: each lies at a random point on the segment from a random
    anchor to one of its 10 nearest anchors, plus a little noise, normalised. The neighbourhoods
    of real embeddings carry over (IVF needs as many lists for them as for real ones, where a
    Gaussian mixture's clusters line up with the lists: docs/ann.md)."""
    import faiss
    import numpy as np

    anchors = np.ascontiguousarray(anchors, dtype=np.float32)
    _, near = faiss.knn(anchors, anchors, neighbours + 1, faiss.METRIC_INNER_PRODUCT)
    near = near[:, 1:]
    rng = np.random.default_rng(seed)
    out = np.empty((n, anchors.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        count = min(65536, n - start)
        src = rng.integers(0, len(anchors), count)
        dst = near[src, rng.integers(0, neighbours, count)]
        t = rng.random((count, 1), dtype=np.float32)
        x = anchors[src] * (1 - t) + anchors[dst] * t
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise / math.sqrt(x.shape[1]))
        out[start : start + count] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def load_data(args, n: int):
    """(base, queries, label) for size n: saved vectors when given (grown from them with
    --grow), else the cached synthetic set."""
    import numpy as np

    if args.vectors:
        saved = np.load(args.vectors, mmap_mode="r")
        if args.query_vectors:
            queries = np.load(args.query_vectors)
            queries = queries[np.sort(np.random.default_rng(0).permutation(len(queries))[: args.queries])]
            pool, about = saved, f"queries: real, {args.query_vectors}"
        else:  # held-out rows: never in the base
            rows = np.random.default_rng(0).permutation(len(saved))
            queries, pool = saved[np.sort(rows[: args.queries])], saved[np.sort(rows[args.queries :])]
            about = f"queries: {len(queries)} held-out rows"
        if args.grow:
            base = grown(pool, n)
            label = f"GROWN from {len(pool):,} real vectors ({args.vectors}) to {n:,}; {about}"
        else:
            base = pool[:n]
            label = f"real: {args.vectors} ({len(base):,} rows); {about}"
        return np.ascontiguousarray(base, np.float32), np.ascontiguousarray(queries, np.float32), label
    cache = args.work / f"synthetic-{n}x{args.dim}.npz"
    if cache.exists():
        saved = np.load(cache)
        base, queries = saved["base"], saved["queries"]
    else:
        base, queries = synthetic(n, args.dim, max(args.queries, 1000))
        np.savez(cache, base=base, queries=queries)
    label = "SYNTHETIC clustered mixture (no real embeddings given; easier for IVF than real ones)"
    return base, np.ascontiguousarray(queries[: args.queries]), label


def recall(found, truth, k: int) -> float:
    import numpy as np

    return float(np.mean([len(np.intersect1d(f[:k], t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def qps(fn, queries, seconds: float, rounds: int = 3) -> float:
    """Queries per second, one at a time: the best of `rounds` passes over as many queries as fit
    in seconds/rounds each (at least 20), so a burst from another process does not decide it."""
    fn(queries[0])  # warm
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        done = 0
        for query in queries:
            fn(query)
            done += 1
            if done >= 20 and time.perf_counter() - start > seconds / rounds:
                break
        best = max(best, done / (time.perf_counter() - start))
    return best


def build(kind: str, base, ids, settings, faiss, ann):
    """build_index, or for "ivfsq" (measured against HNSW-SQ, not a type the index offers) an
    IVF with 8-bit codes built the way build_index builds IVF, nprobe tuned the same way."""
    if kind != "ivfsq":
        return ann.build_index(base, ids, settings)[0]
    dim = base.shape[1]
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        ann._nlist(len(base), settings),
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    index.train(ann._training_sample(base, settings.train_sample))
    index.add_with_ids(base, ids)
    index.nprobe = ann.tune_nprobe(index, base, settings.ivf_target_recall)
    return index


def measure(kind: str, base, queries, truth, args, work: Path, settings, faiss, ann, np) -> dict:
    n = len(base)
    ids = np.arange(n, dtype=np.int64)
    faiss.omp_set_num_threads(args.build_threads)
    row: dict = {"kind": kind, "n": n}
    if kind == "flat":
        start = time.perf_counter()
        index = build(kind, base, ids, settings, faiss, ann)
        row["build_s"] = time.perf_counter() - start
        row["tune_s"] = 0.0
        row["ram_bpv"] = row["mmap_bpv"] = 4 * base.shape[1]  # the float vectors, nothing else
        row["disk_bpv"] = 0.0
    else:
        start = time.perf_counter()
        index = build(kind, base, ids, settings, faiss, ann)
        row["build_s"] = time.perf_counter() - start
        inner = ann._unwrapped(index)
        start = time.perf_counter()
        if isinstance(inner, faiss.IndexHNSW):
            row["tuned"] = f"efSearch {inner.hnsw.efSearch}"
            ann.tune_ef_search(inner, base, settings.hnsw_target_recall)
        else:
            row["tuned"] = f"nprobe {inner.nprobe}/{inner.nlist}"
            ann.tune_nprobe(inner, base, settings.ivf_target_recall)
        row["tune_s"] = time.perf_counter() - start
        path = work / f"{kind}-{n}.faiss"
        ann.save_index(index, path)
        row["disk_bpv"] = path.stat().st_size / n
        row["ram_bpv"] = rss_anon_after_load(path, "normal") / n
        row["mmap_bpv"] = rss_anon_after_load(path, "mmap") / n
        mapped = ann.load_index(path)
        same = ann.search_index(mapped, queries[:50], 10, settings).ids
        row["mmap_identical"] = bool((same == ann.search_index(index, queries[:50], 10, settings).ids).all())
        del mapped
        path.unlink()
    row["describe"] = ann.describe(index)
    straight = ann.search_index(index, queries, 10, settings).ids
    row["r10"] = recall(straight, truth, 10)
    for depth, key in ((CANDIDATES, "r10_rerank"), (DEEP_CANDIDATES, "r10_rerank_deep")):
        pool = ann.search_index(index, queries, depth, settings).ids
        reranked = []
        for query, candidates in zip(queries, pool, strict=True):
            candidates = candidates[candidates >= 0]
            reranked.append(candidates[np.argsort(-(base[candidates] @ query), kind="stable")[:10]])
        row[key] = recall(reranked, truth, 10)

    faiss.omp_set_num_threads(1)

    def searcher_path(query):
        hits = ann.search_index(index, query[None, :], CANDIDATES, settings).ids[0]
        hits = hits[hits >= 0]
        return hits[np.argsort(-(base[hits] @ query))[:10]]

    def exact_path(query):
        return ann.search_index(index, query[None, :], 10, settings)

    row["qps"] = qps(exact_path if kind == "flat" else searcher_path, queries, args.qps_seconds)
    if isinstance(ann._unwrapped(index), faiss.IndexHNSW):
        row["curve"] = ef_calibration(
            ann._unwrapped(index), base, queries, truth, settings, faiss, ann, np, args
        )
    return row


def ef_calibration(inner, base, queries, truth, settings, faiss, ann, np, args) -> list[dict]:
    """Per efSearch: the tuning's measure (pseudo-queries) vs the queries' recall and QPS."""
    k = min(ann.TUNING_K, len(base) - 1)
    ladder = tuple(ef for ef in ann.EF_SEARCH_LADDER if ef >= k and ef <= 512)
    faiss.omp_set_num_threads(args.build_threads)
    stored = ann.ef_recall_curve(inner, base, ann._tuning_rows(len(base)), ladder)
    out = []
    for ef, own in zip(ladder, stored, strict=True):
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef
        faiss.omp_set_num_threads(args.build_threads)
        _, found100 = inner.search(queries, k, params=params)
        params10 = faiss.SearchParametersHNSW()
        params10.efSearch = ef
        faiss.omp_set_num_threads(1)
        speed = qps(lambda q, p=params10: inner.search(q[None, :], CANDIDATES, params=p), queries, 2.0)
        out.append(
            {
                "ef": ef,
                "stored_r100": own,
                "query_r100": recall(found100, truth, k),
                "query_r10": recall(found100, truth, 10),
                "qps40": speed,
            }
        )
    return out


def print_table(rows: list[dict], flat_qps: float | None) -> None:
    head = (
        f"{'structure':<26} {'tuned':<16} {'build s':>8} {'tune s':>7} {'RAM B/v':>8} {'mmap':>6} "
        f"{'disk B/v':>8} {'R@10':>6} {'rr 40':>6} {'rr 160':>6} {'QPS':>8} {'x exact':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r['qps'] / flat_qps:8.1f}" if flat_qps else "       -"
        print(
            f"{r['label']:<26} {r.get('tuned', '-'):<16} {r['build_s']:8.1f} {r['tune_s']:7.2f} "
            f"{r['ram_bpv']:8.0f} {r['mmap_bpv']:6.0f} {r['disk_bpv']:8.0f} {r['r10']:6.4f} "
            f"{r['r10_rerank']:6.4f} {r['r10_rerank_deep']:6.4f} {r['qps']:8.0f} {ratio}"
        )
    for r in rows:
        if "curve" in r:
            print(f"\n{r['label']}: efSearch calibration (tuning = the build-time tuning's measure)")
            print(f"  {'ef':>5} {'tuning R@100':>12} {'query R@100':>11} {'query R@10':>10} {'QPS (40)':>9}")
            for c in r["curve"]:
                print(
                    f"  {c['ef']:>5} {c['stored_r100']:12.4f} {c['query_r100']:11.4f} "
                    f"{c['query_r10']:10.4f} {c['qps40']:9.0f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/semsearch-ann-bench"))
    parser.add_argument(
        "--vectors", type=Path, help="saved float32 vectors (n, dim), e.g. segments/*/vectors.npy"
    )
    parser.add_argument("--query-vectors", type=Path, help="real query vectors for --vectors")
    parser.add_argument("--grow", action="store_true", help="grow --vectors to each size (see `grown`)")
    parser.add_argument("--types", default=",".join(KINDS))
    parser.add_argument("--hnsw", default="32:200", help="HNSW M:efConstruction variants, comma-separated")
    parser.add_argument("--build-threads", type=int, default=0, help="FAISS/BLAS threads for builds (0: all)")
    parser.add_argument("--qps-seconds", type=float, default=8.0)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    args.build_threads = args.build_threads or os.cpu_count() or 1
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = str(args.build_threads)  # builds; QPS is measured with FAISS on 1 thread
    import faiss
    import numpy as np

    from indexer import ann
    from indexer.config import IndexSettings

    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        base, queries, label = load_data(args, n)
        n = len(base)
        faiss.omp_set_num_threads(args.build_threads)
        _, truth = faiss.knn(queries, base, min(ann.TUNING_K, n - 1), faiss.METRIC_INNER_PRODUCT)
        print(f"\n== n = {n:,} x {base.shape[1]}, {len(queries)} queries; vectors: {label}")
        print(
            f"   builds on {args.build_threads} threads (FAISS + BLAS), QPS on 1 thread, one query at a "
            f"time; RAM = RssAnon gained by reading ann.faiss (mmap: read memory-mapped, the default)",
            flush=True,
        )
        rows = []
        variants = [(int(m), int(e)) for m, e in (v.split(":") for v in args.hnsw.split(","))]
        for token in args.types.split(","):
            kind, _, pq_m = token.partition(":")  # ivfpq:16 = IVF-PQ with 16-byte codes
            for m, efc in variants if kind == "hnsw" else [(32, 200)]:
                settings = IndexSettings(
                    type="ivf" if kind == "ivfsq" else kind,
                    hnsw_m=m,
                    hnsw_ef_construction=efc,
                    pq_m=int(pq_m or IndexSettings().pq_m),
                )
                row = measure(kind, base, queries, truth, args, args.work, settings, faiss, ann, np)
                row["label"] = f"{kind} M{m} efC{efc}" if kind.startswith("hnsw") else kind
                if kind == "ivfpq":
                    row["label"] = f"ivfpq pq_m {ann._pq_m(base.shape[1], settings.pq_m)}"
                rows.append(row)
                if args.json:
                    args.json.write_text(
                        json.dumps([*results, {"n": n, "vectors": label, "rows": rows}], indent=1)
                    )
                print(
                    f"   {row['label']}: {row['describe']}, built in {row['build_s']:.1f} s, "
                    f"R@10 {row['r10']:.4f} / re-ranked {row['r10_rerank']:.4f}, {row['qps']:.0f} QPS",
                    flush=True,
                )
        flat = next((r["qps"] for r in rows if r["kind"] == "flat"), None)
        print()
        print_table(rows, flat)
        results.append({"n": n, "vectors": label, "rows": rows})
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        del base


if __name__ == "__main__":
    main()
