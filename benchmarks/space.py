"""What the embedding-space tools cost: topics, the map and near-duplicates, on SciFact and on a
100,000-vector synthetic set.

    python -m benchmarks.space                      # both; SciFact indexed with MiniLM first if needed
    python -m benchmarks.space --model hashing-384  # SciFact with the hashing fake (no model)
    python -m benchmarks.space --skip-scifact --synthetic 100000

SciFact (shared/data/scifact, 5,183 abstracts) runs end to end on a real index: document vectors
from the segments, topics (k chosen by silhouette, k-means, c-TF-IDF names over the chunk texts
from the catalog), the PCA map, duplicates and outliers, as `semsearch topics/duplicates/outliers`
run them. The synthetic set has 100,000 unit vectors (384-d) around 20 centres, 1% of them planted
near-copies of another vector, and 80-word texts drawn from each centre's own vocabulary; it
exercises the same functions on arrays (no index), so it shows how they scale and whether they
find what was planted (topic purity, duplicate recall).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from indexer.runtime import configure_threads

T = TypeVar("T")
CENTRES = 20
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def timed(label: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    print(f"  {label:<44} {time.perf_counter() - started:8.2f} s", flush=True)
    return result


def scifact(index_dir: Path, model: str, threads: int) -> None:
    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from indexer.layout import IndexLayout
    from indexer.pipeline import Indexer
    from indexer.snapshot import IndexSnapshot
    from search.space.atlas import compute_atlas
    from search.space.explore import find_duplicates, find_outliers

    settings = load_settings(None, {"index_dir": str(index_dir), "model.name": model})
    if IndexLayout(index_dir).current_or_none() is None:
        print(f"indexing {SCIFACT / 'corpus.jsonl'} with {model} into {index_dir} (not part of the figures)")
        embedder = create_embedder(settings.model, threads)
        report = Indexer(settings, embedder).index([SCIFACT / "corpus.jsonl"])
        print(f"  {report.documents} documents, {report.chunks} chunks in {report.seconds:.0f} s")
    index = IndexSnapshot.open(index_dir)
    try:
        manifest = index.manifest
        print(
            f"SciFact: {manifest.documents} documents, {manifest.chunks} chunks, {manifest.embedder.model_id}"
        )
        atlas = timed("topics + map (atlas, k chosen)", lambda: compute_atlas(index))
        for stage, seconds in atlas.data["seconds"].items():
            print(f"    {stage:<42} {seconds:8.2f} s")
        print(f"    {atlas.data['k_reason']}")
        for topic in atlas.data["topics"][:8]:
            print(f"    [{topic['size']:>4}] {', '.join(topic['terms'])}")
        timed("topics with k=20 given", lambda: compute_atlas(index, 20))
        dups = timed("duplicates (threshold 0.95)", lambda: find_duplicates(index, 0.95))
        print(f"    {dups['groups_found']} groups, {dups['documents_in_groups']} documents; {dups['method']}")
        outliers = timed("outliers", lambda: find_outliers(index, atlas))
        print(f"    {outliers['outliers']} outliers at both z >= {outliers['min_z']}")
    finally:
        index.close()


def synthetic_set(n: int, dim: int, centres: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit vectors, true centre of each, rows that are planted near-copies of row `copies[i]`)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (centres, dim)).astype(np.float32)
    truth = rng.integers(0, centres, n)
    vectors = means[truth] + rng.normal(0, 1.1, (n, dim)).astype(np.float32)
    planted = rng.choice(n, size=n // 100, replace=False)
    sources = rng.integers(0, n, len(planted))
    keep = planted != sources
    planted, sources = planted[keep], sources[keep]
    vectors[planted] = vectors[sources] + rng.normal(0, 0.02, (len(planted), dim)).astype(np.float32)
    truth[planted] = truth[sources]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, truth, np.stack([planted, sources], axis=1)


def synthetic_texts(truth: np.ndarray, seed: int = 7) -> Iterator[tuple[int, str]]:
    """80 words per row: half from its centre's 40-word vocabulary, half from a shared one."""
    rng = random.Random(seed)
    shared = [f"common{i}" for i in range(2000)]
    for row, centre in enumerate(truth.tolist()):
        own = [f"topic{centre}word{i}" for i in range(40)]
        yield row, " ".join(rng.choices(own, k=40) + rng.choices(shared, k=40))


def synthetic(n: int) -> None:
    from search.space.neighbours import duplicate_pairs, isolation, nearest, union_find_groups
    from search.space.projection import pca_2d
    from search.space.topics import choose_k, kmeans, topic_terms

    vectors, truth, planted = timed(f"make {n:,} synthetic vectors", lambda: synthetic_set(n, 384, CENTRES))
    print(f"synthetic: {n:,} vectors, 384-d, {CENTRES} centres, {len(planted):,} planted near-copies")
    k, reason = timed("choose k (silhouette on a 2,000 sample)", lambda: choose_k(vectors))
    print(f"    {reason}")
    labels, centroids = timed(f"k-means, k={k}", lambda: kmeans(vectors, k))
    purity = sum(np.bincount(truth[labels == t]).max() for t in range(k) if (labels == t).any()) / n
    print(f"    purity against the {CENTRES} centres: {purity:.3f}")
    names = timed(f"c-TF-IDF names over {n:,} texts", lambda: topic_terms(synthetic_texts(truth), labels, k))
    print(f"    e.g. {', '.join(names[0][:4])}")
    timed("PCA map", lambda: pca_2d(vectors))
    neighbours = timed("10 nearest of each (HNSW)", lambda: nearest(vectors, 10))
    pairs = timed("duplicate pairs >= 0.95 + union-find", lambda: duplicate_pairs(neighbours, 0.95))
    groups = union_find_groups(n, [(a, b) for a, b, _ in pairs])
    found = {(min(a, b), max(a, b)) for a, b, _ in pairs}
    # a planted copy whose source was itself overwritten by a later plant is no copy: the truth
    # is the planted pairs whose exact cosine reaches the threshold
    exact = np.einsum("ij,ij->i", vectors[planted[:, 0]], vectors[planted[:, 1]])
    truth = [(min(a, b), max(a, b)) for (a, b), c in zip(planted.tolist(), exact, strict=True) if c >= 0.95]
    recall = np.mean([pair in found for pair in truth])
    print(f"    {len(pairs):,} pairs, {len(groups):,} groups; planted: {len(truth):,}, recall {recall:.3f}")
    timed("outliers (isolation scores)", lambda: isolation(vectors, centroids, neighbours))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--scifact-index", type=Path, default=None, help="reuse (or build) the index here")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument(
        "--synthetic", type=int, default=100_000, help="vectors in the synthetic set (0: skip)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    print(f"threads: {threads}")
    if not args.skip_scifact:
        scratch = None
        index_dir = args.scifact_index
        if index_dir is None:
            scratch = Path(tempfile.mkdtemp(prefix="space-bench-"))
            index_dir = scratch / "index"
        try:
            scifact(index_dir, args.model, threads)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    if args.synthetic:
        synthetic(args.synthetic)


if __name__ == "__main__":
    main()
