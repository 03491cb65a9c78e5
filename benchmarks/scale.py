"""The growing index at scale: what an update costs on a large index, and what segments cost.

    python -m benchmarks.scale [--records 1000000] [--work DIR] [--queries 200]

EMBEDDING IS NOT REAL: every chunk is embedded by the hashing fake (384-d), so the figures are
those of everything else: reading, chunking, the SQLite catalog and FTS5, staging, FAISS
segments (HNSW above 50k vectors), publishing and merging. Steps, each a `semsearch` process
whose wall time, peak RSS and bytes written (write() calls, /proc/self/io) are printed:
  1. stream a JSONL of N one-chunk records into a new index with the default settings;
  2. add 1, 100 and 10,000 documents and delete 100, each as `semsearch index` of a folder,
     bytes written against the size of the index;
  3. compact to one segment (its time and peak RSS);
  4. search p50 per mode with 1 segment, then with the same vectors cut into 10 and 50
     segments (built in this process through the VectorIndex seam: the catalog and keyword
     index do not depend on how the vectors are segmented).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.query_latency import p50_p95

MODEL = "hashing-384"
VOCAB = [f"w{i:05d}" for i in range(20_000)]
CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCAB))))  # Zipf

CHILD = """
import json, resource, sys, time
from semsearch.cli import main
started = time.perf_counter()
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines() if line)
print("MEASURED " + json.dumps({"code": code, "seconds": time.perf_counter() - started,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "wchar": int(io["wchar"]), "write_bytes": int(io["write_bytes"])}))
"""


def synth(path: Path, start: int, count: int, rng: random.Random) -> Path:
    """`count` records of 30 Zipf-distributed words (one chunk each with the hashing model)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(start, start + count):
            words = rng.choices(VOCAB, cum_weights=CUMULATIVE, k=30)
            record = {"_id": f"r{i}", "title": " ".join(words[:3]), "text": " ".join(words)}
            handle.write(json.dumps(record) + "\n")
    return path


def write_config(path: Path, index_dir: Path, **index: int) -> Path:
    path.write_text(json.dumps({"index_dir": str(index_dir), "index": index}), encoding="utf-8")
    return path


def semsearch(config: Path, *args: str) -> dict[str, float]:
    """Run one CLI command in a fresh process; its measurements and its report line."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "--config",
            str(config),
            *(() if args[0] == "compact" else ("--model", MODEL)),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    measured = [line for line in proc.stdout.splitlines() if line.startswith("MEASURED ")]
    if proc.returncode or not measured or json.loads(measured[-1][9:])["code"]:
        sys.exit(f"semsearch {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(measured[-1][9:])
    result["report"] = next(
        (line for line in proc.stdout.splitlines() if line.startswith(("published", "unchanged"))), ""
    )
    return result


def index_bytes(index_dir: Path) -> int:
    from indexer.layout import IndexLayout

    layout = IndexLayout(index_dir)
    return layout.size_on_disk(layout.current())


def search_p50(index_dir: Path, queries: list[str], segments: int | None = None) -> dict[str, float]:
    """Search p50 in ms per mode, in this process, through the SearchService; `segments`
    re-cuts the live vectors into that many segments first."""
    from dataclasses import replace

    from indexer.config import load_settings
    from indexer.embedders import create_embedder
    from search.searcher import Searcher
    from search.service import SearchService

    settings = load_settings(None, {"index_dir": str(index_dir), "model.name": MODEL})
    service = SearchService.open(settings, create_embedder(settings.model))
    scratch = None
    if segments:
        snapshot = service.searcher().index
        scratch = Path(tempfile.mkdtemp(prefix="segments-", dir=index_dir.parent))
        started = time.perf_counter()
        cut = resegment(snapshot.vectors, segments, scratch, settings)
        print(f"cut into {segments} segments ({cut.describe()}) in {time.perf_counter() - started:.0f} s")
        searcher = Searcher(replace(snapshot, vectors=cut), service.embedder, settings)
    else:
        searcher = service.searcher()
    out = {}
    try:
        count = len(searcher.index.vectors.segments)
        for mode in ("semantic", "keyword", "hybrid"):
            requests = [service.request(q, k=10, mode=mode) for q in queries]
            searcher.search(requests[0])  # warm the caches
            times = []
            for request in requests:
                started = time.perf_counter()
                searcher.search(request)
                times.append((time.perf_counter() - started) * 1000)
            out[mode] = round(p50_p95(times)[0], 2)
    finally:
        service.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"search p50 with {count:>2} segments: " + ", ".join(f"{m} {v:.2f} ms" for m, v in out.items()))
    return out


def resegment(vectors, segments: int, folder: Path, settings):  # noqa: ANN001, ANN201
    """The same live vectors as `segments` segments of (nearly) equal size."""
    import numpy as np

    from indexer.vector_index import FaissVectorIndex, write_segment

    whole = vectors.rebuilt_as("flat").segments[0]
    bounds = np.linspace(0, len(whole.ids), segments + 1).astype(int)
    parts = [
        write_segment(folder / f"s{i:03d}", whole.ids[a:b], whole.vectors[a:b], settings.index)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]
    return FaissVectorIndex(folder, parts, vectors.dim, settings.index)


def line(label: str, result: dict[str, float], size: int | None = None) -> None:
    share = f", {100 * result['wchar'] / size:.3f}% of the index's {size / 1e6:.0f} MB" if size else ""
    print(
        f"{label:<28} {result['seconds']:8.2f} s  peak RSS {result['rss_mb']:7.0f} MB  "
        f"wrote {result['wchar'] / 1e6:9.2f} MB{share}"
    )
    if result.get("report"):
        print(f"{'':<28} {result['report']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    from indexer.runtime import configure_threads

    configure_threads(1, serving_queries=True)  # searches here run as `serve` runs them
    work = args.work or Path(tempfile.mkdtemp(prefix="semsearch-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    rng = random.Random(7)
    n = args.records
    print(f"EMBEDDING IS NOT REAL: {MODEL} hashing fake; {n:,} one-chunk records; work dir {work}")
    started = time.perf_counter()
    base = synth(work / "base" / "records.jsonl", 0, n, rng)
    print(f"synthesised {base.stat().st_size / 1e6:.0f} MB of JSONL in {time.perf_counter() - started:.0f} s")
    queries = [" ".join(rng.choices(VOCAB, cum_weights=CUMULATIVE, k=3)) for _ in range(args.queries)]

    defaults = write_config(work / "defaults.json", index_dir)
    result = semsearch(defaults, "index", str(base.parent))
    line("stream + index N records", result)
    print(f"{'':<28} index size {index_bytes(index_dir) / 1e6:.0f} MB; peak RSS goal < 2048 MB")

    for count in (1, 100, 10_000):
        folder = work / f"add{count}"
        for part in range(max(1, count // 100)):
            synth(folder / f"part{part:03d}.jsonl", n + count * 1000 + part * 100, min(count, 100), rng)
        result = semsearch(defaults, "index", str(folder))
        line(f"add {count:,} documents", result, index_bytes(index_dir))
    (work / "add10000" / "part000.jsonl").unlink()
    line("delete 100 documents", semsearch(defaults, "index", str(work / "add10000")), index_bytes(index_dir))

    one = write_config(work / "one.json", index_dir, segment_max_vectors=n + 20_000)
    line("compact -> 1 segment", semsearch(one, "compact"))
    for segments in (None, 10, 50):
        search_p50(index_dir, queries, segments)
    print(f"parent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
